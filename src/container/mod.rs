//! The file format: the one home of the byte layout.
//!
//! A file is a member: a header (magic, version, the coding configuration) and chunk
//! records. Version 2 ([`v2`]) is what this build writes; version 1 ([`v1`]) files are
//! read forever. Both are read through [`MemberReader`], which checks and bounds every
//! field before it is used and hands the codec the same [`Header`] and [`Record`]s.

pub mod v1;
pub mod v2;

use std::io::Read;

use crate::error::{Error, Field, FormatError};
use crate::inference::{FitConfig, MAX_ITERATIONS, MAX_SAMPLES};
use crate::model::{Coding, ModelConfig};
use crate::wire::{check_range, StreamReader};

/// The three bytes every bbcodec file starts with ("BBC").
pub const MAGIC: [u8; 3] = *b"BBC";
/// Format version written by this build.
pub const VERSION: u8 = 2;
/// Largest block size a file may declare.
pub const MAX_BLOCK_SIZE: u32 = 1 << 20;
/// Largest chunk a file may declare (bounds every allocation of the decoder).
pub const MAX_CHUNK_SIZE: u32 = 1 << 26;
/// Largest parameter section of a chunk.
pub const MAX_PARAMS_BYTES: u32 = 1 << 16;

/// Whether `first` (a file's first four bytes) starts a member this build reads: the
/// magic and a known version.
pub fn is_member_start(first: &[u8; 4]) -> bool {
    first[..3] == MAGIC && (first[3] == VERSION || first[3] == v1::VERSION_MARK)
}

/// The decoded file header: everything the decoder needs to re-run the fits.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// Format version of the file (1 or 2).
    pub version: u8,
    /// The model, configured.
    pub model: ModelConfig,
    /// Posterior fit and block size.
    pub coding: Coding,
    /// The encoder's level (only 0 exists yet).
    pub level: u32,
    /// Bytes per chunk as the encoder was told (stored by version 1 only; a version 2
    /// decoder needs only each chunk's own length).
    pub chunk_size: Option<u32>,
}

/// One ANS segment of a coded chunk: a run of blocks on one stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Chunk-start blocks (coded without bits back, see [`crate::chain`]).
    pub bootstrap_blocks: u32,
    /// Blocks in the segment.
    pub blocks: u32,
    /// The stack's words.
    pub words: Vec<u32>,
}

/// One chunk record as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A bits-back coded chunk.
    Coded {
        /// Original length.
        len: u32,
        /// CRC-32 of the original bytes.
        crc: u32,
        /// Serialized model parameters.
        params: Vec<u8>,
        /// The chunk's ANS segments, in file order.
        segments: Vec<Segment>,
    },
    /// A chunk stored as is.
    Raw {
        /// CRC-32 of the bytes.
        crc: u32,
        /// The bytes.
        data: Vec<u8>,
    },
}

impl Record {
    /// Original length.
    pub fn len(&self) -> u32 {
        match self {
            Record::Coded { len, .. } => *len,
            Record::Raw { data, .. } => data.len() as u32,
        }
    }

    /// True for a record of no bytes (never stored).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Check the chain's fields and the model's (used by the encoder's options and by
/// both readers).
pub fn validate(
    model: &ModelConfig,
    coding: &Coding,
    chunk_size: Option<u32>,
    level: u32,
) -> Result<(), FormatError> {
    check_range(
        Field::BlockSize,
        coding.block_size as u64,
        1,
        MAX_BLOCK_SIZE as u64,
    )?;
    if let Some(c) = chunk_size {
        check_range(Field::ChunkSize, c as u64, 0, MAX_CHUNK_SIZE as u64)?;
        if c < coding.block_size {
            return Err(FormatError::TooSmall {
                field: Field::ChunkSize,
                got: c as u64,
                min: coding.block_size as u64,
            });
        }
    }
    validate_fit(&coding.fit)?;
    check_range(Field::Level, level as u64, 0, 0)?;
    model.model().validate(coding, chunk_size)
}

fn validate_fit(fit: &FitConfig) -> Result<(), FormatError> {
    check_range(
        Field::Iterations,
        fit.iterations as u64,
        0,
        MAX_ITERATIONS as u64,
    )?;
    check_range(Field::Samples, fit.samples as u64, 0, MAX_SAMPLES as u64)?;
    let lr = fit.learning_rate;
    if !(lr.is_finite() && lr > 0.0 && lr <= 100.0) {
        return Err(FormatError::Invalid {
            field: Field::LearningRate,
            got: lr.to_bits() as u64,
        });
    }
    Ok(())
}

/// The model configuration a file of `kind` starts from: the caller's, if it gave one
/// for that kind (it supplies what the file cannot carry, e.g. weights), else the
/// kind's default.
fn base_model(kind: crate::model::ModelKind, models: &[ModelConfig]) -> ModelConfig {
    models
        .iter()
        .find(|m| m.kind() == kind)
        .cloned()
        .unwrap_or_else(|| kind.default_config())
}

/// What a record reader found next.
#[derive(Debug)]
pub enum Next {
    /// A chunk record, and whether it is the member's last.
    Record(Record, bool),
    /// The end of the member, with its stored total length and content CRC if any.
    End(Option<(u64, u32)>),
}

/// Reads one member: its header, then its records, with every field checked.
pub struct MemberReader<'r, R: Read> {
    input: StreamReader<'r, R>,
    header: Header,
    chunks: u64,
    done: bool,
    end: Option<(u64, u32)>,
}

impl<'r, R: Read> MemberReader<'r, R> {
    /// Read and check the header. `models` supply what files of their kind cannot carry
    /// (e.g. the mnist model's weights).
    pub fn new(input: &'r mut R, models: &[ModelConfig]) -> Result<Self, Error> {
        let mut input = StreamReader::new(input);
        let magic = input.bytes(4, Field::FileHeader)?;
        let got = [magic[0], magic[1], magic[2], magic[3]];
        if got[..3] != MAGIC {
            return Err(FormatError::BadMagic {
                got,
                expected: [MAGIC[0], MAGIC[1], MAGIC[2], VERSION],
            }
            .into());
        }
        let header = match got[3] {
            v1::VERSION_MARK => v1::read_header(&mut input, models)?,
            VERSION => v2::read_header(&mut input, models)?,
            v => return Err(FormatError::Version { got: v }.into()),
        };
        input.stop_recording();
        Ok(Self {
            input,
            header,
            chunks: 0,
            done: false,
            end: None,
        })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next chunk record, or `None` after the last.
    pub fn next_record(&mut self) -> Result<Option<Record>, Error> {
        if self.done {
            return Ok(None);
        }
        let r = match self.header.version {
            1 => v1::read_record(&mut self.input, &self.header)?,
            _ => v2::read_record(&mut self.input, &self.header, self.chunks)?,
        };
        match r {
            Next::Record(rec, last) => {
                self.chunks += 1;
                if last {
                    self.done = true;
                    if self.chunks > 1 {
                        self.end = Some(v2::read_end(&mut self.input)?);
                    }
                }
                Ok(Some(rec))
            }
            Next::End(end) => {
                self.done = true;
                self.end = end;
                Ok(None)
            }
        }
    }

    /// After the last record: the stored total length and content CRC, or `None` for
    /// a version 2 member of one chunk (whose chunk CRC is the content's).
    pub fn end(&self) -> Option<(u64, u32)> {
        self.end
    }

    /// The underlying stream, to check that nothing follows the member.
    pub fn into_inner(self) -> StreamReader<'r, R> {
        self.input
    }
}
