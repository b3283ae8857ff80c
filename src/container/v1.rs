//! Format version 1, read only: files written before version 2 decode forever.
//!
//! All integers are little endian.
//!
//! **File header** (44 bytes):
//!
//! | offset | size | field                                                          |
//! |--------|------|----------------------------------------------------------------|
//! | 0      | 4    | magic `42 42 43 64` ("BBCd")                                   |
//! | 4      | 1    | format version (1)                                             |
//! | 5      | 1    | model kind (0 = mixture, 1 = logistic, 2 = mnist image model)  |
//! | 6      | 1    | posterior (0 = bbvi, 1 = exact, 2 = map)                       |
//! | 7      | 1    | estimator (0 = score, 1 = score-eq8, 2 = naive, 3 = reparam, 4 = gumbel) |
//! | 8      | 4    | block size in symbols (1..=2^20)                               |
//! | 12     | 4    | chunk size in bytes (block size..=2^26)                        |
//! | 16     | 4    | BBVI iterations (<= 4096)                                      |
//! | 20     | 4    | BBVI samples per iteration (<= 256)                            |
//! | 24     | 4    | BBVI learning rate (f32 bits; finite, in (0, 100])             |
//! | 28     | 4    | the model's fields: mixture: largest component count tried, fixed count (0 = by size), 0, 0; logistic and mnist: 0, 0, latent dimension, bits per bin index |
//! | 32     | 8    | seed of the posterior fits                                     |
//! | 40     | 4    | CRC-32 of bytes 0..40                                          |
//!
//! Then **chunk records**, each:
//!
//! | size | field                                                                  |
//! |------|------------------------------------------------------------------------|
//! | 1    | tag: 1 = coded, 2 = raw, 0xFF = end record (see below)                 |
//! | 4    | original length n (1..=chunk size)                                     |
//! | 4    | CRC-32 of the original n bytes                                         |
//! | 4    | payload length m (raw: m = n; coded: 8 <= m <= n + 8 + 2^16)           |
//! | m    | payload                                                                |
//!
//! A coded payload is: `u32` length p of the model parameters (<= 2^16), p bytes of
//! parameters (the mnist model: the 64-bit hash of its weights), `u32` number of
//! chunk-start blocks, then the ANS stack as `u32` words (`(m - 8 - p)` a multiple of 4).
//!
//! **End record**: tag 0xFF, `u64` total original length, `u32` CRC-32 of the whole
//! original content. Nothing may follow it.

use std::io::Read;

use super::{base_model, validate, Header, Next, Record, Segment, MAX_PARAMS_BYTES};
use crate::error::{Error, Field, FormatError};
use crate::inference::{Estimator, FitConfig, PosteriorKind};
use crate::model::{Coding, ModelConfig, ModelKind};
use crate::wire::{check_crc, crc32, StreamReader};

/// The fourth magic byte of a version 1 file ('d'); the version byte 1 follows it.
pub const VERSION_MARK: u8 = b'd';
/// Size of the version 1 file header in bytes.
pub const HEADER_BYTES: usize = 44;

const TAG_CODED: u8 = 1;
const TAG_RAW: u8 = 2;
const TAG_END: u8 = 0xFF;

/// Read a version 1 header after its four magic bytes.
pub fn read_header<R: Read>(
    input: &mut StreamReader<'_, R>,
    models: &[ModelConfig],
) -> Result<Header, Error> {
    input.bytes(HEADER_BYTES - 4, Field::FileHeader)?;
    let b = input.take_seen();
    if b[4] != 1 {
        return Err(FormatError::Version { got: b[4] }.into());
    }
    let stored = u32::from_le_bytes([b[40], b[41], b[42], b[43]]);
    check_crc(Field::FileHeader, stored, crc32(&b[..40]))?;
    let kind = ModelKind::from_code(b[5] as u64).ok_or(FormatError::Invalid {
        field: Field::ModelKind,
        got: b[5] as u64,
    })?;
    let posterior = match b[6] {
        0 => PosteriorKind::Bbvi(Estimator::from_code(b[7]).ok_or(FormatError::Invalid {
            field: Field::Estimator,
            got: b[7] as u64,
        })?),
        1 => PosteriorKind::Exact,
        2 => PosteriorKind::Map,
        p => {
            return Err(FormatError::Invalid {
                field: Field::Posterior,
                got: p as u64,
            }
            .into())
        }
    };
    let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let coding = Coding {
        fit: FitConfig {
            posterior,
            iterations: u32_at(16),
            samples: u32_at(20),
            learning_rate: f32::from_bits(u32_at(24)),
            seed: u64::from_le_bytes(b[32..40].try_into().expect("8 bytes")),
        },
        block_size: u32_at(8),
        iwae_samples: 0,
    };
    let mut model = base_model(kind, models);
    model
        .model_mut()
        .read_v1_config([b[28], b[29], b[30], b[31]])?;
    let chunk_size = u32_at(12);
    validate(&model, &coding, Some(chunk_size), 0)?;
    Ok(Header {
        version: 1,
        model,
        coding,
        level: 0,
        chunk_size: Some(chunk_size),
    })
}

/// Read the next version 1 record, checking every size against `header`.
pub fn read_record<R: Read>(
    input: &mut StreamReader<'_, R>,
    header: &Header,
) -> Result<Next, Error> {
    let tag = input.bytes(1, Field::ChunkRecord)?[0];
    if tag == TAG_END {
        let b = input.bytes(12, Field::EndRecord)?;
        return Ok(Next::End(Some((
            u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
            u32::from_le_bytes(b[8..].try_into().expect("4 bytes")),
        ))));
    }
    if tag != TAG_CODED && tag != TAG_RAW {
        return Err(FormatError::Invalid {
            field: Field::ChunkRecord,
            got: tag as u64,
        }
        .into());
    }
    let len = input.u32(Field::ChunkRecord)?;
    let crc = input.u32(Field::ChunkRecord)?;
    let m = input.u32(Field::ChunkRecord)?;
    if len == 0 {
        return Err(FormatError::Invalid {
            field: Field::ChunkLength,
            got: 0,
        }
        .into());
    }
    let chunk_size = header.chunk_size.unwrap_or(super::MAX_CHUNK_SIZE);
    if len > chunk_size {
        return Err(FormatError::Limit {
            field: Field::ChunkLength,
            got: len as u64,
            max: chunk_size as u64,
        }
        .into());
    }
    if tag == TAG_RAW {
        if m != len {
            return Err(FormatError::Invalid {
                field: Field::ChunkPayload,
                got: m as u64,
            }
            .into());
        }
        let data = input.bytes(len as usize, Field::ChunkPayload)?;
        return Ok(Next::Record(Record::Raw { crc, data }, false));
    }
    let max_m = len as u64 + 8 + MAX_PARAMS_BYTES as u64;
    if m as u64 > max_m || m < 8 {
        return Err(FormatError::Limit {
            field: Field::ChunkPayload,
            got: m as u64,
            max: max_m,
        }
        .into());
    }
    let p = input.u32(Field::Parameters)?;
    if p > MAX_PARAMS_BYTES || p > m - 8 || (m - 8 - p) % 4 != 0 {
        return Err(FormatError::Invalid {
            field: Field::Parameters,
            got: p as u64,
        }
        .into());
    }
    let params = input.bytes(p as usize, Field::Parameters)?;
    let params = header.model.model().v1_chunk_params(params)?;
    let bootstrap_blocks = input.u32(Field::BootstrapBlocks)?;
    let raw = input.bytes((m - 8 - p) as usize, Field::Words)?;
    let words = raw
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Next::Record(
        Record::Coded {
            len,
            crc,
            params,
            segments: vec![Segment {
                bootstrap_blocks,
                blocks: (len as u64).div_ceil(header.coding.block_size.max(1) as u64) as u32,
                words,
            }],
        },
        false,
    ))
}
