//! The bits-back chain for continuous latents: the same coding order as the discrete
//! chain (see the parent module), with the latent coded as one bin index per dimension.
//!
//! Encoder, block `i` (bits back): for each dimension `k`: scramble, pop `i_k` with
//! `Q_k` (the bin masses of the fitted `N(mu_k, sigma_k^2)`); push `x` with the
//! likelihood at the bins' representative point `z`; push the `i_k` with the uniform
//! bin prior. Decoder: pop the `i_k` with the prior, pop `x`, re-run the fit, push the
//! `i_k` back with `Q_k` (each followed by the scramble, in reverse).
//!
//! Importance-weighted bits-back ([`PosteriorKind::ImportanceWeighted`], `N` particles
//! at most, one at the first bits-back block of a chunk and one more at each block after
//! it), encoder: pop `N` bin vectors `z_1..z_N` with `Q` (each pop after a scramble);
//! scramble and pop the choice `j` with the particles' normalized importance weights
//! `w_k = P(x | z_k) P(z_k) / Q(z_k)` (coded masses); push the other particles back
//! with `Q` (in increasing `k`, each dimension in reverse); push `j` uniform over `N`;
//! push `x` with `P(x | z_j)`; push `z_j` with the prior. Decoder: pop `z_j`, `x` and `j`;
//! refit `Q`; pop the other particles (in decreasing `k`); push `j` with the weights,
//! scramble; push every particle back with `Q`, in reverse, each push followed by a
//! scramble. A block then costs `-log2 ((1/N) sum_k w_k)` (up to the choice's
//! quantization), whose expectation is the `N`-sample IWAE bound.
//!
//! Coupled particles ([`PosteriorKind::CoupledImportanceWeighted`], BB-CIS), encoder:
//! pop one point `U` of `Q`'s quantile space `[0, 2^24)` per dimension (each pop after
//! a scramble); particle `k` is the bins of `U + k 2^24 / N` (mod `2^24`) under `Q`;
//! scramble and pop `j` with their weights; push where particle `j`'s quantiles lie in
//! its bins (push the quantile uniformly, pop the bin with `Q`: an exact push in radix
//! `2^24 Q(bin)`); push `j` uniform; push `x` and `z_j` as above. Decoder: pop `z_j`,
//! `x` and `j`; refit `Q`; pop the offsets (push `z_j` with `Q`, pop the quantile),
//! which give `U`; push `j` with the weights of `U`'s shifts, scramble; push `U`, each
//! dimension followed by a scramble. Each particle is distributed as `Q`, so the mean
//! of the weights is still an unbiased estimate of `P(x)` and the block costs its
//! bound in expectation (the coupled particles' own, which measures at or below the
//! independent one's with few particles); the stack pays for one point instead of `N`
//! particles, so there is no ramp, only a chunk-start threshold of `24 d + 32` bits.
//!
//! Rate accounting uses the coded, discrete model. Its ELBO has an exact part, the KL of
//! each `Q_k` to the uniform bin prior (enumerated over the bins), and a Monte Carlo
//! part, `E_Q[log2 P(x | z(i))]`, estimated from [`EVAL_SAMPLES`] bin vectors drawn from
//! `Q` (as the bins of `z = mu + sigma eps`, sharing each draw with the continuous
//! estimate); the same draws give the IWAE estimate of `log2 P(x)` and the sample variance of
//! the coded bits. The continuous model's ELBO (before discretization) is estimated from
//! the same `Q` so that the report can state the bin cost.
#![allow(clippy::needless_range_loop)] // index loops read like the formulas

use constriction::stream::stack::DefaultAnsCoder;
use constriction::stream::{Decode, Encode};

use super::{
    finish_decode, finish_encode, scramble, start_decode, DecodedChunk, EncodedChunk,
    BOOTSTRAP_BITS,
};
use core::num::NonZeroU32;

use constriction::stream::model::{EncoderModel, EntropyModel};

use super::bins::LatentBins;
use super::{particles, ContinuousLatentModel};
use crate::categorical::{AnsModel, QuantizedCategorical, MAX_ALPHABET, PRECISION};
use crate::error::CodecError;
use crate::inference::gaussian::{
    map_fit, reparam_fit, standard_normal, DiagGaussian, ReparamConfig,
};
use crate::inference::{Estimator, PosteriorKind, MAX_PARTICLES};
use crate::math;
use crate::report::{BlockRecord, ElboTerms, RateTotals};
use crate::rng::BlockRng;

/// Monte Carlo samples per block for `-ELBO`, IWAE and the continuous ELBO.
pub const EVAL_SAMPLES: usize = 16;

/// Importance samples per block of the accounting's IWAE estimate of `log2 P(x)`: as
/// asked (`asked > 0`), but at least [`EVAL_SAMPLES`] (the first of them also give
/// `-ELBO`) and the particles of importance weighting; by default [`EVAL_SAMPLES`],
/// and `16 N` under importance weighting with `N` particles, far more than the particles
/// a block codes with. At most [`MAX_IWAE_SAMPLES`].
pub fn iwae_samples(posterior: PosteriorKind, asked: u32) -> usize {
    let n = posterior.particles() as usize;
    match asked {
        0 => EVAL_SAMPLES.max(16 * n),
        k => (k as usize).max(EVAL_SAMPLES).max(n),
    }
    .min(MAX_IWAE_SAMPLES)
}

/// Most importance samples per block of the accounting.
pub const MAX_IWAE_SAMPLES: usize = 1 << 16;

/// An encoder model for one already-known interval (the encoder collects the intervals
/// of a block's symbols in coding order, then pushes them in reverse).
struct KnownInterval(u32, NonZeroU32);

impl EntropyModel<PRECISION> for KnownInterval {
    type Symbol = usize;
    type Probability = u32;
}

impl EncoderModel<PRECISION> for KnownInterval {
    fn left_cumulative_and_probability(
        &self,
        _symbol: impl core::borrow::Borrow<usize>,
    ) -> Option<(u32, NonZeroU32)> {
        Some((self.0, self.1))
    }
}

/// Configuration of the continuous chain (stored in the file header).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ContinuousConfig {
    /// `Bbvi(Reparameterization)`, `ImportanceWeighted(N)` (over the same fit) or `Map`.
    pub posterior: PosteriorKind,
    /// Adam iterations of the fit.
    pub iterations: u32,
    /// Draws per iteration.
    pub samples: u32,
    /// Adam step size.
    pub learning_rate: f32,
    /// File seed.
    pub seed: u64,
    /// Bins per dimension are `2^bin_bits`.
    pub bin_bits: u32,
    /// Importance samples per block of the accounting's IWAE estimate (0: the default;
    /// see [`iwae_samples`]). Not stored.
    pub iwae_samples: u32,
}

impl ContinuousConfig {
    /// The fit's settings for the reparameterization and MAP fits (at least one draw).
    pub fn reparam(&self) -> ReparamConfig {
        ReparamConfig {
            iterations: self.iterations,
            samples: self.samples.max(1),
            learning_rate: self.learning_rate as f64,
        }
    }
}

impl Default for ContinuousConfig {
    fn default() -> Self {
        Self {
            posterior: PosteriorKind::Bbvi(Estimator::Reparameterization),
            iterations: 64,
            samples: 4,
            learning_rate: 0.1,
            seed: 0x6262_636f_6465_6331,
            bin_bits: 10,
            iwae_samples: 0,
        }
    }
}

/// Bits-back coder for a [`ContinuousLatentModel`].
pub struct ContinuousBitsBackCoder<'m, M: ContinuousLatentModel> {
    model: &'m M,
    block_size: usize,
    config: ContinuousConfig,
    bins: LatentBins,
    accounting: bool,
    parallel_fits: bool,
}

/// The coded latent of one block and what is needed to account for it.
struct Latent {
    q: DiagGaussian,
    /// Bin distributions per dimension (None: point mass, no bits back).
    coded: Option<Vec<QuantizedCategorical>>,
    idx: Vec<usize>,
    /// Importance weighting with more than one particle: `log2 N + log2 W(j)`, the
    /// bits the particle choice adds to the coded length of the chosen particle (`W`
    /// the coded distribution of the choice, `j` the chosen one); 0 otherwise.
    choice_bits: f64,
    /// The particles the block was coded with (1 without importance weighting).
    particles: usize,
}

impl Latent {
    /// Record that particle `j` of those `w` (the choice's coded distribution) weighs
    /// was chosen: what the choice adds to the block's coded length.
    fn chose(&mut self, w: &QuantizedCategorical, j: usize) {
        self.particles = w.len();
        self.choice_bits = particles::choice_bits(w, j);
    }
}

impl<'m, M: ContinuousLatentModel> ContinuousBitsBackCoder<'m, M> {
    /// A coder for `model` with blocks of `block_size` symbols.
    pub fn new(
        model: &'m M,
        block_size: usize,
        config: ContinuousConfig,
    ) -> Result<Self, CodecError> {
        let d = model.latent_dim();
        if d == 0 {
            return Err(CodecError::OutOfRange {
                what: "latent dimension",
                got: 0,
                min: 1,
                max: u64::MAX,
            });
        }
        let n = model.alphabet_size();
        if n == 0 || n > MAX_ALPHABET {
            return Err(CodecError::OutOfRange {
                what: "alphabet size",
                got: n as u64,
                min: 1,
                max: MAX_ALPHABET as u64,
            });
        }
        if block_size == 0 {
            return Err(CodecError::OutOfRange {
                what: "block size",
                got: 0,
                min: 1,
                max: u64::MAX,
            });
        }
        match config.posterior {
            PosteriorKind::Bbvi(Estimator::Reparameterization) | PosteriorKind::Map => {}
            PosteriorKind::ImportanceWeighted(n) | PosteriorKind::CoupledImportanceWeighted(n)
                if (1..=MAX_PARTICLES).contains(&n) => {}
            other => {
                return Err(CodecError::Posterior {
                    posterior: other.label(),
                    latent: "continuous",
                    expected:
                        "bbvi with the reparam estimator, iw or cis with 1..=256 particles, or map",
                })
            }
        }
        Ok(Self {
            model,
            block_size,
            config,
            bins: LatentBins::new(config.bin_bits)?,
            accounting: true,
            parallel_fits: false,
        })
    }

    /// Compute the Monte Carlo ELBO terms, IWAE and bin cost of every block (default).
    /// Without them a decoder only measures net bits.
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

    /// Fit block `i` and choose how its latent is coded.
    fn fit(&self, pre: &M::Block, chunk: u64, i: usize, bootstrap: bool) -> Latent {
        self.latent(self.fit_q(pre, chunk, i), bootstrap)
    }

    /// The fitted posterior of block `i` (independent of the chain's state).
    fn fit_q(&self, pre: &M::Block, chunk: u64, i: usize) -> DiagGaussian {
        let d = self.model.latent_dim();
        let mut llg = |z: &[f64], g: &mut [f64]| self.model.log_lik_grad(pre, z, g);
        let init = self
            .model
            .initial_posterior(pre)
            .filter(|q| q.dim() == d && q.mu.iter().chain(&q.rho).all(|v| v.is_finite()))
            .unwrap_or_else(|| DiagGaussian::standard(d));
        match self.config.posterior {
            PosteriorKind::Map => DiagGaussian {
                mu: map_fit(&init.mu, &self.config.reparam(), &mut llg),
                rho: vec![math::ln(0.25); d],
            },
            _ => {
                let mut rng = BlockRng::for_block(self.config.seed, chunk, i as u64);
                reparam_fit(init, &self.config.reparam(), &mut rng, &mut llg, None)
            }
        }
    }

    /// How a fitted posterior is coded: bins popped from `Q`, or (chunk start, MAP) a
    /// point mass.
    fn latent(&self, q: DiagGaussian, bootstrap: bool) -> Latent {
        let d = self.model.latent_dim();
        if bootstrap || self.config.posterior == PosteriorKind::Map {
            let idx = q.mu.iter().map(|&m| self.bins.bin_of(m)).collect();
            Latent {
                q,
                coded: None,
                idx,
                choice_bits: 0.0,
                particles: 1,
            }
        } else {
            let coded = (0..d)
                .map(|k| self.bins.posterior(q.mu[k], q.sigma(k)))
                .collect();
            Latent {
                q,
                coded: Some(coded),
                idx: vec![0; d],
                choice_bits: 0.0,
                particles: 1,
            }
        }
    }

    /// Particles per block (1 unless importance-weighted).
    fn particles(&self) -> usize {
        self.config.posterior.particles() as usize
    }

    /// Particles of block `i` of a chunk whose first `bootstrap_blocks` blocks are its
    /// start ([`particles::ramp`]).
    /// Coupled particles need no ramp: a block pops one point whatever `N`.
    fn particles_at(&self, i: usize, bootstrap_blocks: usize) -> usize {
        if self.config.posterior.coupled() {
            self.particles()
        } else {
            particles::ramp(self.particles(), i, bootstrap_blocks)
        }
    }

    /// Bits the stack must hold before a chunk's first bits-back block: the chain's
    /// threshold, and with coupled particles at least the point's `24 d` bits and a
    /// word, so that the point is a fair draw.
    fn start_bits(&self) -> usize {
        if self.config.posterior.coupled() {
            BOOTSTRAP_BITS.max(PRECISION * self.model.latent_dim() + 32)
        } else {
            BOOTSTRAP_BITS
        }
    }

    /// The coded distribution of the particle choice: the particles' importance weights
    /// `w_k = P(x | z_k) P(z_k) / Q(z_k)` from the coded masses, normalized (every
    /// particle keeps a probability of at least `2^-24`).
    fn choice_model(
        &self,
        x: &[u16],
        parts: &[Vec<usize>],
        coded: &[QuantizedCategorical],
    ) -> Result<QuantizedCategorical, CodecError> {
        let d = self.model.latent_dim();
        let b = self.config.bin_bits as f64;
        let mut log_w = Vec::with_capacity(parts.len());
        for p in parts {
            let log_q: f64 = (0..d).map(|k| coded[k].log2_prob(p[k])).sum();
            log_w.push(self.log2_lik_coded(x, &self.z_of(p))? - d as f64 * b - log_q);
        }
        particles::choice_from_log_weights(&log_w)
    }

    fn z_of(&self, idx: &[usize]) -> Vec<f64> {
        idx.iter().map(|&i| self.bins.rep(i)).collect()
    }

    fn log2_lik_coded(&self, x: &[u16], z: &[f64]) -> Result<f64, CodecError> {
        let mut liks = self.model.block_likelihood(z, x.len());
        let mut s = 0.0;
        for (j, &v) in x.iter().enumerate() {
            s += liks.position(j, &x[..j])?.log2_prob(v as usize);
        }
        Ok(s)
    }

    /// ELBO terms of the coded latent by enumeration (per-dimension KL) and Monte Carlo.
    fn evaluate(
        &self,
        pre: &M::Block,
        x: &[u16],
        lat: &Latent,
        chunk: u64,
        i: usize,
    ) -> Result<ElboTerms, CodecError> {
        let d = self.model.latent_dim();
        let b = self.config.bin_bits as f64;
        let mut rng =
            BlockRng::for_block(self.config.seed ^ 0x6576_616c_7561_7465, chunk, i as u64);
        // The proposal for IWAE: the coded Q, or (for point masses) the fitted Gaussian.
        let proposal: Vec<QuantizedCategorical> = match &lat.coded {
            Some(c) => c.clone(),
            None => (0..d)
                .map(|k| self.bins.posterior(lat.q.mu[k], lat.q.sigma(k)))
                .collect(),
        };
        // Common random numbers: each draw eps gives the continuous z = mu + sigma eps
        // and its bins i_k = bin_of(z_k), which are distributed as the bin masses of q
        // (the coded Q up to its 24-bit quantization). The discrete and continuous
        // estimates then share their noise, so the bin cost is measured precisely.
        let samples = iwae_samples(self.config.posterior, self.config.iwae_samples);
        let mut log_w = Vec::with_capacity(samples);
        let mut lls = Vec::with_capacity(EVAL_SAMPLES);
        let mut cont_lls = Vec::with_capacity(EVAL_SAMPLES);
        let mut idx = vec![0usize; d];
        let mut eps = vec![0.0; d];
        let mut z = vec![0.0; d];
        for draw in 0..samples {
            standard_normal(&mut rng, &mut eps);
            lat.q.reparameterize(&eps, &mut z);
            let mut log_q = 0.0;
            for k in 0..d {
                idx[k] = self.bins.bin_of(z[k]);
                log_q += proposal[k].log2_prob(idx[k]);
            }
            let ll = self.log2_lik_coded(x, &self.z_of(&idx))?;
            log_w.push(ll - d as f64 * b - log_q);
            if draw < EVAL_SAMPLES {
                lls.push(ll);
                cont_lls.push(self.model.log_lik(pre, &z) / math::LN_2);
            }
        }
        let s = EVAL_SAMPLES as f64;
        let log_evidence = math::log2_sum_exp2(&log_w) - math::log2(samples as f64);
        let mut t = ElboTerms {
            log_evidence,
            ..Default::default()
        };
        match &lat.coded {
            Some(c) => {
                // Exact per-dimension parts.
                (t.entropy, t.kl_prior) = self.bins.entropy_and_kl(c);
                let (mean_ll, var_ll) = math::mean_variance(&lls);
                t.ell_variance = math::mean_variance(&log_w).1;
                t.expected_log_lik = mean_ll;
                t.elbo_estimate_variance = var_ll / s;
            }
            None => {
                let ll = self.log2_lik_coded(x, &self.z_of(&lat.idx))?;
                t.expected_log_lik = ll;
                t.kl_prior = d as f64 * b;
            }
        }
        t.expected_log_joint = t.expected_log_lik - d as f64 * b;
        let elbo = t.expected_log_lik - t.kl_prior;
        t.kl_posterior = t.log_evidence - elbo;
        // Continuous ELBO of the fitted Gaussian (bits), for the bin cost.
        let cont = cont_lls.iter().sum::<f64>() / s;
        t.continuous_elbo = cont - lat.q.kl_to_standard_normal() / math::LN_2;
        // With particles: the N-particle bound from the draws in groups of N, or from
        // coupled groups (one point each, as the chain draws them).
        match (&lat.coded, self.config.posterior.coupled()) {
            (Some(c), true) if lat.particles > 1 => {
                let mut rng = BlockRng::for_block(
                    self.config.seed ^ particles::COUPLED_SEED,
                    chunk,
                    i as u64,
                );
                let prior_bits = d as f64 * b;
                particles::set_coupled_bound(
                    &mut t,
                    &mut rng,
                    lat.particles,
                    samples / lat.particles,
                    c,
                    |p| {
                        let log_q: f64 = (0..d).map(|k| c[k].log2_prob(p[k])).sum();
                        self.log2_lik_coded(x, &self.z_of(p))
                            .unwrap_or(f64::NEG_INFINITY)
                            - prior_bits
                            - log_q
                    },
                );
            }
            _ => particles::set_iw_bound(&mut t, &log_w, lat.particles),
        }
        Ok(t)
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        pre: &M::Block,
        x: &[u16],
        lat: &Latent,
        chunk: u64,
        i: usize,
        net_bits: f64,
        bootstrap: bool,
    ) -> Result<BlockRecord, CodecError> {
        let d = self.model.latent_dim();
        let ll = self.log2_lik_coded(x, &self.z_of(&lat.idx))?;
        let log_q: f64 = match &lat.coded {
            Some(c) => (0..d).map(|k| c[k].log2_prob(lat.idx[k])).sum(),
            None => 0.0,
        };
        Ok(BlockRecord {
            chunk,
            block: i,
            len: x.len(),
            bootstrap,
            latent: lat.idx.first().copied().unwrap_or(0),
            latent_on: true,
            net_bits,
            coded_bits: -ll + d as f64 * self.config.bin_bits as f64 + log_q + lat.choice_bits,
            terms: if self.accounting {
                self.evaluate(pre, x, lat, chunk, i)?
            } else {
                ElboTerms::default()
            },
        })
    }

    /// Encode `symbols` as one chunk.
    pub fn encode(&self, symbols: &[u16], chunk: u64) -> Result<EncodedChunk, CodecError> {
        let n = self.model.alphabet_size();
        let mut coder = DefaultAnsCoder::new();
        let mut blocks = Vec::new();
        let mut totals = RateTotals::default();
        let mut bootstrap_blocks = 0;
        let mut intervals = Vec::with_capacity(self.block_size);
        let mut fitted: Vec<Option<DiagGaussian>> = if self.parallel_fits {
            use rayon::prelude::*;
            symbols
                .par_chunks(self.block_size)
                .enumerate()
                .map(|(i, x)| Some(self.fit_q(&self.model.prepare(x), chunk, i)))
                .collect()
        } else {
            Vec::new()
        };
        for (i, x) in symbols.chunks(self.block_size).enumerate() {
            let before = coder.num_valid_bits();
            let bootstrap = bootstrap_blocks == i && before < self.start_bits();
            if bootstrap {
                bootstrap_blocks += 1;
            }
            let pre = self.model.prepare(x);
            let q = match fitted.get_mut(i).and_then(Option::take) {
                Some(q) => q,
                None => self.fit_q(&pre, chunk, i),
            };
            let mut lat = self.latent(q, bootstrap);
            // Importance weighting: the particles not chosen, and the choice.
            let mut others = None;
            let mut coupled = None;
            if let (Some(c), true) = (&lat.coded, self.config.posterior.coupled()) {
                // Coupled particles: one point of the quantile space, N shifts of it.
                let n_parts = self.particles();
                let base = particles::pop_point(&mut coder, c.len())?;
                let parts = particles::coupled_particles(&base, n_parts, c);
                let j = if n_parts > 1 {
                    let w = self.choice_model(x, &parts, c)?;
                    let j = particles::pop_choice(&mut coder, &w)?;
                    lat.chose(&w, j);
                    j
                } else {
                    0
                };
                lat.idx = parts[j].clone();
                coupled = Some((base, j, n_parts));
            } else if let Some(c) = &lat.coded {
                let n_parts = self.particles_at(i, bootstrap_blocks);
                let mut parts = vec![vec![0; c.len()]; n_parts];
                for p in parts.iter_mut() {
                    for (k, q) in c.iter().enumerate() {
                        scramble(&mut coder);
                        p[k] = coder
                            .decode_symbol(q)
                            .map_err(|_| CodecError::Corrupt("latent pop"))?;
                    }
                }
                if n_parts > 1 {
                    let w = self.choice_model(x, &parts, c)?;
                    let j = particles::pop_choice(&mut coder, &w)?;
                    lat.chose(&w, j);
                    lat.idx = parts[j].clone();
                    others = Some((parts, j));
                } else {
                    lat.idx = parts.swap_remove(0);
                }
            }
            let z = self.z_of(&lat.idx);
            let mut liks = self.model.block_likelihood(&z, x.len());
            intervals.clear();
            for (j, &s) in x.iter().enumerate() {
                let interval = if (s as usize) < n {
                    liks.position(j, &x[..j])?.interval(s as usize)
                } else {
                    None
                };
                match interval.and_then(|(l, p)| NonZeroU32::new(p).map(|p| (l, p))) {
                    Some((l, p)) => intervals.push(KnownInterval(l, p)),
                    None => {
                        return Err(CodecError::ImpossibleSymbol {
                            block: i,
                            position: j,
                            symbol: s as usize,
                            latent: lat.idx[0],
                        })
                    }
                }
            }
            drop(liks);
            if let (Some((parts, j)), Some(c)) = (&others, &lat.coded) {
                // The other particles go back with Q, then the choice, uniform over N.
                for (k, p) in parts.iter().enumerate() {
                    if k == *j {
                        continue;
                    }
                    for (dim, q) in c.iter().enumerate().rev() {
                        coder
                            .encode_symbol(p[dim], q)
                            .map_err(|_| CodecError::Corrupt("particle push"))?;
                    }
                }
                coder
                    .encode_symbol(*j, &particles::uniform_choice(parts.len())?)
                    .map_err(|_| CodecError::Corrupt("choice push"))?;
            }
            if let (Some((base, j, n_parts)), Some(c)) = (&coupled, &lat.coded) {
                // Where the chosen particle lies in its bins, then the choice.
                particles::push_offsets(&mut coder, base, *j, *n_parts, c)?;
                if *n_parts > 1 {
                    coder
                        .encode_symbol(*j, &particles::uniform_choice(*n_parts)?)
                        .map_err(|_| CodecError::Corrupt("choice push"))?;
                }
            }
            for (m, &s) in intervals.iter().zip(x).rev() {
                coder
                    .encode_symbol(s as usize, m)
                    .map_err(|_| CodecError::Corrupt("symbol push"))?;
            }
            for &bin in lat.idx.iter().rev() {
                coder
                    .encode_symbol(bin, self.bins.prior())
                    .map_err(|_| CodecError::Corrupt("latent push"))?;
            }
            let net = coder.num_valid_bits() as f64 - before as f64;
            let rec = self.record(&pre, x, &lat, chunk, i, net, bootstrap)?;
            totals.add_block(&rec);
            blocks.push(rec);
        }
        finish_encode(coder, bootstrap_blocks, blocks, totals)
    }

    /// Decode `len` symbols of chunk `chunk`, whose first `bootstrap_blocks` blocks were
    /// coded without bits back.
    pub fn decode(
        &self,
        words: &[u32],
        len: usize,
        bootstrap_blocks: usize,
        chunk: u64,
    ) -> Result<DecodedChunk, CodecError> {
        let nblocks = len.div_ceil(self.block_size);
        let d = self.model.latent_dim();
        let n = self.model.alphabet_size();
        let mut coder = start_decode(words, len, self.block_size, bootstrap_blocks)?;
        let mut symbols = vec![0u16; len];
        let mut blocks = Vec::with_capacity(nblocks);
        for i in (0..nblocks).rev() {
            let start = i * self.block_size;
            let end = (start + self.block_size).min(len);
            let before = coder.num_valid_bits();
            let mut idx = vec![0usize; d];
            for v in idx.iter_mut() {
                *v = coder
                    .decode_symbol(self.bins.prior())
                    .map_err(|_| CodecError::Corrupt("latent"))?;
            }
            let z = self.z_of(&idx);
            let mut liks = self.model.block_likelihood(&z, end - start);
            for j in 0..end - start {
                let m = liks.position(j, &symbols[start..start + j])?;
                let s = coder
                    .decode_symbol(AnsModel(m))
                    .map_err(|_| CodecError::Corrupt("symbol"))?;
                if s >= n {
                    return Err(CodecError::Corrupt("symbol outside the alphabet"));
                }
                symbols[start + j] = s as u16;
            }
            drop(liks);
            let x = &symbols[start..end];
            let bootstrap = i < bootstrap_blocks;
            let n_parts = self.particles_at(i, bootstrap_blocks);
            // Importance weighting: the choice comes off the stack right after `x`.
            let j = if n_parts > 1 && !bootstrap {
                coder
                    .decode_symbol(&particles::uniform_choice(n_parts)?)
                    .map_err(|_| CodecError::Corrupt("choice"))?
            } else {
                0
            };
            let pre = self.model.prepare(x);
            let mut lat = self.fit(&pre, chunk, i, bootstrap);
            match &lat.coded {
                Some(c) if self.config.posterior.coupled() => {
                    // The chosen particle's place in its bins gives the point; then
                    // the choice back with the weights of its N shifts, and the point.
                    let chosen = particles::undo_coupled(&mut coder, &idx, j, n_parts, c, |p| {
                        self.choice_model(x, p, c)
                    })?;
                    if let Some(w) = chosen {
                        lat.chose(&w, j);
                    }
                }
                Some(c) if n_parts > 1 => {
                    // The other particles, in the reverse of the encoder's order, then
                    // the choice back with their weights, then every particle back
                    // with Q as the encoder popped them.
                    let mut parts = vec![vec![0; d]; n_parts];
                    for k in (0..n_parts).rev() {
                        if k == j {
                            continue;
                        }
                        for (dim, q) in c.iter().enumerate() {
                            parts[k][dim] = coder
                                .decode_symbol(q)
                                .map_err(|_| CodecError::Corrupt("particle"))?;
                        }
                    }
                    parts[j] = idx.clone();
                    let w = self.choice_model(x, &parts, c)?;
                    particles::push_choice(&mut coder, j, &w)?;
                    for p in parts.iter().rev() {
                        for k in (0..d).rev() {
                            coder
                                .encode_symbol(p[k], &c[k])
                                .map_err(|_| CodecError::Corrupt("latent push"))?;
                            scramble(&mut coder);
                        }
                    }
                    lat.chose(&w, j);
                }
                Some(c) => {
                    for k in (0..d).rev() {
                        coder
                            .encode_symbol(idx[k], &c[k])
                            .map_err(|_| CodecError::Corrupt("latent push"))?;
                        scramble(&mut coder);
                    }
                }
                None => {
                    if lat.idx != idx {
                        return Err(CodecError::Corrupt(
                            "point-mass latent does not match its fit",
                        ));
                    }
                }
            }
            lat.idx = idx;
            let net = before as f64 - coder.num_valid_bits() as f64;
            blocks.push(self.record(&pre, x, &lat, chunk, i, net, bootstrap)?);
        }
        finish_decode(&coder, blocks, symbols)
    }
}
