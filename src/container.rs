//! The file format, version 1: the one home of the byte layout.
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
//! | 7      | 1    | estimator (0 = score, 1 = score-eq8, 2 = naive, 3 = reparam)   |
//! | 8      | 4    | block size in symbols (1..=2^20)                               |
//! | 12     | 4    | chunk size in bytes (block size..=2^26)                        |
//! | 16     | 4    | BBVI iterations (<= 4096)                                      |
//! | 20     | 4    | BBVI samples per iteration (2..=256)                           |
//! | 24     | 4    | BBVI learning rate (f32 bits; finite, in (0, 100])             |
//! | 28     | 1    | largest number of mixture components tried (1..=64)            |
//! | 29     | 1    | fixed number of components (0 = chosen by size)                |
//! | 30     | 1    | latent dimension (logistic: 1..=32; mnist: 1..=64; mixture: 0) |
//! | 31     | 1    | bits per latent bin index (logistic: 2..=16; mixture: 0)       |
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
//! | 4    | payload length m (raw: m = n; coded: m <= n + 2^16)                    |
//! | m    | payload                                                                |
//!
//! A coded payload is: `u32` length p of the model parameters (<= 2^16), p bytes of
//! parameters (see [`crate::model::mixture`]), `u32` number of chunk-start blocks
//! (coded without bits back, see [`crate::chain`]), then the ANS stack as `u32` words
//! (`(m - 8 - p)` must be a multiple of 4).
//!
//! **End record**: tag 0xFF, `u64` total original length, `u32` CRC-32 of the whole
//! original content. Nothing may follow it.

use std::io::{self, Read, Write};

use byteorder::{LittleEndian, WriteBytesExt};

use crate::error::{Error, FormatError};
use crate::inference::{Estimator, FitConfig, PosteriorKind, MAX_ITERATIONS, MAX_SAMPLES};
use crate::model::mixture::MAX_COMPONENTS;

/// Magic bytes at the start of every file.
pub const MAGIC: [u8; 4] = *b"BBCd";
/// Format version written by this build.
pub const VERSION: u8 = 1;
/// Size of the file header in bytes.
pub const HEADER_BYTES: usize = 44;
/// Largest block size a file may declare.
pub const MAX_BLOCK_SIZE: u32 = 1 << 20;
/// Largest chunk size a file may declare (bounds every allocation of the decoder).
pub const MAX_CHUNK_SIZE: u32 = 1 << 26;
/// Largest parameter section of a chunk.
pub const MAX_PARAMS_BYTES: u32 = 1 << 16;
/// Largest BBVI work per symbol, `iterations * samples / block_size` (bounds decode time).
pub const MAX_WORK_PER_SYMBOL: u64 = 256;

/// Tag of a coded chunk record.
pub const TAG_CODED: u8 = 1;
/// Tag of a raw chunk record.
pub const TAG_RAW: u8 = 2;
/// Tag of the end record.
pub const TAG_END: u8 = 0xFF;
/// Bytes of a chunk record's header (tag, n, crc, m).
pub const CHUNK_HEADER_BYTES: usize = 13;
/// Bytes of the end record.
pub const END_BYTES: usize = 13;

/// Which latent-variable model a file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ModelKind {
    /// Mixture of K categoricals over blocks of bytes.
    Mixture,
    /// Continuous latent, bytes i.i.d. given it with `softmax(b + W z)`.
    Logistic,
    /// The trained 28x28 image model ([`crate::model::image`]) over IDX image files.
    Mnist,
}

impl ModelKind {
    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mixture => "mixture",
            ModelKind::Logistic => "logistic",
            ModelKind::Mnist => "mnist",
        }
    }
    /// Parse a name.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "mixture" => Some(ModelKind::Mixture),
            "logistic" => Some(ModelKind::Logistic),
            "mnist" => Some(ModelKind::Mnist),
            _ => None,
        }
    }
    /// Byte used in the container.
    pub fn code(self) -> u8 {
        match self {
            ModelKind::Mixture => 0,
            ModelKind::Logistic => 1,
            ModelKind::Mnist => 2,
        }
    }
}

/// The decoded file header: everything the decoder needs to re-run the fits.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// Model kind.
    pub model: ModelKind,
    /// Posterior fit configuration (including the seed).
    pub fit: FitConfig,
    /// Symbols per block.
    pub block_size: u32,
    /// Bytes per chunk.
    pub chunk_size: u32,
    /// Largest number of mixture components tried.
    pub max_components: u8,
    /// Fixed number of components (0 = chosen by size).
    pub fixed_components: u8,
    /// Latent dimension (continuous models; 0 for the mixture).
    pub latent_dim: u8,
    /// Bits per latent bin index (continuous models; 0 for the mixture).
    pub bin_bits: u8,
}

fn posterior_code(p: PosteriorKind) -> (u8, u8) {
    match p {
        PosteriorKind::Bbvi(e) => (0, e.code()),
        PosteriorKind::Exact => (1, 0),
        PosteriorKind::Map => (2, 0),
    }
}

impl Header {
    /// Check every field against its limit (used by both writer and reader).
    pub fn validate(&self) -> Result<(), FormatError> {
        let limit = |what, got: u64, max: u64| {
            if got > max {
                Err(FormatError::Limit { what, got, max })
            } else {
                Ok(())
            }
        };
        if self.block_size == 0 {
            return Err(FormatError::Invalid {
                what: "block size",
                got: 0,
            });
        }
        limit("block size", self.block_size as u64, MAX_BLOCK_SIZE as u64)?;
        limit("chunk size", self.chunk_size as u64, MAX_CHUNK_SIZE as u64)?;
        if self.chunk_size < self.block_size {
            return Err(FormatError::Invalid {
                what: "chunk size (smaller than the block size)",
                got: self.chunk_size as u64,
            });
        }
        limit(
            "iterations",
            self.fit.iterations as u64,
            MAX_ITERATIONS as u64,
        )?;
        limit("samples", self.fit.samples as u64, MAX_SAMPLES as u64)?;
        match self.model {
            ModelKind::Mixture => {
                if self.latent_dim != 0 || self.bin_bits != 0 {
                    return Err(FormatError::Invalid {
                        what: "latent dimension / bin bits of a mixture",
                        got: ((self.latent_dim as u64) << 8) | self.bin_bits as u64,
                    });
                }
                if let PosteriorKind::Bbvi(e) = self.fit.posterior {
                    if !e.is_discrete() {
                        return Err(FormatError::Invalid {
                            what: "estimator of a discrete latent",
                            got: e.code() as u64,
                        });
                    }
                    if self.fit.samples < 2 {
                        return Err(FormatError::Invalid {
                            what: "samples (need at least 2)",
                            got: self.fit.samples as u64,
                        });
                    }
                    let work = self.fit.iterations as u64 * self.fit.samples as u64
                        / self.block_size as u64;
                    limit(
                        "BBVI work per symbol (iterations * samples / block size)",
                        work,
                        MAX_WORK_PER_SYMBOL,
                    )?;
                }
            }
            ModelKind::Logistic | ModelKind::Mnist => {
                let max_dim = if self.model == ModelKind::Mnist {
                    crate::model::image::MAX_LATENT_DIM
                } else {
                    crate::model::logistic::MAX_LATENT_DIM
                };
                if self.model == ModelKind::Mnist {
                    let px = crate::model::image::PIXELS as u32;
                    if self.block_size != px || self.chunk_size % px != 0 {
                        return Err(FormatError::Invalid {
                            what:
                                "block / chunk size of the mnist model (784 and a multiple of it)",
                            got: ((self.block_size as u64) << 32) | self.chunk_size as u64,
                        });
                    }
                    // One likelihood gradient costs about a million operations.
                    limit(
                        "BBVI work per image (iterations * samples)",
                        self.fit.iterations as u64 * self.fit.samples as u64,
                        crate::model::image::MAX_FIT_EVALUATIONS,
                    )?;
                }
                if self.latent_dim == 0 || self.latent_dim as usize > max_dim {
                    return Err(FormatError::Invalid {
                        what: "latent dimension",
                        got: self.latent_dim as u64,
                    });
                }
                if !(crate::model::bins::MIN_BIN_BITS..=crate::model::bins::MAX_BIN_BITS)
                    .contains(&(self.bin_bits as u32))
                {
                    return Err(FormatError::Invalid {
                        what: "bin bits",
                        got: self.bin_bits as u64,
                    });
                }
                match self.fit.posterior {
                    PosteriorKind::Bbvi(Estimator::Reparameterization) | PosteriorKind::Map => {}
                    _ => {
                        return Err(FormatError::Invalid {
                            what: "posterior of a continuous latent (bbvi with reparam, or map)",
                            got: posterior_code(self.fit.posterior).0 as u64,
                        })
                    }
                }
                if self.fit.samples == 0 {
                    return Err(FormatError::Invalid {
                        what: "samples (need at least 1)",
                        got: 0,
                    });
                }
                // Each likelihood evaluation costs ~256 (d + 1) operations.
                let work =
                    self.fit.iterations as u64 * self.fit.samples as u64 * self.latent_dim as u64
                        / self.block_size as u64;
                limit(
                    "BBVI work per symbol (iterations * samples * latent dim / block size)",
                    work,
                    MAX_WORK_PER_SYMBOL,
                )?;
            }
        }
        let lr = self.fit.learning_rate;
        if !(lr.is_finite() && lr > 0.0 && lr <= 100.0) {
            return Err(FormatError::Invalid {
                what: "learning rate bits",
                got: lr.to_bits() as u64,
            });
        }
        if self.max_components == 0 || self.max_components as usize > MAX_COMPONENTS {
            return Err(FormatError::Invalid {
                what: "largest component count",
                got: self.max_components as u64,
            });
        }
        limit(
            "fixed component count",
            self.fixed_components as u64,
            MAX_COMPONENTS as u64,
        )?;
        Ok(())
    }

    /// Serialize (after validating).
    pub fn write(&self, w: &mut impl Write) -> Result<(), Error> {
        self.validate()?;
        let mut b = Vec::with_capacity(HEADER_BYTES);
        b.extend_from_slice(&MAGIC);
        b.push(VERSION);
        b.push(self.model.code());
        let (p, e) = posterior_code(self.fit.posterior);
        b.push(p);
        b.push(e);
        b.write_u32::<LittleEndian>(self.block_size)?;
        b.write_u32::<LittleEndian>(self.chunk_size)?;
        b.write_u32::<LittleEndian>(self.fit.iterations)?;
        b.write_u32::<LittleEndian>(self.fit.samples)?;
        b.write_u32::<LittleEndian>(self.fit.learning_rate.to_bits())?;
        b.push(self.max_components);
        b.push(self.fixed_components);
        b.push(self.latent_dim);
        b.push(self.bin_bits);
        b.write_u64::<LittleEndian>(self.fit.seed)?;
        let crc = crc32fast::hash(&b);
        b.write_u32::<LittleEndian>(crc)?;
        w.write_all(&b)?;
        Ok(())
    }

    /// Parse and validate a header.
    pub fn read(r: &mut impl Read) -> Result<Self, Error> {
        let mut b = [0u8; HEADER_BYTES];
        read_exact_or(r, &mut b, "the file header")?;
        let magic = [b[0], b[1], b[2], b[3]];
        if magic != MAGIC {
            return Err(FormatError::BadMagic {
                got: magic,
                expected: MAGIC,
            }
            .into());
        }
        if b[4] != VERSION {
            return Err(FormatError::Version {
                got: b[4],
                expected: VERSION,
            }
            .into());
        }
        let stored = u32::from_le_bytes([b[40], b[41], b[42], b[43]]);
        let computed = crc32fast::hash(&b[..40]);
        if stored != computed {
            return Err(FormatError::Checksum {
                what: "file header",
                stored,
                computed,
            }
            .into());
        }
        let model = match b[5] {
            0 => ModelKind::Mixture,
            1 => ModelKind::Logistic,
            2 => ModelKind::Mnist,
            m => {
                return Err(FormatError::Invalid {
                    what: "model kind",
                    got: m as u64,
                }
                .into())
            }
        };
        let posterior = match b[6] {
            0 => PosteriorKind::Bbvi(Estimator::from_code(b[7]).ok_or(FormatError::Invalid {
                what: "estimator",
                got: b[7] as u64,
            })?),
            1 => PosteriorKind::Exact,
            2 => PosteriorKind::Map,
            p => {
                return Err(FormatError::Invalid {
                    what: "posterior kind",
                    got: p as u64,
                }
                .into())
            }
        };
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let h = Header {
            model,
            fit: FitConfig {
                posterior,
                iterations: u32_at(16),
                samples: u32_at(20),
                learning_rate: f32::from_bits(u32_at(24)),
                seed: u64::from_le_bytes(b[32..40].try_into().expect("8 bytes")),
            },
            block_size: u32_at(8),
            chunk_size: u32_at(12),
            max_components: b[28],
            fixed_components: b[29],
            latent_dim: b[30],
            bin_bits: b[31],
        };
        h.validate()?;
        Ok(h)
    }
}

/// Read exactly `buf.len()` bytes, reporting a truncated file as a format error.
pub fn read_exact_or(r: &mut impl Read, buf: &mut [u8], what: &'static str) -> Result<(), Error> {
    match r.read_exact(buf) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(FormatError::Truncated(what).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Read exactly `len` bytes into a new vector that grows with the data actually
/// present, so a length field in a truncated or hostile file never allocates more than
/// the bytes that follow it.
fn read_vec(r: &mut impl Read, len: usize, what: &'static str) -> Result<Vec<u8>, Error> {
    let mut v = Vec::with_capacity(len.min(1 << 16));
    r.take(len as u64).read_to_end(&mut v)?;
    if v.len() != len {
        return Err(FormatError::Truncated(what).into());
    }
    Ok(v)
}

/// One chunk record as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkRecord {
    /// A bits-back coded chunk.
    Coded {
        /// Original length.
        len: u32,
        /// CRC-32 of the original bytes.
        crc: u32,
        /// Serialized model parameters.
        params: Vec<u8>,
        /// Number of chunk-start blocks.
        bootstrap_blocks: u32,
        /// ANS stack words.
        words: Vec<u32>,
    },
    /// A chunk stored as is.
    Raw {
        /// CRC-32 of the bytes.
        crc: u32,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The end record.
    End {
        /// Total original length.
        total_len: u64,
        /// CRC-32 of the whole original content.
        crc: u32,
    },
}

impl ChunkRecord {
    /// Serialized size in bytes.
    pub fn encoded_len(&self) -> usize {
        match self {
            ChunkRecord::Coded { params, words, .. } => {
                CHUNK_HEADER_BYTES + 8 + params.len() + 4 * words.len()
            }
            ChunkRecord::Raw { data, .. } => CHUNK_HEADER_BYTES + data.len(),
            ChunkRecord::End { .. } => END_BYTES,
        }
    }

    /// Serialize.
    pub fn write(&self, w: &mut impl Write) -> io::Result<()> {
        match self {
            ChunkRecord::Coded {
                len,
                crc,
                params,
                bootstrap_blocks,
                words,
            } => {
                w.write_u8(TAG_CODED)?;
                w.write_u32::<LittleEndian>(*len)?;
                w.write_u32::<LittleEndian>(*crc)?;
                w.write_u32::<LittleEndian>((8 + params.len() + 4 * words.len()) as u32)?;
                w.write_u32::<LittleEndian>(params.len() as u32)?;
                w.write_all(params)?;
                w.write_u32::<LittleEndian>(*bootstrap_blocks)?;
                let mut buf = Vec::with_capacity(4 * words.len());
                for x in words {
                    buf.extend_from_slice(&x.to_le_bytes());
                }
                w.write_all(&buf)
            }
            ChunkRecord::Raw { crc, data } => {
                w.write_u8(TAG_RAW)?;
                w.write_u32::<LittleEndian>(data.len() as u32)?;
                w.write_u32::<LittleEndian>(*crc)?;
                w.write_u32::<LittleEndian>(data.len() as u32)?;
                w.write_all(data)
            }
            ChunkRecord::End { total_len, crc } => {
                w.write_u8(TAG_END)?;
                w.write_u64::<LittleEndian>(*total_len)?;
                w.write_u32::<LittleEndian>(*crc)
            }
        }
    }

    /// Parse one record, checking every size against `header` before allocating.
    pub fn read(r: &mut impl Read, header: &Header) -> Result<Self, Error> {
        let mut tag = [0u8; 1];
        read_exact_or(r, &mut tag, "a chunk record (the end record is missing)")?;
        match tag[0] {
            TAG_END => {
                let mut b = [0u8; 12];
                read_exact_or(r, &mut b, "the end record")?;
                Ok(ChunkRecord::End {
                    total_len: u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
                    crc: u32::from_le_bytes(b[8..].try_into().expect("4 bytes")),
                })
            }
            t @ (TAG_CODED | TAG_RAW) => {
                let mut b = [0u8; 12];
                read_exact_or(r, &mut b, "a chunk header")?;
                let len = u32::from_le_bytes(b[..4].try_into().expect("4"));
                let crc = u32::from_le_bytes(b[4..8].try_into().expect("4"));
                let m = u32::from_le_bytes(b[8..].try_into().expect("4"));
                if len == 0 {
                    return Err(FormatError::Invalid {
                        what: "chunk length",
                        got: 0,
                    }
                    .into());
                }
                if len > header.chunk_size {
                    return Err(FormatError::Limit {
                        what: "chunk length",
                        got: len as u64,
                        max: header.chunk_size as u64,
                    }
                    .into());
                }
                if t == TAG_RAW {
                    if m != len {
                        return Err(FormatError::Invalid {
                            what: "raw chunk payload length",
                            got: m as u64,
                        }
                        .into());
                    }
                    let data = read_vec(r, len as usize, "a raw chunk")?;
                    return Ok(ChunkRecord::Raw { crc, data });
                }
                let max_m = len as u64 + 8 + MAX_PARAMS_BYTES as u64;
                if m as u64 > max_m || m < 8 {
                    return Err(FormatError::Limit {
                        what: "coded chunk payload length",
                        got: m as u64,
                        max: max_m,
                    }
                    .into());
                }
                let mut pl = [0u8; 4];
                read_exact_or(r, &mut pl, "a coded chunk")?;
                let p = u32::from_le_bytes(pl);
                if p > MAX_PARAMS_BYTES || p > m - 8 || (m - 8 - p) % 4 != 0 {
                    return Err(FormatError::Invalid {
                        what: "parameter section length",
                        got: p as u64,
                    }
                    .into());
                }
                let params = read_vec(r, p as usize, "chunk parameters")?;
                let mut bb = [0u8; 4];
                read_exact_or(r, &mut bb, "a coded chunk")?;
                let bootstrap_blocks = u32::from_le_bytes(bb);
                let raw = read_vec(r, (m - 8 - p) as usize, "chunk payload")?;
                let words = raw
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                Ok(ChunkRecord::Coded {
                    len,
                    crc,
                    params,
                    bootstrap_blocks,
                    words,
                })
            }
            other => Err(FormatError::Invalid {
                what: "chunk tag",
                got: other as u64,
            }
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            model: ModelKind::Mixture,
            fit: FitConfig::default(),
            block_size: 1024,
            chunk_size: 1 << 20,
            max_components: 32,
            fixed_components: 0,
            latent_dim: 0,
            bin_bits: 0,
        }
    }

    #[test]
    fn header_roundtrip_and_layout() {
        let h = header();
        let mut b = Vec::new();
        h.write(&mut b).unwrap();
        assert_eq!(b.len(), HEADER_BYTES);
        assert_eq!(&b[..4], b"BBCd");
        assert_eq!(Header::read(&mut &b[..]).unwrap(), h);
    }

    #[test]
    fn header_rejects_every_single_byte_flip() {
        let mut b = Vec::new();
        header().write(&mut b).unwrap();
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x10;
            assert!(Header::read(&mut &c[..]).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn oversized_chunk_is_rejected_before_allocation() {
        let h = header();
        let mut b = vec![TAG_RAW];
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            ChunkRecord::read(&mut &b[..], &h),
            Err(Error::Format(FormatError::Limit { .. }))
        ));
    }
}
