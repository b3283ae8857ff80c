//! Format version 2: tagged header sections, varint sizes, compact chunk records.
//!
//! A **varint** is unsigned LEB128 in its shortest form ([`crate::wire`]); `u32` is
//! little endian. A member:
//!
//! | size   | field                                                                  |
//! |--------|------------------------------------------------------------------------|
//! | 4      | magic `42 42 43 02`: "BBC", then the version 2                         |
//! | varint | `H`, bytes of header sections (`<= 1024`)                              |
//! | H      | sections (below)                                                       |
//! | 4      | CRC-32 of every byte above (magic to the last section)                 |
//! | ...    | chunk records (below), then the end                                    |
//!
//! **Sections.** Each is a varint `id << 3 | s`, then its length `L` (`L = s` when
//! `s <= 6`; `s = 7`: `L >= 7` follows as a varint), then `L` bytes. Ids increase
//! strictly. An even id must be understood (a decoder that does not know it refuses
//! the file); an odd id may be skipped. New sections extend the format without a new
//! version. No byte outside the model section depends on the model.
//!
//! | id | section   | payload                                                          | when absent |
//! |----|-----------|------------------------------------------------------------------|-------------|
//! | 2  | model     | varint kind (0 mixture, 1 logistic, 2 mnist), then the model's own configuration (see each model's `write_config`) | required |
//! | 4  | posterior | varint kind (0 bbvi, 1 exact, 2 map, 3 iw, 4 cis); bbvi: varint estimator (0 score, 1 score-eq8, 2 naive, 3 reparam, 4 gumbel); iw, cis: varint particles (1..=256); then varint iterations, varint samples, `u32` learning rate (`f32` bits), varint seed XOR [`SEED_MASK`] (the default seed codes in one byte) | the model kind's format default |
//! | 6  | blocks    | varint block size (symbols per block, `1..=2^20`)                | the model kind's format default |
//! | 8  | level     | varint level (only 0 is defined)                                 | 0 |
//! | 10 | chunks    | varint chunk size: no record may hold more bytes (block size..=2^26) | the model kind's format default |
//!
//! The format defaults of each model kind are frozen with the format
//! ([`crate::model::FileModel::format_defaults`]): mixture, exact posterior, 64-symbol
//! blocks, 256 KiB chunks; logistic, bbvi/reparam 64 x 4 at 0.1, 512, 256 KiB; mnist,
//! bbvi/reparam 32 x 1 at 0.05, 784, 128 images; each with the seed
//! `0x6262636f64656331`.
//!
//! **Chunk record.**
//!
//! | size   | field                                                                  |
//! |--------|------------------------------------------------------------------------|
//! | varint | `n << 2 | t`: original length `n` (`1..=` chunk size); `t` bit 0: raw, bit 1: the member's last chunk |
//! | 4      | CRC-32 of the original `n` bytes                                       |
//! | raw    | `n` bytes                                                              |
//! | coded  | varint `P` (`<= 2^16`), `P` bytes of model parameters, then segments   |
//!
//! A **segment** (a run of blocks on one ANS stack): varint `w << 2 | m << 1 | b`, where
//! `w` is its number of `u32` words, `m = 1` if another segment follows and `b = 1` if
//! its number of chunk-start blocks `B` follows as a varint (`b = 0`: `B = 1`); then
//! (if `m`) a varint number of blocks in the segment (`1..`; the last segment holds the
//! rest, at least one); then `w` words. A chunk's segments hold `4 w <= n + 2^16 + 8`
//! bytes of words per segment at most.
//!
//! **End.** A member of no chunks is the header and one byte `0`. After the last chunk
//! of a member of two or more: varint total original length, `u32` CRC-32 of the whole
//! content. A member of one chunk ends with it: its chunk CRC is the content's. Nothing
//! may follow the member.

use std::io::{Read, Write};

use super::{base_model, validate, Header, Next, Record, Segment, MAGIC, MAX_CHUNK_SIZE};
use super::{MAX_BLOCK_SIZE, MAX_PARAMS_BYTES, VERSION};
use crate::error::{Error, Field, FormatError};
use crate::inference::{
    Estimator, FitConfig, PosteriorKind, MAX_ITERATIONS, MAX_PARTICLES, MAX_SAMPLES,
};
use crate::model::{Coding, ModelConfig, ModelKind};
use crate::wire::{check_crc, crc32, put_u32, put_varint, varint_len, SliceReader, StreamReader};

/// XORed into the stored seed: the default seed (`FitConfig::default().seed`) is stored
/// as 0, one byte.
pub const SEED_MASK: u64 = 0x6262_636f_6465_6331;

/// Largest header section area.
pub const MAX_HEADER_BYTES: u64 = 1024;

/// Section ids.
const MODEL: u64 = 2;
const POSTERIOR: u64 = 4;
const BLOCKS: u64 = 6;
const LEVEL: u64 = 8;
const CHUNKS: u64 = 10;

fn put_section(out: &mut Vec<u8>, id: u64, payload: &[u8]) {
    let l = payload.len() as u64;
    if l <= 6 {
        put_varint(out, id << 3 | l);
    } else {
        put_varint(out, id << 3 | 7);
        put_varint(out, l);
    }
    out.extend_from_slice(payload);
}

fn posterior_code(p: PosteriorKind) -> u64 {
    match p {
        PosteriorKind::Bbvi(_) => 0,
        PosteriorKind::Exact => 1,
        PosteriorKind::Map => 2,
        PosteriorKind::ImportanceWeighted(_) => 3,
        PosteriorKind::CoupledImportanceWeighted(_) => 4,
    }
}

/// The header bytes of a member.
pub fn header_bytes(h: &Header) -> Result<Vec<u8>, FormatError> {
    validate(&h.model, &h.coding, h.chunk_size, h.level)?;
    let model = h.model.model();
    let defaults = model.format_defaults();
    let mut sections = Vec::new();
    let mut payload = Vec::new();
    put_varint(&mut payload, h.model.kind().code());
    model.write_config(&mut payload);
    put_section(&mut sections, MODEL, &payload);
    let fit = &h.coding.fit;
    if *fit != defaults.coding.fit {
        payload.clear();
        put_varint(&mut payload, posterior_code(fit.posterior));
        match fit.posterior {
            PosteriorKind::Bbvi(e) => put_varint(&mut payload, e.code() as u64),
            PosteriorKind::ImportanceWeighted(n) | PosteriorKind::CoupledImportanceWeighted(n) => {
                put_varint(&mut payload, n as u64)
            }
            _ => {}
        }
        put_varint(&mut payload, fit.iterations as u64);
        put_varint(&mut payload, fit.samples as u64);
        put_u32(&mut payload, fit.learning_rate.to_bits());
        put_varint(&mut payload, fit.seed ^ SEED_MASK);
        put_section(&mut sections, POSTERIOR, &payload);
    }
    if h.coding.block_size != defaults.coding.block_size {
        payload.clear();
        put_varint(&mut payload, h.coding.block_size as u64);
        put_section(&mut sections, BLOCKS, &payload);
    }
    if h.level != 0 {
        payload.clear();
        put_varint(&mut payload, h.level as u64);
        put_section(&mut sections, LEVEL, &payload);
    }
    let chunk_size = h.chunk_size.unwrap_or(defaults.chunk_size);
    if chunk_size != defaults.chunk_size {
        payload.clear();
        put_varint(&mut payload, chunk_size as u64);
        put_section(&mut sections, CHUNKS, &payload);
    }
    let mut out = Vec::with_capacity(8 + sections.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    put_varint(&mut out, sections.len() as u64);
    out.extend_from_slice(&sections);
    let crc = crc32(&out);
    put_u32(&mut out, crc);
    Ok(out)
}

/// Write the header of a member.
pub fn write_header(w: &mut impl Write, h: &Header) -> Result<(), Error> {
    w.write_all(&header_bytes(h)?)?;
    Ok(())
}

fn read_fit(bytes: &[u8]) -> Result<FitConfig, FormatError> {
    let mut r = SliceReader::new(bytes);
    let posterior = match r.varint(Field::Posterior)? {
        0 => {
            let e = r.varint(Field::Estimator)?;
            PosteriorKind::Bbvi(u8::try_from(e).ok().and_then(Estimator::from_code).ok_or(
                FormatError::Invalid {
                    field: Field::Estimator,
                    got: e,
                },
            )?)
        }
        1 => PosteriorKind::Exact,
        2 => PosteriorKind::Map,
        3 => PosteriorKind::ImportanceWeighted(r.varint_in(
            Field::Particles,
            1,
            MAX_PARTICLES as u64,
        )? as u32),
        4 => PosteriorKind::CoupledImportanceWeighted(r.varint_in(
            Field::Particles,
            1,
            MAX_PARTICLES as u64,
        )? as u32),
        p => {
            return Err(FormatError::Invalid {
                field: Field::Posterior,
                got: p,
            })
        }
    };
    let iterations = r.varint_in(Field::Iterations, 0, MAX_ITERATIONS as u64)? as u32;
    let samples = r.varint_in(Field::Samples, 0, MAX_SAMPLES as u64)? as u32;
    let learning_rate = f32::from_bits(r.u32(Field::LearningRate)?);
    let seed = r.varint(Field::Posterior)? ^ SEED_MASK;
    r.finish(Field::Posterior)?;
    Ok(FitConfig {
        posterior,
        iterations,
        samples,
        learning_rate,
        seed,
    })
}

/// Read a version 2 header after its four magic bytes (already in `input`'s seen
/// bytes, which the header CRC covers).
pub fn read_header<R: Read>(
    input: &mut StreamReader<'_, R>,
    models: &[ModelConfig],
) -> Result<Header, Error> {
    let len = input.varint_in(Field::HeaderLength, 0, MAX_HEADER_BYTES)?;
    let sections = input.bytes(len as usize, Field::FileHeader)?;
    let covered = input.take_seen();
    let stored = input.u32(Field::FileHeader)?;
    check_crc(Field::FileHeader, stored, crc32(&covered))?;
    let mut r = SliceReader::new(&sections);
    let mut last_id = 0u64;
    let mut model = None;
    let (mut fit, mut block_size, mut level, mut chunk_size) = (None, None, 0u32, None);
    while !r.is_empty() {
        let head = r.varint(Field::Section)?;
        let (id, s) = (head >> 3, head & 7);
        let l = if s < 7 {
            s
        } else {
            // The long form only for lengths the short one cannot hold.
            r.varint_in(Field::Section, 7, r.remaining() as u64)?
        };
        let payload = r.take(l as usize, Field::Section)?;
        if id <= last_id {
            return Err(FormatError::SectionOrder {
                got: id,
                after: last_id,
            }
            .into());
        }
        last_id = id;
        match id {
            MODEL => {
                let mut p = SliceReader::new(payload);
                let code = p.varint(Field::ModelKind)?;
                let kind = ModelKind::from_code(code).ok_or(FormatError::Invalid {
                    field: Field::ModelKind,
                    got: code,
                })?;
                let mut m = base_model(kind, models);
                m.model_mut()
                    .read_config(p.take(p.remaining(), Field::ModelConfig)?)?;
                model = Some(m);
            }
            POSTERIOR => fit = Some(read_fit(payload)?),
            BLOCKS => {
                let mut p = SliceReader::new(payload);
                block_size = Some(p.varint_in(Field::BlockSize, 1, MAX_BLOCK_SIZE as u64)? as u32);
                p.finish(Field::BlockSize)?;
            }
            LEVEL => {
                let mut p = SliceReader::new(payload);
                level = p.varint_in(Field::Level, 0, 0)? as u32;
                p.finish(Field::Level)?;
            }
            CHUNKS => {
                let mut p = SliceReader::new(payload);
                chunk_size = Some(p.varint_in(Field::ChunkSize, 1, MAX_CHUNK_SIZE as u64)? as u32);
                p.finish(Field::ChunkSize)?;
            }
            id if id % 2 == 1 => {}
            id => return Err(FormatError::UnknownSection(id).into()),
        }
    }
    let model = model.ok_or(FormatError::MissingSection(Field::ModelKind))?;
    let defaults = model.model().format_defaults();
    let coding = Coding {
        fit: fit.unwrap_or(defaults.coding.fit),
        block_size: block_size.unwrap_or(defaults.coding.block_size),
        iwae_samples: 0,
    };
    let chunk_size = chunk_size.unwrap_or(defaults.chunk_size);
    validate(&model, &coding, Some(chunk_size), level)?;
    Ok(Header {
        version: VERSION,
        model,
        coding,
        level,
        chunk_size: Some(chunk_size),
    })
}

/// Bytes of a raw record of `n` bytes (head, CRC, the bytes).
pub fn raw_record_len(n: usize) -> usize {
    varint_len((n as u64) << 2) + 4 + n
}

/// Bytes of a record as [`write_record`] writes it.
pub fn record_len(r: &Record) -> usize {
    let head = varint_len((r.len() as u64) << 2) + 4;
    match r {
        Record::Raw { data, .. } => raw_record_len(data.len()),
        Record::Coded {
            params, segments, ..
        } => {
            head + varint_len(params.len() as u64)
                + params.len()
                + segments
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        varint_len((s.words.len() as u64) << 2 | 3)
                            + if s.bootstrap_blocks == 1 {
                                0
                            } else {
                                varint_len(s.bootstrap_blocks as u64)
                            }
                            + if i + 1 < segments.len() {
                                varint_len(s.blocks as u64)
                            } else {
                                0
                            }
                            + 4 * s.words.len()
                    })
                    .sum::<usize>()
        }
    }
}

/// Append one chunk record; `last` marks the member's last chunk.
pub fn write_record(out: &mut Vec<u8>, r: &Record, last: bool) {
    let t = match r {
        Record::Coded { .. } => 0,
        Record::Raw { .. } => 1,
    } | if last { 2 } else { 0 };
    put_varint(out, (r.len() as u64) << 2 | t);
    match r {
        Record::Raw { crc, data } => {
            put_u32(out, *crc);
            out.extend_from_slice(data);
        }
        Record::Coded {
            crc,
            params,
            segments,
            ..
        } => {
            put_u32(out, *crc);
            put_varint(out, params.len() as u64);
            out.extend_from_slice(params);
            for (i, s) in segments.iter().enumerate() {
                let more = i + 1 < segments.len();
                let b = (s.bootstrap_blocks != 1) as u64;
                put_varint(out, (s.words.len() as u64) << 2 | (more as u64) << 1 | b);
                if b == 1 {
                    put_varint(out, s.bootstrap_blocks as u64);
                }
                if more {
                    put_varint(out, s.blocks as u64);
                }
                out.reserve(4 * s.words.len());
                for w in &s.words {
                    put_u32(out, *w);
                }
            }
        }
    }
}

/// Append the end of a member of `chunks` chunks.
pub fn write_end(out: &mut Vec<u8>, chunks: u64, total_len: u64, crc: u32) {
    match chunks {
        0 => put_varint(out, 0),
        1 => {}
        _ => {
            put_varint(out, total_len);
            put_u32(out, crc);
        }
    }
}

/// Read the next record of a version 2 member of which `chunks` have been read.
pub fn read_record<R: Read>(
    input: &mut StreamReader<'_, R>,
    header: &Header,
    chunks: u64,
) -> Result<Next, Error> {
    let head = input.varint(Field::ChunkRecord)?;
    if head == 0 && chunks == 0 {
        return Ok(Next::End(None));
    }
    let n = head >> 2;
    if n == 0 {
        return Err(FormatError::Invalid {
            field: Field::ChunkRecord,
            got: head,
        }
        .into());
    }
    let max = header.chunk_size.unwrap_or(MAX_CHUNK_SIZE) as u64;
    if n > max {
        return Err(FormatError::Limit {
            field: Field::ChunkLength,
            got: n,
            max,
        }
        .into());
    }
    let (raw, last) = (head & 1 == 1, head & 2 == 2);
    let crc = input.u32(Field::ChunkRecord)?;
    if raw {
        let data = input.bytes(n as usize, Field::ChunkPayload)?;
        return Ok(Next::Record(Record::Raw { crc, data }, last));
    }
    let p = input.varint_in(Field::Parameters, 0, MAX_PARAMS_BYTES as u64)?;
    let params = input.bytes(p as usize, Field::Parameters)?;
    let blocks = n.div_ceil(header.coding.block_size as u64);
    let max_words = (n + MAX_PARAMS_BYTES as u64 + 8) / 4;
    let mut segments = Vec::new();
    let mut left = blocks;
    loop {
        let s = input.varint(Field::Segment)?;
        let (w, more, b) = (s >> 2, s >> 1 & 1 == 1, s & 1);
        let bootstrap_blocks = if b == 1 {
            let v = input.varint_in(Field::BootstrapBlocks, 0, left)?;
            if v == 1 {
                // B = 1 is written as b = 0.
                return Err(FormatError::Invalid {
                    field: Field::BootstrapBlocks,
                    got: 1,
                }
                .into());
            }
            v as u32
        } else {
            1
        };
        let count = if more {
            // At least one block is left for the segments after it.
            input.varint_in(Field::SegmentBlocks, 1, left.saturating_sub(1))?
        } else {
            left
        };
        if bootstrap_blocks as u64 > count {
            return Err(FormatError::Limit {
                field: Field::BootstrapBlocks,
                got: bootstrap_blocks as u64,
                max: count,
            }
            .into());
        }
        if w > max_words {
            return Err(FormatError::Limit {
                field: Field::Words,
                got: w,
                max: max_words,
            }
            .into());
        }
        let bytes = input.bytes(4 * w as usize, Field::Words)?;
        let words = bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        segments.push(Segment {
            bootstrap_blocks,
            blocks: count as u32,
            words,
        });
        left -= count;
        if !more {
            break;
        }
    }
    Ok(Next::Record(
        Record::Coded {
            len: n as u32,
            crc,
            params,
            segments,
        },
        last,
    ))
}

/// Read the end of a member of two or more chunks: total length and content CRC.
pub fn read_end<R: Read>(input: &mut StreamReader<'_, R>) -> Result<(u64, u32), Error> {
    let total = input.varint(Field::EndRecord)?;
    let crc = input.u32(Field::EndRecord)?;
    Ok((total, crc))
}
