//! One chunk in either direction: the model's fit and chain, the raw fallback, the
//! checksums. Chunks are independent, so the file codec runs these in parallel.

use crate::chain::ChainSegment;
use crate::container::{v2, Header, Record, Segment};
use crate::error::{CodecError, Error, Field};
use crate::report::{BlockRecord, RateTotals};

/// Result of one chunk, in either direction.
pub(crate) struct ChunkOutcome {
    /// The record (its payload emptied after decoding).
    pub record: Record,
    /// The decoded bytes (empty after encoding).
    pub data: Vec<u8>,
    /// The chain's sums.
    pub totals: RateTotals,
    /// Bits of stored parameters.
    pub header_bits: f64,
    /// The model's size for the chunk (None: stored raw).
    pub latents: Option<u64>,
    /// Per-block records.
    pub blocks: Vec<BlockRecord>,
}

/// A chunk stored raw.
pub(crate) fn raw_outcome(data: Vec<u8>) -> ChunkOutcome {
    ChunkOutcome {
        record: Record::Raw {
            crc: crc32fast::hash(&data),
            data,
        },
        data: Vec::new(),
        totals: RateTotals::default(),
        header_bits: 0.0,
        latents: None,
        blocks: Vec::new(),
    }
}

/// Fit and code one chunk; store it raw when that is smaller (and `raw_fallback`).
pub(crate) fn encode_chunk(
    data: &[u8],
    index: u64,
    h: &Header,
    raw_fallback: bool,
    parallel: bool,
) -> Result<ChunkOutcome, Error> {
    let crc = crc32fast::hash(data);
    let coded = h
        .model
        .model()
        .encode_chunk(data, index, &h.coding, parallel)?;
    let record = Record::Coded {
        len: data.len() as u32,
        crc,
        params: coded.params,
        segments: coded
            .chain
            .segments
            .into_iter()
            .map(|s| Segment {
                bootstrap_blocks: s.bootstrap_blocks as u32,
                blocks: s.blocks as u32,
                words: s.words,
            })
            .collect(),
    };
    if v2::record_len(&record) < v2::raw_record_len(data.len()) || !raw_fallback {
        let header_bits = match &record {
            Record::Coded { params, .. } => 8.0 * params.len() as f64,
            Record::Raw { .. } => 0.0,
        };
        Ok(ChunkOutcome {
            record,
            data: Vec::new(),
            totals: coded.chain.totals,
            header_bits,
            latents: Some(coded.latents),
            blocks: coded.chain.blocks,
        })
    } else {
        Ok(raw_outcome(data.to_vec()))
    }
}

fn check_crc(stored: u32, data: &[u8]) -> Result<(), Error> {
    Ok(crate::wire::check_crc(
        Field::Chunk,
        stored,
        crc32fast::hash(data),
    )?)
}

/// Decode one chunk and check its CRC.
pub(crate) fn decode_chunk(
    record: Record,
    index: u64,
    h: &Header,
    accounting: bool,
) -> Result<ChunkOutcome, Error> {
    match record {
        Record::Raw { crc, data } => {
            check_crc(crc, &data)?;
            Ok(ChunkOutcome {
                record: Record::Raw {
                    crc,
                    data: Vec::new(),
                },
                data,
                totals: RateTotals::default(),
                header_bits: 0.0,
                latents: None,
                blocks: Vec::new(),
            })
        }
        Record::Coded {
            len,
            crc,
            params,
            segments,
        } => {
            let segments: Vec<ChainSegment> = segments
                .into_iter()
                .map(|s| ChainSegment {
                    words: s.words,
                    bootstrap_blocks: s.bootstrap_blocks as usize,
                    blocks: s.blocks as usize,
                })
                .collect();
            let dec = h.model.model().decode_chunk(
                &params,
                &segments,
                len as usize,
                index,
                &h.coding,
                accounting,
            )?;
            if dec.data.len() != len as usize {
                return Err(CodecError::Corrupt("chunk length").into());
            }
            let data = dec.data;
            check_crc(crc, &data)?;
            Ok(ChunkOutcome {
                header_bits: 8.0 * params.len() as f64,
                record: Record::Coded {
                    len,
                    crc,
                    params: Vec::new(),
                    segments: Vec::new(),
                },
                data,
                totals: dec.totals,
                latents: Some(dec.latents),
                blocks: dec.blocks,
            })
        }
    }
}
