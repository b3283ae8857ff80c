//! The bits-back chain on one ANS stack (DESIGN section 1): the one home of the coding
//! order.
//!
//! Encoder, blocks `i = 0..N` of a chunk, on one stack:
//!
//! ```text
//! block 0 (chunk start):  z_0 = argmax_z P(z, x_0)        # no pop: the stack is empty
//! block i >= 1:           z_i = pop with Q_i(z | x_i)      # bits back
//!                         push x_i with P(x | z_i)
//!                         push z_i with P(z)
//! ```
//!
//! Decoder, blocks `i = N-1..0`: pop `z_i` with `P(z)`, pop `x_i` with `P(x | z_i)`,
//! re-run the fit on `x_i` and push `z_i` back with `Q_i` (not for block 0).
//!
//! **Chunk start.** constriction pops deterministically from an empty stack, so a first
//! "sample" would not be a sample of `Q`. Block 0 is therefore coded with its MAP latent
//! and gets no bits back; it costs `-log2 P(x_0, z*) = -log2 P(x_0) - log2 P(z* | x_0)`,
//! so the chunk start costs `-log2 P(z* | x_0) <= log2 K` bits above the ideal. That
//! excess is reported as `initial_bits`. Every later block pops from a stack that holds
//! at least block 0's bits.

use constriction::stream::stack::DefaultAnsCoder;
use constriction::stream::{Decode, Encode};

use crate::categorical::{QuantizedCategorical, MAX_ALPHABET};
use crate::error::CodecError;
use crate::inference::{posterior_fit, FitConfig, PosteriorKind};
use crate::model::DiscreteLatentModel;
use crate::report::{BlockRecord, ElboTerms, RateTotals};
use crate::rng::BlockRng;

/// Codes symbol streams with a [`DiscreteLatentModel`] by bits-back coding, one block of
/// `block_size` symbols per latent.
pub struct BitsBackCoder<'m, M: DiscreteLatentModel + ?Sized> {
    model: &'m M,
    block_size: usize,
    config: FitConfig,
}

/// The compressed words of one chunk and what the encoder measured.
#[derive(Clone, Debug)]
pub struct EncodedChunk {
    /// ANS stack contents (constriction's `into_compressed` words).
    pub words: Vec<u32>,
    /// Per-block records, in block order.
    pub blocks: Vec<BlockRecord>,
    /// Sums over the blocks.
    pub totals: RateTotals,
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

/// Per-block scratch shared by encoder and decoder: the one place where a block's
/// posterior is fitted and its ELBO terms are computed, so both sides agree.
struct BlockWork {
    lik: Vec<f64>,
    lj: Vec<f64>,
    log2_prior: Vec<f64>,
}

impl<'m, M: DiscreteLatentModel + ?Sized> BitsBackCoder<'m, M> {
    /// A coder for `model` with blocks of `block_size` symbols and fit `config`.
    pub fn new(model: &'m M, block_size: usize, config: FitConfig) -> Self {
        Self {
            model,
            block_size,
            config,
        }
    }

    fn check(&self) -> Result<(), CodecError> {
        let k = self.model.num_latents();
        let n = self.model.alphabet_size();
        if k == 0 || self.model.prior().len() != k {
            return Err(CodecError::Model(format!(
                "prior has {} symbols, expected num_latents = {k} >= 1",
                self.model.prior().len()
            )));
        }
        if n == 0 || n > MAX_ALPHABET {
            return Err(CodecError::Model(format!(
                "alphabet size is {n}, expected 1..={MAX_ALPHABET}"
            )));
        }
        if self.block_size == 0 {
            return Err(CodecError::Config("block size is 0, expected at least 1".into()));
        }
        if let PosteriorKind::Bbvi(_) = self.config.posterior {
            if self.config.samples < 2 {
                return Err(CodecError::Config(format!(
                    "samples is {}, expected at least 2",
                    self.config.samples
                )));
            }
        }
        Ok(())
    }

    fn work(&self) -> BlockWork {
        let k = self.model.num_latents();
        let prior = self.model.prior();
        BlockWork {
            lik: vec![0.0; k],
            lj: vec![0.0; k],
            log2_prior: (0..k).map(|z| prior.log2_prob(z)).collect(),
        }
    }

    /// Fit block `i`'s posterior; returns the coded `Q` (None: point mass at the MAP
    /// latent, for chunk starts and MAP coding) and the MAP latent.
    fn fit_block(
        &self,
        w: &mut BlockWork,
        x: &[u16],
        chunk: u64,
        i: usize,
    ) -> (Option<QuantizedCategorical>, usize) {
        self.model.log2_likelihoods(x, &mut w.lik);
        for z in 0..w.lj.len() {
            w.lj[z] = w.lik[z] + w.log2_prior[z];
        }
        let bootstrap = i == 0;
        if bootstrap || w.lj.len() == 1 {
            let map = crate::inference::argmax(&w.lj);
            let coded = if bootstrap || self.config.posterior == PosteriorKind::Map {
                None
            } else {
                Some(QuantizedCategorical::from_int_weights(&[1]).expect("valid"))
            };
            return (coded, map);
        }
        let mut rng = BlockRng::for_block(self.config.seed, chunk, i as u64);
        let fit = posterior_fit(&w.lj, &self.config, &mut rng, None);
        (fit.coded, fit.map)
    }

    fn record(
        &self,
        w: &BlockWork,
        chunk: u64,
        i: usize,
        len: usize,
        q: &Option<QuantizedCategorical>,
        latent: usize,
        net_bits: f64,
    ) -> BlockRecord {
        let terms = match q {
            Some(q) => ElboTerms::of_block(&w.lik, self.model.prior(), |z| q.prob(z)),
            None => ElboTerms::of_block(&w.lik, self.model.prior(), |z| if z == latent { 1.0 } else { 0.0 }),
        };
        BlockRecord {
            chunk,
            block: i,
            len,
            bootstrap: i == 0,
            latent,
            net_bits,
            terms,
        }
    }

    /// Encode `symbols` as one chunk (independent stack). `chunk` seeds the fits.
    pub fn encode(&self, symbols: &[u16], chunk: u64) -> Result<EncodedChunk, CodecError> {
        self.check()?;
        let n = self.model.alphabet_size();
        let mut coder = DefaultAnsCoder::new();
        let mut w = self.work();
        let mut blocks = Vec::with_capacity(symbols.len().div_ceil(self.block_size));
        let mut totals = RateTotals::default();
        for (i, x) in symbols.chunks(self.block_size).enumerate() {
            let (q, map) = self.fit_block(&mut w, x, chunk, i);
            let before = coder.num_valid_bits();
            let z = match &q {
                Some(q) => coder
                    .decode_symbol(q)
                    .map_err(|_| CodecError::Corrupt("pop from the encoder stack failed"))?,
                None => map,
            };
            for (j, &s) in x.iter().enumerate().rev() {
                let model = self.model.likelihood(z, j);
                if (s as usize) >= n || model.len() != n || model.fixed_prob(s as usize) == 0 {
                    return Err(CodecError::ImpossibleSymbol {
                        block: i,
                        position: j,
                        symbol: s as usize,
                        latent: z,
                    });
                }
                coder
                    .encode_symbol(s as usize, model)
                    .map_err(|_| CodecError::Corrupt("push onto the encoder stack failed"))?;
            }
            coder
                .encode_symbol(z, self.model.prior())
                .map_err(|_| CodecError::Model(format!("prior gives latent {z} zero probability")))?;
            let net = coder.num_valid_bits() as f64 - before as f64;
            let rec = self.record(&w, chunk, i, x.len(), &q, z, net);
            totals.add_block(&rec);
            blocks.push(rec);
        }
        let words = coder.into_compressed().map_err(|_| CodecError::Corrupt("stack export"))?;
        Ok(EncodedChunk {
            words,
            blocks,
            totals,
        })
    }

    /// Decode `len` symbols of chunk `chunk` from `words`.
    ///
    /// Fails with [`CodecError::Corrupt`] if the words are not exactly one encoded chunk
    /// (left-over data on the stack, or a trailing zero word).
    pub fn decode(&self, words: &[u32], len: usize, chunk: u64) -> Result<DecodedChunk, CodecError> {
        self.check()?;
        let mut coder = DefaultAnsCoder::from_compressed(words.to_vec())
            .map_err(|_| CodecError::Corrupt("compressed data ends in a zero word"))?;
        let mut w = self.work();
        let nblocks = len.div_ceil(self.block_size);
        let mut symbols = vec![0u16; len];
        let mut blocks = Vec::with_capacity(nblocks);
        for i in (0..nblocks).rev() {
            let start = i * self.block_size;
            let end = (start + self.block_size).min(len);
            let before = coder.num_valid_bits();
            let z = coder
                .decode_symbol(self.model.prior())
                .map_err(|_| CodecError::Corrupt("latent"))?;
            for (j, s) in symbols[start..end].iter_mut().enumerate() {
                let v = coder
                    .decode_symbol(self.model.likelihood(z, j))
                    .map_err(|_| CodecError::Corrupt("symbol"))?;
                *s = v as u16;
            }
            let x = &symbols[start..end];
            let (q, map) = self.fit_block(&mut w, x, chunk, i);
            if let Some(q) = &q {
                coder
                    .encode_symbol(z, q)
                    .map_err(|_| CodecError::Corrupt("latent has zero posterior mass"))?;
            } else if i == 0 && z != map && self.model.num_latents() > 1 {
                // The encoder codes chunk starts with the MAP latent only.
                return Err(CodecError::Corrupt("chunk start latent is not the MAP latent"));
            }
            let net = before as f64 - coder.num_valid_bits() as f64;
            blocks.push(self.record(&w, chunk, i, x.len(), &q, z, net));
        }
        if !coder.is_empty() || !coder.bulk().is_empty() {
            return Err(CodecError::Corrupt("data left on the stack after the last block"));
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
}
