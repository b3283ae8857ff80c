//! The bits-back chain of a discrete latent ([`DiscreteLatentModel`]): blocks coded
//! independently, the latent popped with the fitted categorical `Q` (see the module
//! [`crate::chain`] for the order).

use constriction::stream::stack::DefaultAnsCoder;
use constriction::stream::{Decode, Encode};

use super::DiscreteLatentModel;
use super::{
    finish_decode, finish_encode, scramble, start_decode, DecodedChunk, EncodedChunk,
    BOOTSTRAP_BITS,
};
use crate::categorical::{QuantizedCategorical, MAX_ALPHABET};
use crate::error::CodecError;
use crate::inference::{posterior_fit, FitConfig, PosteriorKind};
use crate::report::{BlockRecord, ElboTerms, RateTotals};
use crate::rng::BlockRng;

/// Codes symbol streams with a [`DiscreteLatentModel`] by bits-back coding, one block of
/// `block_size` symbols per latent.
pub struct DiscreteBitsBackCoder<'m, M: DiscreteLatentModel + ?Sized> {
    model: &'m M,
    block_size: usize,
    config: FitConfig,
    parallel_fits: bool,
    accounting: bool,
}

/// Per-block scratch shared by encoder and decoder: the one place where a block's
/// posterior is fitted and its ELBO terms are computed, so both sides agree.
struct BlockWork {
    lik: Vec<f64>,
    lj: Vec<f64>,
    log2_prior: Vec<f64>,
    /// The one-latent posterior (probability 1), built once.
    certain: QuantizedCategorical,
    /// The exact fit's normalizer of `lj` (see [`crate::math::normalize_log2`]), when
    /// the last fit enumerated the posterior.
    normalizer: Option<(f64, f64)>,
}

/// One block's fit made ahead of the chain (encoder, parallel fits), with the terms the
/// chain would otherwise recompute.
struct BlockFit {
    coded: Option<QuantizedCategorical>,
    map: usize,
    lik: Vec<f64>,
    normalizer: Option<(f64, f64)>,
}

impl<'m, M: DiscreteLatentModel + ?Sized> DiscreteBitsBackCoder<'m, M> {
    /// A coder for `model` with blocks of `block_size` symbols and fit `config`.
    pub fn new(model: &'m M, block_size: usize, config: FitConfig) -> Self {
        Self {
            model,
            block_size,
            config,
            parallel_fits: false,
            accounting: true,
        }
    }

    /// Compute the ELBO terms of every block (default). Without them a decoder only
    /// measures net bits, which is all plain decompression needs.
    pub fn with_accounting(mut self, on: bool) -> Self {
        self.accounting = on;
        self
    }

    /// Let the encoder fit the blocks' posteriors in parallel (on the current rayon
    /// pool) before it runs the chain. The fits do not depend on the stack, so the
    /// output is the same either way; the decoder is sequential by construction.
    pub fn with_parallel_fits(mut self, on: bool) -> Self {
        self.parallel_fits = on;
        self
    }

    fn check(&self) -> Result<(), CodecError> {
        let k = self.model.num_latents();
        let n = self.model.alphabet_size();
        if k == 0 || self.model.prior().len() != k {
            return Err(CodecError::Mismatch {
                what: "prior symbols (num_latents, at least 1)",
                got: self.model.prior().len() as u64,
                expected: k as u64,
            });
        }
        if n == 0 || n > MAX_ALPHABET {
            return Err(CodecError::OutOfRange {
                what: "alphabet size",
                got: n as u64,
                min: 1,
                max: MAX_ALPHABET as u64,
            });
        }
        if self.block_size == 0 {
            return Err(CodecError::OutOfRange {
                what: "block size",
                got: 0,
                min: 1,
                max: u64::MAX,
            });
        }
        if let PosteriorKind::Bbvi(e) = self.config.posterior {
            if !e.is_discrete() {
                return Err(CodecError::Posterior {
                    posterior: "bbvi/reparam",
                    latent: "discrete",
                    expected: "bbvi with score, score-eq8, naive or gumbel, exact, or map",
                });
            }
            if self.config.samples < 2 {
                return Err(CodecError::OutOfRange {
                    what: "samples",
                    got: self.config.samples as u64,
                    min: 2,
                    max: crate::inference::MAX_SAMPLES as u64,
                });
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
            certain: QuantizedCategorical::from_fixed_point(&[crate::categorical::TOTAL])
                .expect("valid"),
            normalizer: None,
        }
    }

    /// The block's log-likelihoods and log joints into `w`.
    /// `P(x_j | z)` by position `j`, asked of the model once per block when it says the
    /// likelihood is the same at every position.
    fn likelihoods(&self, z: usize) -> impl Fn(usize) -> &'m QuantizedCategorical {
        let model = self.model;
        let same = model
            .same_likelihood_at_every_position()
            .then(|| model.likelihood(z, 0));
        move |j| same.unwrap_or_else(|| model.likelihood(z, j))
    }

    fn fill(&self, w: &mut BlockWork, x: &[u16]) {
        self.model.log2_likelihoods(x, &mut w.lik);
        for z in 0..w.lj.len() {
            w.lj[z] = w.lik[z] + w.log2_prior[z];
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
        bootstrap: bool,
    ) -> (Option<QuantizedCategorical>, usize) {
        self.fill(w, x);
        w.normalizer = None;
        if bootstrap || w.lj.len() == 1 {
            let map = crate::inference::argmax(&w.lj);
            let coded = if bootstrap || self.config.posterior == PosteriorKind::Map {
                None
            } else {
                Some(w.certain.clone())
            };
            return (coded, map);
        }
        let mut rng = BlockRng::for_block(self.config.seed, chunk, i as u64);
        let fit = posterior_fit(&w.lj, &self.config, &mut rng, None);
        w.normalizer = fit.normalizer;
        (fit.coded, fit.map)
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        w: &BlockWork,
        chunk: u64,
        i: usize,
        len: usize,
        q: &Option<QuantizedCategorical>,
        latent: usize,
        net_bits: f64,
        bootstrap: bool,
    ) -> BlockRecord {
        let terms = if !self.accounting {
            ElboTerms::default()
        } else {
            let prior = self.model.prior();
            // log2 P(x): from the exact fit when it ran (the same sum), else computed.
            let evidence = match w.normalizer {
                Some((m, s)) => m + crate::math::log2(s),
                None => crate::math::log2_sum_exp2(&w.lj),
            };
            match q {
                Some(q) => ElboTerms::of_block_parts(&w.lik, &w.lj, evidence, prior, |z| {
                    (q.prob(z), q.log2_prob(z))
                }),
                None => ElboTerms::of_block_parts(&w.lik, &w.lj, evidence, prior, |z| {
                    if z == latent {
                        (1.0, 0.0)
                    } else {
                        (0.0, f64::NEG_INFINITY)
                    }
                }),
            }
        };
        let log2_q = q.as_ref().map_or(0.0, |q| q.log2_prob(latent));
        BlockRecord {
            chunk,
            block: i,
            len,
            bootstrap,
            latent,
            latent_on: true,
            net_bits,
            coded_bits: -(w.lik[latent] + w.log2_prior[latent]) + log2_q,
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
        let mut bootstrap_blocks = 0;
        let fitted: Option<Vec<BlockFit>> = if self.parallel_fits {
            use rayon::prelude::*;
            Some(
                symbols
                    .par_chunks(self.block_size)
                    .enumerate()
                    .map_init(
                        || self.work(),
                        |w, (i, x)| {
                            let (coded, map) = self.fit_block(w, x, chunk, i, false);
                            BlockFit {
                                coded,
                                map,
                                lik: w.lik.clone(),
                                normalizer: w.normalizer,
                            }
                        },
                    )
                    .collect(),
            )
        } else {
            None
        };
        for (i, x) in symbols.chunks(self.block_size).enumerate() {
            let before = coder.num_valid_bits();
            let bootstrap = bootstrap_blocks == i && before < BOOTSTRAP_BITS;
            if bootstrap {
                bootstrap_blocks += 1;
            }
            let (q, map) = match &fitted {
                Some(f) => {
                    let fit = &f[i];
                    w.lik.copy_from_slice(&fit.lik);
                    for z in 0..w.lj.len() {
                        w.lj[z] = w.lik[z] + w.log2_prior[z];
                    }
                    if bootstrap {
                        w.normalizer = None;
                        (None, fit.map)
                    } else {
                        w.normalizer = fit.normalizer;
                        (fit.coded.clone(), fit.map)
                    }
                }
                None => self.fit_block(&mut w, x, chunk, i, bootstrap),
            };
            let z = match &q {
                Some(q) => {
                    scramble(&mut coder);
                    coder
                        .decode_symbol(q)
                        .map_err(|_| CodecError::Corrupt("pop from the encoder stack failed"))?
                }
                None => map,
            };
            let likelihood = self.likelihoods(z);
            for (j, &s) in x.iter().enumerate().rev() {
                let model = likelihood(j);
                let impossible = || CodecError::ImpossibleSymbol {
                    block: i,
                    position: j,
                    symbol: s as usize,
                    latent: z,
                };
                if model.len() != n {
                    return Err(impossible());
                }
                // The coder refuses a symbol outside the alphabet or of probability 0
                // (its only error with a vector backend), before it touches the stack.
                coder
                    .encode_symbol(s as usize, model)
                    .map_err(|_| impossible())?;
            }
            coder
                .encode_symbol(z, self.model.prior())
                .map_err(|_| CodecError::ZeroPrior(z))?;
            let net = coder.num_valid_bits() as f64 - before as f64;
            let rec = self.record(&w, chunk, i, x.len(), &q, z, net, bootstrap);
            totals.add_block(&rec);
            blocks.push(rec);
        }
        finish_encode(coder, bootstrap_blocks, blocks, totals)
    }

    /// Decode `len` symbols of chunk `chunk` from `words`, of which the first
    /// `bootstrap_blocks` blocks were coded without bits back.
    ///
    /// Fails with [`CodecError::Corrupt`] if the words are not exactly one encoded chunk
    /// (left-over data on the stack, or a trailing zero word).
    pub fn decode(
        &self,
        words: &[u32],
        len: usize,
        bootstrap_blocks: usize,
        chunk: u64,
    ) -> Result<DecodedChunk, CodecError> {
        self.check()?;
        let mut coder = start_decode(words, len, self.block_size, bootstrap_blocks)?;
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
            let likelihood = self.likelihoods(z);
            for (j, s) in symbols[start..end].iter_mut().enumerate() {
                let v = coder
                    .decode_symbol(likelihood(j))
                    .map_err(|_| CodecError::Corrupt("symbol"))?;
                *s = v as u16;
            }
            let x = &symbols[start..end];
            let bootstrap = i < bootstrap_blocks;
            let (q, map) = self.fit_block(&mut w, x, chunk, i, bootstrap);
            if let Some(q) = &q {
                coder
                    .encode_symbol(z, q)
                    .map_err(|_| CodecError::Corrupt("latent has zero posterior mass"))?;
                scramble(&mut coder);
            } else if bootstrap && z != map {
                // The encoder codes chunk starts with the MAP latent only.
                return Err(CodecError::Corrupt(
                    "chunk start latent is not the MAP latent",
                ));
            }
            let net = before as f64 - coder.num_valid_bits() as f64;
            blocks.push(self.record(&w, chunk, i, x.len(), &q, z, net, bootstrap));
        }
        finish_decode(&coder, blocks, symbols)
    }
}
