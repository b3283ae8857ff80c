//! The bits-back chain on one ANS stack (DESIGN section 1): the one home of the coding
//! order.
//!
//! Encoder, blocks `i = 0..N` of a chunk, on one stack:
//!
//! ```text
//! chunk start, i < B:     z_i = argmax_z P(z, x_i)        # no pop: stack too short
//! block i >= B:           z_i = pop with Q_i(z | x_i)      # bits back
//!                         push x_i with P(x | z_i)
//!                         push z_i with P(z)
//! ```
//!
//! Decoder, blocks `i = N-1..0`: pop `z_i` with `P(z)`, pop `x_i` with `P(x | z_i)`,
//! re-run the fit on `x_i` and push `z_i` back with `Q_i` (not for blocks `i < B`).
//!
//! **Chunk start.** constriction pops deterministically from an empty stack, and a pop
//! from a stack holding fewer bits than the pop reads is not a sample of `Q` either. The
//! first `B` blocks of a chunk are therefore coded with their MAP latent and get no bits
//! back, where `B` is the smallest count after which the stack holds at least
//! [`BOOTSTRAP_BITS`] bits (usually `B = 1`; `B` is stored with the chunk). Each such
//! block costs `-log2 P(x_i, z*) = -log2 P(x_i) - log2 P(z* | x_i)`, so the chunk start
//! costs `sum_{i<B} -log2 P(z* | x_i)` bits above the ideal (at most `log2 K` per
//! block). That excess is reported as `initial_bits`.
//!
//! **Decorrelated pops.** An ANS pop reads the low `PRECISION` bits of the state, and
//! right after a push those bits lie inside the interval of the symbol just pushed (here
//! `z_{i-1}` under the prior). A plain pop would therefore draw `z_i` from `Q_i`
//! restricted to that interval, not from `Q_i`, and the mean net rate would drift from
//! `-ELBO` wherever posteriors are broad (measured: +2% with one-byte blocks). Before
//! each bits-back pop the encoder applies [`scramble`], an involution of the state that
//! XORs its low 24 bits with a hash of the bits above them; the decoder applies it again
//! after pushing `z_i` back. The number of valid bits is unchanged, so the accounting is
//! unaffected, and the popped quantile is as good as uniform.

pub mod bins;
pub mod continuous;
pub mod continuous_model;
pub mod discrete;
pub mod discrete_model;
pub mod history;
mod particles;

pub use continuous::{ContinuousBitsBackCoder, ContinuousConfig};
pub use continuous_model::{BlockLikelihood, ContinuousLatentModel, IndependentPositions};
pub use discrete::DiscreteBitsBackCoder;
pub use discrete_model::DiscreteLatentModel;
pub use history::{HistoryBitsBackCoder, HistoryModel};

use constriction::stream::stack::{AnsCoder, DefaultAnsCoder};

use crate::error::CodecError;
use crate::report::{BlockRecord, RateTotals};

/// Bits the stack must hold before the first bits-back pop of a chunk.
pub const BOOTSTRAP_BITS: usize = 64;

/// The pop decorrelator: `state ^ (hash(state >> 24) & (2^24 - 1))`, an involution.
///
/// The bits above the low 24 are left alone, so it maps the set of states with the same
/// high part onto itself (hence bijective, and its own inverse), keeps the number of
/// valid bits, and keeps constriction's invariant `state >= 2^32` when the bulk is
/// non-empty. States below `2^24` (an almost empty stack) are left as they are.
pub fn scramble(coder: &mut DefaultAnsCoder) {
    let (bulk, state) = std::mem::take(coder).into_raw_parts();
    let high = state >> 24;
    let state = if high == 0 {
        state
    } else {
        // splitmix64 finalizer.
        let mut h = high.wrapping_add(0x9E37_79B9_7F4A_7C15);
        h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h ^= h >> 31;
        state ^ (h & 0xFF_FFFF)
    };
    *coder = AnsCoder::from_raw_parts(bulk, state);
}

/// The compressed words of one chunk and what the encoder measured.
#[derive(Clone, Debug)]
pub struct EncodedChunk {
    /// ANS stack contents (constriction's `into_compressed` words).
    pub words: Vec<u32>,
    /// Number of chunk-start blocks `B` (coded with their MAP latent); the decoder
    /// needs it.
    pub bootstrap_blocks: usize,
    /// Per-block records, in block order.
    pub blocks: Vec<BlockRecord>,
    /// Sums over the blocks.
    pub totals: RateTotals,
}

/// One ANS stack of a chunk: a run of its blocks, coded on a stack of their own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainSegment {
    /// The stack's words.
    pub words: Vec<u32>,
    /// Its chain-start blocks (coded without bits back).
    pub bootstrap_blocks: usize,
    /// Its number of blocks.
    pub blocks: usize,
}

/// A chunk coded as one or more segments (one stack each), with the measurements.
#[derive(Clone, Debug)]
pub struct SegmentedChunk {
    /// The segments, in file order.
    pub segments: Vec<ChainSegment>,
    /// Per-block records, in block order.
    pub blocks: Vec<BlockRecord>,
    /// Sums over the blocks.
    pub totals: RateTotals,
}

impl From<EncodedChunk> for SegmentedChunk {
    /// A chunk of one segment.
    fn from(c: EncodedChunk) -> Self {
        Self {
            segments: vec![ChainSegment {
                words: c.words,
                bootstrap_blocks: c.bootstrap_blocks,
                blocks: c.blocks.len(),
            }],
            blocks: c.blocks,
            totals: c.totals,
        }
    }
}

/// The symbols of one chunk and the same measurements, recomputed while decoding.
#[derive(Clone, Debug)]
pub struct DecodedChunk {
    /// The decoded symbols.
    pub symbols: Vec<u16>,
    /// Per-block records, in block order.
    pub blocks: Vec<BlockRecord>,
    /// Sums over the blocks.
    pub totals: RateTotals,
}

/// Open a chunk's words for decoding after checking the chunk-start block count.
fn start_decode(
    words: &[u32],
    len: usize,
    block_size: usize,
    bootstrap_blocks: usize,
) -> Result<DefaultAnsCoder, CodecError> {
    if bootstrap_blocks > len.div_ceil(block_size) || (len > 0 && bootstrap_blocks == 0) {
        return Err(CodecError::Corrupt("chunk-start block count"));
    }
    DefaultAnsCoder::from_compressed(words.to_vec())
        .map_err(|_| CodecError::Corrupt("compressed data ends in a zero word"))
}

/// Check that nothing is left on the stack, and put the records (collected from the
/// last block to the first) in block order with their totals.
fn finish_decode(
    coder: &DefaultAnsCoder,
    mut blocks: Vec<BlockRecord>,
    symbols: Vec<u16>,
) -> Result<DecodedChunk, CodecError> {
    if !coder.is_empty() || !coder.bulk().is_empty() {
        return Err(CodecError::Corrupt(
            "data left on the stack after the last block",
        ));
    }
    blocks.reverse();
    let mut totals = RateTotals::default();
    for b in &blocks {
        totals.add_block(b);
    }
    Ok(DecodedChunk {
        symbols,
        blocks,
        totals,
    })
}

/// Export the stack of an encoded chunk.
fn finish_encode(
    coder: DefaultAnsCoder,
    bootstrap_blocks: usize,
    blocks: Vec<BlockRecord>,
    totals: RateTotals,
) -> Result<EncodedChunk, CodecError> {
    let words = coder
        .into_compressed()
        .map_err(|_| CodecError::Corrupt("stack export"))?;
    Ok(EncodedChunk {
        words,
        bootstrap_blocks,
        blocks,
        totals,
    })
}
