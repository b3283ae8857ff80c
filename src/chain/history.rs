//! The history chain: bits-back coding for a model whose predictions for block `i`
//! depend on every earlier block (a context-mixing byte model), with a continuous
//! latent per block that adjusts the block's predictions but never the model's state.
//!
//! The model's statistics come from the latent-free predictions only, so the encoder
//! can run the model forward once over the chunk, keeping each block's latent-free
//! [`HistoryModel::Stats`], and then run the chain from the **last block to the
//! first**; the decoder decodes blocks in file order, rebuilding each block's
//! statistics as it pops its symbols. Per block, on the stack (encoder, `i = N-1..0`):
//!
//! ```text
//! latent on:   scramble, pop u_i with Q_i     # bits back (seed Eq. 2)
//!              push x_i with P(x_i | u_i, history)
//!              push u_i with the bin prior
//!              push the flag "on"
//! latent off:  push x_i with P(x_i | u = 0, history)
//!              push the flag "off"
//! ```
//!
//! The decoder mirrors it: pop the flag; if on, pop `u_i` with the prior; pop `x_i`
//! (learning it); if on, re-run the fit of `Q_i` on the block's statistics and push
//! `u_i` back with it, then scramble. `Q_i` is a diagonal Gaussian in the standardized
//! latent `u ~ N(0, I)` (the model scales it), coded as equal-mass bins as in the
//! continuous chain, and fitted from the model's deterministic start (a Laplace step)
//! by reparameterization BBVI (seed Eq. 7), by MAP (two-part: `u` sent at its bins'
//! cost), or not at all (`iterations = 0`: the Laplace posterior itself).
//!
//! **Importance weighting** ([`PosteriorKind::ImportanceWeighted`], `N` particles; the
//! order of the continuous chain, [`super::continuous`]). Encoder, a block whose latent
//! is on: pop `N` particles `u_1..u_N` with `Q_i` (each pop after a scramble); scramble
//! and pop the choice `j` with the normalized importance weights `P(x_i | u_k) P(u_k) /
//! Q_i(u_k)` of the coded masses; push the other particles back with `Q_i`; push `j`
//! uniform over `N`; then `x_i`, `u_j` and the flag as above. The decoder pops the
//! flag, `u_j` and `x_i`, then `j` (uniform), refits `Q_i`, pops the other particles,
//! pushes `j` back with the weights and every particle with `Q_i`. The block costs
//! `-log2 ((1/N) sum_k w_k)`, whose expectation is the `N`-sample IWAE bound. The
//! particles ramp up from one at a segment's first bits-back block (in coding order) to
//! `N`, so the segment's start needs no more than [`BOOTSTRAP_BITS`]. Coupled particles
//! ([`PosteriorKind::CoupledImportanceWeighted`]) code as in the continuous chain: one
//! point of `Q`'s quantile space, `N` shifts of it, no ramp, and a segment start of at
//! least `24 d + 32` bits.
//!
//! **The flag.** The encoder turns a block's latent off when its estimated `-ELBO`
//! does not beat the latent-free code length by a bit and two standard errors of the
//! estimate; the flag is coded with the adaptive
//! probability `(ons + 1/2) / (i + 1)` of the flags of the blocks before it in file
//! order (which both sides know when it is coded). Its bits count in `net_bits`,
//! `-ELBO` and `-log P(x)` alike: they are part of what block `i`'s message costs.
//!
//! **Chain start.** The blocks coded first are the last in file order. While the stack
//! holds fewer than [`BOOTSTRAP_BITS`] bits, blocks are coded latent-free and without a
//! flag; their count `B` is stored, and the decoder treats the last `B` blocks so.
#![allow(clippy::needless_range_loop)] // index loops read like the formulas

use constriction::stream::stack::DefaultAnsCoder;
use constriction::stream::{Decode, Encode};

use super::bins::LatentBins;
use super::continuous::iwae_samples;
use super::{
    particles, scramble, start_decode, ChainSegment, ContinuousConfig, SegmentedChunk,
    BOOTSTRAP_BITS,
};
use crate::categorical::{AnsModel, QuantizedCategorical, SymbolModel, PRECISION};
use crate::error::CodecError;
use crate::inference::gaussian::{map_fit, reparam_fit, score_fit, standard_normal, DiagGaussian};
use crate::inference::{Estimator, PosteriorKind};
use crate::math;
use crate::report::{BlockRecord, ElboTerms, RateTotals};
use crate::rng::BlockRng;

/// Bits of a [`Bit`] probability: `p` in `1..=4095` stands for `p / 4096`.
pub const BIT_PROB_BITS: u32 = 12;

/// Monte Carlo draws per block for the accounting of a latent that is on (and for the
/// encoder's choice of the flag).
pub const EVAL_SAMPLES: usize = 8;

/// The random stream of the draws that choose a block's flag (encoder only).
const CHOICE_STREAM: u64 = 0x6576_616c_7561_7465;

/// The random stream of the draws of a block's reported ELBO terms (both sides),
/// independent of [`CHOICE_STREAM`]'s.
const FULL_TERMS_STREAM: u64 = 0x7465_726d_7321_0a00;

/// One bit with probability `p / 4096` of a 1 (`1..=4095`), as a two-symbol
/// fixed-point model: `0` takes `[0, (4096 - p) 2^12)`, `1` the rest of `[0, 2^24)`.
#[derive(Clone, Copy, Debug)]
pub struct Bit(pub u32);

const BIT_SHIFT: u32 = PRECISION as u32 - BIT_PROB_BITS;

impl SymbolModel for Bit {
    fn alphabet_size(&self) -> usize {
        2
    }

    #[inline]
    fn interval(&self, s: usize) -> Option<(u32, u32)> {
        let zero = (4096 - self.0) << BIT_SHIFT;
        match s {
            0 => Some((0, zero)),
            1 => Some((zero, self.0 << BIT_SHIFT)),
            _ => None,
        }
    }

    #[inline]
    fn quantile(&self, q: u32) -> (usize, u32, u32) {
        let zero = (4096 - self.0) << BIT_SHIFT;
        if q < zero {
            (0, 0, zero)
        } else {
            (1, zero, self.0 << BIT_SHIFT)
        }
    }
}

/// The bytes of one chunk and the measurements, recomputed while decoding.
#[derive(Clone, Debug)]
pub struct DecodedBytes {
    /// The decoded bytes.
    pub data: Vec<u8>,
    /// Per-block records, in block order.
    pub blocks: Vec<BlockRecord>,
    /// Sums over the blocks.
    pub totals: RateTotals,
}

/// A byte model with history and a per-block latent, as the history chain codes it.
///
/// The latent is given to the model as the standardized `u` (bin representatives of
/// `N(0, I)`), or `None` for a block coded latent-free.
pub trait HistoryModel {
    /// Everything about one block that its likelihood needs, from the latent-free
    /// predictions: the chain keeps these instead of the model's state.
    type Stats: Send + Sync;

    /// Latent dimension (0: no latent; every block is coded latent-free, without a
    /// flag).
    fn latent_dim(&self) -> usize;

    /// Encoder: learn block `x` (blocks come in file order) and return its statistics.
    fn observe(&mut self, x: &[u8]) -> Self::Stats;

    /// Decoder: pop a block of `len` bytes coded with latent `u`, learning it; append
    /// its bytes to `out` and return its statistics.
    fn pop_block(
        &mut self,
        coder: &mut DefaultAnsCoder,
        u: Option<&[f64]>,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<Self::Stats, CodecError>;

    /// Push the block with latent `u` (its symbols last to first).
    fn push_block(
        &self,
        coder: &mut DefaultAnsCoder,
        stats: &Self::Stats,
        u: Option<&[f64]>,
    ) -> Result<(), CodecError>;

    /// `log2 P(x | u)` of the coded (fixed-point) predictions.
    fn log2_lik_coded(&self, stats: &Self::Stats, u: Option<&[f64]>) -> f64;

    /// The smooth `ln p(x | u)` the fit ascends, and its gradient in `grad` (the fit
    /// only has to be reproducible, so this may approximate, e.g. on a subsample).
    fn log_lik_grad(&self, stats: &Self::Stats, u: &[f64], grad: &mut [f64]) -> f64;

    /// The smooth `ln p(x | u)` over every bit, for the continuous ELBO the reports
    /// give; by default [`HistoryModel::log_lik_grad`]'s value.
    fn log_lik_smooth(&self, stats: &Self::Stats, u: &[f64]) -> f64 {
        let mut grad = vec![0.0; u.len()];
        self.log_lik_grad(stats, u, &mut grad)
    }

    /// The fit's deterministic start.
    fn initial_posterior(&self, stats: &Self::Stats) -> DiagGaussian;

    /// Encoder: choose the latent's scales for a segment from its statistics, before
    /// any of its blocks is coded (the decoder reads them from the chunk's parameters).
    fn choose_scales(&mut self, segment: &[Self::Stats]);

    /// Decoder: use the stored scales of segment `s` (0-based, in file order).
    fn start_segment(&mut self, s: usize) -> Result<(), CodecError>;

    /// The most bytes a stack of one word can code: the model's probabilities have a
    /// floor, so every byte costs at least `32 / bound` bits of the stack (for bits
    /// coded as [`Bit`]s: `8 log2(4096 / 4095)`, so [`BIT_BYTES_PER_WORD`]).
    fn bytes_per_word(&self) -> u64;
}

/// [`HistoryModel::bytes_per_word`] for a model that codes every bit as a [`Bit`]:
/// `ceil(32 / (8 log2(4096 / 4095))) = 11,356` bytes per 32-bit word.
pub const BIT_BYTES_PER_WORD: u64 = 11_356;

/// The coded latent of one block.
#[derive(Clone, Debug)]
struct Latent {
    q: DiagGaussian,
    /// The coded masses of `q` per dimension ([`HistoryBitsBackCoder::coded_q`]; empty
    /// until the block is fitted).
    coded: Vec<QuantizedCategorical>,
    on: bool,
    idx: Vec<usize>,
    /// Importance weighting with more than one particle: the bits the particle choice
    /// adds to the coded length of the chosen particle ([`particles::choice_bits`]).
    choice_bits: f64,
    /// The particles the block was coded with (1 without importance weighting).
    particles: usize,
}

impl Latent {
    fn new(q: DiagGaussian, on: bool, idx: Vec<usize>) -> Self {
        Self {
            q,
            coded: Vec::new(),
            on,
            idx,
            choice_bits: 0.0,
            particles: 1,
        }
    }

    /// Record that particle `j` was chosen with the coded distribution `w`.
    fn chose(&mut self, w: &QuantizedCategorical, j: usize) {
        self.particles = w.len();
        self.choice_bits = particles::choice_bits(w, j);
    }
}

/// Bits-back coder for a [`HistoryModel`].
pub struct HistoryBitsBackCoder {
    block_size: usize,
    config: ContinuousConfig,
    bins: LatentBins,
    accounting: bool,
}

/// The flag's probability of "on" (12-bit) after `ons` of `seen` blocks were on.
fn flag_prob(ons: usize, seen: usize) -> u32 {
    let p = ((2 * ons as u64 + 1) << BIT_PROB_BITS) / (2 * seen as u64 + 2);
    (p as u32).clamp(1, (1 << BIT_PROB_BITS) - 1)
}

impl HistoryBitsBackCoder {
    /// A coder of blocks of `block_size` bytes.
    pub fn new(block_size: usize, config: ContinuousConfig) -> Result<Self, CodecError> {
        if block_size == 0 {
            return Err(CodecError::OutOfRange {
                what: "block size",
                got: 0,
                min: 1,
                max: u32::MAX as u64,
            });
        }
        Ok(Self {
            block_size,
            config,
            bins: LatentBins::new(config.bin_bits)?,
            accounting: true,
        })
    }

    /// Compute the ELBO terms (on by default). The decoder may skip them.
    pub fn with_accounting(mut self, on: bool) -> Self {
        self.accounting = on;
        self
    }

    /// The fitted posterior of block `i`: the model's start, refined by the fit.
    fn fit<M: HistoryModel>(
        &self,
        model: &M,
        stats: &M::Stats,
        chunk: u64,
        i: usize,
    ) -> DiagGaussian {
        let d = model.latent_dim();
        let init = model.initial_posterior(stats);
        let init = if init.dim() == d && init.mu.iter().chain(&init.rho).all(|v| v.is_finite()) {
            init
        } else {
            DiagGaussian::standard(d)
        };
        let mut llg = |u: &[f64], g: &mut [f64]| model.log_lik_grad(stats, u, g);
        match self.config.posterior {
            PosteriorKind::Map => DiagGaussian {
                mu: map_fit(&init.mu, &self.config.reparam(), &mut llg),
                rho: vec![math::ln(0.25); d],
            },
            _ if self.config.iterations == 0 => init,
            kind => {
                let fit = if kind == PosteriorKind::Bbvi(Estimator::ScoreFunction) {
                    score_fit
                } else {
                    reparam_fit
                };
                let mut rng = BlockRng::for_block(self.config.seed, chunk, i as u64);
                fit(init, &self.config.reparam(), &mut rng, &mut llg, None)
            }
        }
    }

    /// Block `i`'s fitted latent, on, with the particles of a block past the segment's
    /// start (MAP: at the bins of its mean).
    fn fitted<M: HistoryModel>(&self, model: &M, stats: &M::Stats, chunk: u64, i: usize) -> Latent {
        let q = self.fit(model, stats, chunk, i);
        let idx = if self.is_map() {
            q.mu.iter().map(|&m| self.bins.bin_of(m)).collect()
        } else {
            vec![0; q.dim()]
        };
        Latent {
            coded: self.coded_q(&q),
            particles: self.config.posterior.particles() as usize,
            ..Latent::new(q, true, idx)
        }
    }

    fn is_map(&self) -> bool {
        self.config.posterior == PosteriorKind::Map
    }

    fn u_of(&self, idx: &[usize]) -> Vec<f64> {
        idx.iter().map(|&i| self.bins.rep(i)).collect()
    }

    /// The coded masses of `Q` per dimension (bits-back posteriors only).
    fn coded_q(&self, q: &DiagGaussian) -> Vec<crate::categorical::QuantizedCategorical> {
        (0..q.dim())
            .map(|k| self.bins.posterior(q.mu[k], q.sigma(k)))
            .collect()
    }

    /// Particles of block `i` of a segment of `n` blocks whose `bootstrap_blocks` last
    /// blocks are its start (coded first): the ramp of [`particles::ramp`] in coding
    /// order, from the segment's last block to its first.
    /// Coupled particles need no ramp: a block pops one point whatever `N`.
    fn particles_at(&self, n: usize, i: usize, bootstrap_blocks: usize) -> usize {
        let most = self.config.posterior.particles() as usize;
        if self.config.posterior.coupled() {
            most
        } else {
            particles::ramp(most, n - 1 - i, bootstrap_blocks)
        }
    }

    /// Bits the stack must hold before a segment's first bits-back block, for a latent
    /// of `d` dimensions: the chain's threshold, and with coupled particles at least the
    /// point's `24 d` bits and a word, so that the point is a fair draw.
    fn start_bits(&self, d: usize) -> usize {
        if self.config.posterior.coupled() {
            BOOTSTRAP_BITS.max(PRECISION * d + 32)
        } else {
            BOOTSTRAP_BITS
        }
    }

    /// The coded distribution of the particle choice: the importance weights `P(x |
    /// u_k) P(u_k) / Q(u_k)` of the particles `parts`, from the coded masses `coded`.
    fn choice_model<M: HistoryModel>(
        &self,
        model: &M,
        stats: &M::Stats,
        parts: &[Vec<usize>],
        coded: &[QuantizedCategorical],
    ) -> Result<QuantizedCategorical, CodecError> {
        let prior_bits = coded.len() as f64 * self.config.bin_bits as f64;
        let log_w: Vec<f64> = parts
            .iter()
            .map(|p| {
                let log_q: f64 = coded.iter().zip(p).map(|(q, &b)| q.log2_prob(b)).sum();
                model.log2_lik_coded(stats, Some(&self.u_of(p))) - prior_bits - log_q
            })
            .collect();
        particles::choice_from_log_weights(&log_w)
    }

    /// Draws of the accounting per block: [`EVAL_SAMPLES`], or under importance
    /// weighting or when asked, the IWAE samples of [`iwae_samples`] (at least as many).
    fn eval_samples(&self) -> usize {
        match (self.config.posterior, self.config.iwae_samples) {
            (
                PosteriorKind::ImportanceWeighted(_) | PosteriorKind::CoupledImportanceWeighted(_),
                _,
            )
            | (_, 1..) => {
                iwae_samples(self.config.posterior, self.config.iwae_samples).max(EVAL_SAMPLES)
            }
            _ => EVAL_SAMPLES,
        }
    }

    /// ELBO terms of block `i` with the latent on, without the flag: the bins' KL to
    /// the prior by enumeration, `E_Q[log2 P(x | u)]` and the IWAE `log2 P(x)` by
    /// [`EVAL_SAMPLES`] draws (MAP: the point mass at the coded bins). Unless `full`,
    /// only what the encoder's choice of the flag reads (`expected_log_lik`,
    /// `kl_prior`, `elbo_estimate_variance`): the other terms of a block whose latent
    /// stays off are never used.
    ///
    /// The two evaluations draw from independent streams. The flag keeps a latent on
    /// where its estimated gain is large, so the draws that chose it are biased toward
    /// a low `-ELBO` (a winner's curse: on mixed-1MiB, net bits over `-ELBO` by 4.6
    /// predicted standard errors when the report reused them); fresh draws give the
    /// report an unbiased estimate of the chosen block's `-ELBO` (seed Eq. 1), the
    /// expected net rate of its bits-back code (seed Eq. 2).
    fn evaluate_on<M: HistoryModel>(
        &self,
        model: &M,
        stats: &M::Stats,
        lat: &Latent,
        chunk: u64,
        i: usize,
        full: bool,
    ) -> ElboTerms {
        let d = lat.q.dim();
        let b = self.config.bin_bits as f64;
        let coded = &lat.coded;
        let stream = if full {
            FULL_TERMS_STREAM
        } else {
            CHOICE_STREAM
        };
        let mut rng = BlockRng::for_block(self.config.seed ^ stream, chunk, i as u64);
        let samples = if full {
            self.eval_samples()
        } else {
            EVAL_SAMPLES
        };
        let mut log_w = Vec::with_capacity(samples);
        let mut lls = Vec::with_capacity(EVAL_SAMPLES);
        let mut cont_lls = Vec::with_capacity(EVAL_SAMPLES);
        let (mut eps, mut u) = (vec![0.0; d], vec![0.0; d]);
        let mut idx = vec![0usize; d];
        for draw in 0..samples {
            standard_normal(&mut rng, &mut eps);
            lat.q.reparameterize(&eps, &mut u);
            let mut log_q = 0.0;
            for k in 0..d {
                idx[k] = self.bins.bin_of(u[k]);
                log_q += coded[k].log2_prob(idx[k]);
            }
            let ll = model.log2_lik_coded(stats, Some(&self.u_of(&idx)));
            log_w.push(ll - d as f64 * b - log_q);
            if draw < EVAL_SAMPLES {
                lls.push(ll);
                if full {
                    cont_lls.push(model.log_lik_smooth(stats, &u) / math::LN_2);
                }
            }
        }
        let s = EVAL_SAMPLES as f64;
        let mut t = ElboTerms {
            log_evidence: math::log2_sum_exp2(&log_w) - math::log2(samples as f64),
            ..Default::default()
        };
        if self.is_map() {
            t.expected_log_lik = model.log2_lik_coded(stats, Some(&self.u_of(&lat.idx)));
            t.kl_prior = d as f64 * b;
        } else {
            (t.entropy, t.kl_prior) = self.bins.entropy_and_kl(coded);
            let (mean_ll, var_ll) = math::mean_variance(&lls);
            t.ell_variance = math::mean_variance(&log_w[..EVAL_SAMPLES]).1;
            t.expected_log_lik = mean_ll;
            t.elbo_estimate_variance = var_ll / s;
        }
        t.expected_log_joint = t.expected_log_lik - d as f64 * b;
        t.kl_posterior = t.log_evidence - (t.expected_log_lik - t.kl_prior);
        t.continuous_elbo =
            cont_lls.iter().sum::<f64>() / s - lat.q.kl_to_standard_normal() / math::LN_2;
        // With particles (full terms): the N-particle bound from the draws in groups of
        // N, or from coupled groups (one point each, as the chain draws them).
        if full && self.config.posterior.coupled() && lat.particles > 1 {
            let mut rng =
                BlockRng::for_block(self.config.seed ^ particles::COUPLED_SEED, chunk, i as u64);
            particles::set_coupled_bound(
                &mut t,
                &mut rng,
                lat.particles,
                samples / lat.particles,
                coded,
                |p| {
                    let log_q: f64 = (0..d).map(|k| coded[k].log2_prob(p[k])).sum();
                    model.log2_lik_coded(stats, Some(&self.u_of(p))) - d as f64 * b - log_q
                },
            );
        } else if full {
            particles::set_iw_bound(&mut t, &log_w, lat.particles);
        }
        t
    }

    /// Terms of a latent-free block: exact, `P(x) = P(x | u = 0)`, no KL.
    fn evaluate_off<M: HistoryModel>(&self, model: &M, stats: &M::Stats) -> ElboTerms {
        let ll = model.log2_lik_coded(stats, None);
        ElboTerms {
            expected_log_joint: ll,
            expected_log_lik: ll,
            log_evidence: ll,
            continuous_elbo: ll,
            ..Default::default()
        }
    }

    /// Add the flag's `log2 P(flag)` to the terms (it is part of the coded message).
    fn with_flag(mut t: ElboTerms, log2_flag: f64) -> ElboTerms {
        t.expected_log_joint += log2_flag;
        t.expected_log_lik += log2_flag;
        t.log_evidence += log2_flag;
        t.continuous_elbo += log2_flag;
        if t.particles > 1 {
            t.iw_bound += log2_flag;
        }
        t
    }

    #[allow(clippy::too_many_arguments)]
    fn record<M: HistoryModel>(
        &self,
        model: &M,
        stats: &M::Stats,
        lat: &Latent,
        bootstrap: bool,
        flag_p: Option<u32>,
        terms: Option<ElboTerms>,
        chunk: u64,
        i: usize,
        len: usize,
        net_bits: f64,
    ) -> BlockRecord {
        let d = lat.q.dim();
        let log2_flag = flag_p.map_or(0.0, |p| {
            let p = p as f64 / 4096.0;
            math::log2(if lat.on { p } else { 1.0 - p })
        });
        let (coded_bits, terms) = if lat.on {
            let u = self.u_of(&lat.idx);
            let ll = model.log2_lik_coded(stats, Some(&u));
            let log_q: f64 = if self.is_map() {
                0.0
            } else {
                (0..d).map(|k| lat.coded[k].log2_prob(lat.idx[k])).sum()
            };
            // The terms the encoder's choice computed, unless the block has fewer
            // particles than those (the ramp of a segment's start).
            let terms = terms.filter(|t| t.particles.max(1) as usize == lat.particles);
            let terms = match (self.accounting, terms) {
                (_, Some(t)) => t,
                (true, None) => self.evaluate_on(model, stats, lat, chunk, i, true),
                (false, None) => ElboTerms::default(),
            };
            (
                -ll + d as f64 * self.config.bin_bits as f64 + log_q + lat.choice_bits,
                terms,
            )
        } else {
            let t = self.evaluate_off(model, stats);
            (-t.expected_log_lik, t)
        };
        BlockRecord {
            chunk,
            block: i,
            len,
            bootstrap,
            latent: lat.on as usize,
            latent_on: lat.on,
            net_bits,
            coded_bits: coded_bits - log2_flag,
            terms: if self.accounting || !lat.on {
                Self::with_flag(terms, log2_flag)
            } else {
                ElboTerms::default()
            },
        }
    }

    /// The encoder's forward pass: the model learns `data` block by block, in file
    /// order, and returns each block's latent-free statistics.
    pub fn observe<M: HistoryModel>(&self, model: &mut M, data: &[u8]) -> Vec<M::Stats> {
        data.chunks(self.block_size)
            .map(|x| model.observe(x))
            .collect()
    }

    /// Encode `data` as one chunk of segments of `segment_blocks` blocks each: the model
    /// runs forward over one segment at a time (its history continuing from the
    /// segments before), the encoder keeps that segment's statistics only, and codes its
    /// blocks from the last to the first on a stack of its own. After each segment's
    /// forward pass the model chooses its latent's scales for it
    /// ([`HistoryModel::choose_scales`]).
    pub fn encode<M: HistoryModel + Sync>(
        &self,
        model: &mut M,
        data: &[u8],
        chunk: u64,
        segment_blocks: usize,
    ) -> Result<SegmentedChunk, CodecError> {
        let seg_bytes = segment_blocks.max(1) * self.block_size;
        let mut out = SegmentedChunk {
            segments: Vec::new(),
            blocks: Vec::new(),
            totals: RateTotals::default(),
        };
        let mut ons = 0;
        for (s, part) in data.chunks(seg_bytes).enumerate() {
            let stats = self.observe(model, part);
            model.choose_scales(&stats);
            let first = s * segment_blocks.max(1);
            let (segment, records, on) =
                self.encode_segment(&*model, part, &stats, chunk, first, ons)?;
            ons += on;
            out.segments.push(segment);
            out.blocks.extend(records);
        }
        for b in &out.blocks {
            out.totals.add_block(b);
        }
        Ok(out)
    }

    /// Code one segment whose first block is block `first` of the chunk, given its
    /// blocks' statistics and the number of flags on before it. Returns the segment,
    /// its records in block order, and its number of flags on.
    fn encode_segment<M: HistoryModel + Sync>(
        &self,
        model: &M,
        data: &[u8],
        stats: &[M::Stats],
        chunk: u64,
        first: usize,
        ons_before_segment: usize,
    ) -> Result<(ChainSegment, Vec<BlockRecord>, usize), CodecError> {
        use rayon::prelude::*;
        let d = model.latent_dim();
        let n = stats.len();
        if n != data.len().div_ceil(self.block_size) {
            return Err(CodecError::Corrupt("block statistics of another input"));
        }
        // Fits, the flag's choice and its terms, per block (independent of the stack).
        let mut choices: Vec<(Latent, Option<ElboTerms>)> = (0..n)
            .into_par_iter()
            .map(|i| {
                if d == 0 {
                    return (
                        Latent::new(DiagGaussian::standard(0), false, Vec::new()),
                        None,
                    );
                }
                let (s, i) = (&stats[i], first + i);
                let lat = self.fitted(model, s, chunk, i);
                let quick = self.evaluate_on(model, s, &lat, chunk, i, false);
                let off = model.log2_lik_coded(s, None);
                // -ELBO with the latent against the latent-free length: on only where the
                // gain clears the estimate's noise (two standard errors) and a bit.
                let gain = quick.expected_log_lik - quick.kl_prior - off;
                let on = gain > 1.0 + 2.0 * math::sqrt(quick.elbo_estimate_variance);
                let terms = on.then(|| self.evaluate_on(model, s, &lat, chunk, i, true));
                (
                    Latent {
                        on,
                        particles: 1,
                        ..lat
                    },
                    terms,
                )
            })
            .collect();
        let mut coder = DefaultAnsCoder::new();
        let mut blocks = Vec::with_capacity(n);
        let mut bootstrap_blocks = 0;
        // The flags on before block i (in file order), counted as the decoder will: only a
        // block with a flag reads the count, and the blocks before it are not chain
        // starts (those are the segment's last), so their choices are their flags.
        let ons_before: Vec<usize> = choices
            .iter()
            .scan(ons_before_segment, |ons, (l, _)| {
                let before = *ons;
                *ons += l.on as usize;
                Some(before)
            })
            .collect();
        let mut segment_ons = 0;
        for i in (0..n).rev() {
            let before = coder.num_valid_bits();
            let bootstrap = bootstrap_blocks == n - 1 - i && before < self.start_bits(d);
            if bootstrap {
                bootstrap_blocks += 1;
            }
            let (mut lat, terms) = std::mem::replace(
                &mut choices[i],
                (
                    Latent::new(DiagGaussian::standard(0), false, Vec::new()),
                    None,
                ),
            );
            if bootstrap {
                lat.on = false;
            }
            let flag_p = (d > 0 && !bootstrap).then(|| flag_prob(ons_before[i], first + i));
            if lat.on && self.config.posterior.coupled() {
                // Coupled particles: one point of the quantile space, N shifts of it;
                // the choice by their weights, then where the chosen one lies in its
                // bins, and the choice uniform over N.
                let coded = &lat.coded;
                let n_parts = self.particles_at(n, i, bootstrap_blocks);
                let base = particles::pop_point(&mut coder, d)?;
                let parts = particles::coupled_particles(&base, n_parts, coded);
                let mut j = 0;
                let mut chosen = None;
                if n_parts > 1 {
                    let w = self.choice_model(model, &stats[i], &parts, coded)?;
                    j = particles::pop_choice(&mut coder, &w)?;
                    chosen = Some(w);
                }
                particles::push_offsets(&mut coder, &base, j, n_parts, coded)?;
                if let Some(w) = chosen {
                    coder
                        .encode_symbol(j, &particles::uniform_choice(n_parts)?)
                        .map_err(|_| CodecError::Corrupt("choice push"))?;
                    lat.chose(&w, j);
                }
                lat.idx = parts[j].clone();
            } else if lat.on && !self.is_map() {
                let coded = &lat.coded;
                let mut parts = vec![vec![0; d]; self.particles_at(n, i, bootstrap_blocks)];
                for p in parts.iter_mut() {
                    for (k, q) in coded.iter().enumerate() {
                        scramble(&mut coder);
                        p[k] = coder
                            .decode_symbol(q)
                            .map_err(|_| CodecError::Corrupt("latent pop"))?;
                    }
                }
                let j = if parts.len() > 1 {
                    // Importance weighting: pop the choice with the weights, push the
                    // other particles back with Q, then the choice, uniform over N.
                    let w = self.choice_model(model, &stats[i], &parts, coded)?;
                    let j = particles::pop_choice(&mut coder, &w)?;
                    for (_, p) in parts.iter().enumerate().filter(|(k, _)| *k != j) {
                        for (dim, q) in coded.iter().enumerate().rev() {
                            coder
                                .encode_symbol(p[dim], q)
                                .map_err(|_| CodecError::Corrupt("particle push"))?;
                        }
                    }
                    coder
                        .encode_symbol(j, &particles::uniform_choice(parts.len())?)
                        .map_err(|_| CodecError::Corrupt("choice push"))?;
                    lat.chose(&w, j);
                    j
                } else {
                    0
                };
                lat.idx = parts.swap_remove(j);
            }
            let u = lat.on.then(|| self.u_of(&lat.idx));
            model.push_block(&mut coder, &stats[i], u.as_deref())?;
            if lat.on {
                for &bin in lat.idx.iter().rev() {
                    coder
                        .encode_symbol(bin, self.bins.prior())
                        .map_err(|_| CodecError::Corrupt("latent push"))?;
                }
            }
            if let Some(p) = flag_p {
                coder
                    .encode_symbol(lat.on as usize, AnsModel(&Bit(p)))
                    .map_err(|_| CodecError::Corrupt("flag push"))?;
            }
            segment_ons += lat.on as usize;
            let net = coder.num_valid_bits() as f64 - before as f64;
            let len = data.len().min((i + 1) * self.block_size) - i * self.block_size;
            let terms = if lat.on { terms } else { None };
            blocks.push(self.record(
                model,
                &stats[i],
                &lat,
                bootstrap,
                flag_p,
                terms,
                chunk,
                first + i,
                len,
                net,
            ));
        }
        blocks.reverse();
        let words = coder
            .into_compressed()
            .map_err(|_| CodecError::Corrupt("stack export"))?;
        Ok((
            ChainSegment {
                words,
                bootstrap_blocks,
                blocks: n,
            },
            blocks,
            segment_ons,
        ))
    }

    /// Decode `len` bytes of chunk `chunk` from its segments, in file order: the
    /// model's history runs on from one segment into the next.
    pub fn decode<M: HistoryModel>(
        &self,
        model: &mut M,
        segments: &[ChainSegment],
        len: usize,
        chunk: u64,
    ) -> Result<DecodedBytes, CodecError> {
        let n = len.div_ceil(self.block_size);
        if segments.iter().map(|s| s.blocks).sum::<usize>() != n
            || segments.iter().any(|s| s.blocks == 0)
        {
            return Err(CodecError::Corrupt("segment block counts"));
        }
        let mut symbols = Vec::with_capacity(len.min(1 << 24));
        let mut blocks = Vec::with_capacity(n.min(1 << 16));
        let mut ons = 0;
        let mut first = 0;
        for (s, seg) in segments.iter().enumerate() {
            model.start_segment(s)?;
            let start = first * self.block_size;
            let seg_len = (len - start).min(seg.blocks * self.block_size);
            ons += self.decode_segment(
                model,
                seg,
                seg_len,
                chunk,
                first,
                ons,
                &mut symbols,
                &mut blocks,
            )?;
            first += seg.blocks;
        }
        let mut totals = RateTotals::default();
        for b in &blocks {
            totals.add_block(b);
        }
        Ok(DecodedBytes {
            data: symbols,
            blocks,
            totals,
        })
    }

    /// Decode one segment of `len` bytes whose first block is block `first` of the
    /// chunk; returns its number of flags on.
    #[allow(clippy::too_many_arguments)]
    fn decode_segment<M: HistoryModel>(
        &self,
        model: &mut M,
        seg: &ChainSegment,
        len: usize,
        chunk: u64,
        first: usize,
        ons_before_segment: usize,
        symbols: &mut Vec<u8>,
        blocks: &mut Vec<BlockRecord>,
    ) -> Result<usize, CodecError> {
        let n = len.div_ceil(self.block_size);
        let d = model.latent_dim();
        // Hostile input must not buy decoding time: a segment cannot hold more bytes
        // than its words can code (plus the coder's 64-bit state), whatever it claims.
        if len as u64
            > model
                .bytes_per_word()
                .saturating_mul(seg.words.len() as u64 + 2)
        {
            return Err(CodecError::Corrupt("chunk longer than its words can code"));
        }
        let mut coder = start_decode(&seg.words, len, self.block_size, seg.bootstrap_blocks)?;
        let mut ons = ons_before_segment;
        for i in 0..n {
            let before = coder.num_valid_bits();
            let bootstrap = i >= n - seg.bootstrap_blocks;
            let flag_p = (d > 0 && !bootstrap).then(|| flag_prob(ons, first + i));
            let on = match flag_p {
                Some(p) => {
                    coder
                        .decode_symbol(AnsModel(&Bit(p)))
                        .map_err(|_| CodecError::Corrupt("latent flag"))?
                        == 1
                }
                None => false,
            };
            ons += on as usize;
            let mut idx = vec![0usize; if on { d } else { 0 }];
            for v in idx.iter_mut() {
                *v = coder
                    .decode_symbol(self.bins.prior())
                    .map_err(|_| CodecError::Corrupt("latent"))?;
            }
            let u = on.then(|| self.u_of(&idx));
            let blen = (len - i * self.block_size).min(self.block_size);
            let stats = model.pop_block(&mut coder, u.as_deref(), blen, symbols)?;
            let mut lat = Latent::new(DiagGaussian::standard(d), on, idx);
            if on {
                lat.q = self.fit(model, &stats, chunk, first + i);
                lat.coded = self.coded_q(&lat.q);
                if self.is_map() {
                    let fitted: Vec<usize> =
                        lat.q.mu.iter().map(|&m| self.bins.bin_of(m)).collect();
                    if fitted != lat.idx {
                        return Err(CodecError::Corrupt(
                            "point-mass latent does not match its fit",
                        ));
                    }
                } else {
                    let coded = &lat.coded;
                    let n_parts = self.particles_at(n, i, seg.bootstrap_blocks);
                    let mut parts = vec![lat.idx.clone()];
                    let mut chosen = None;
                    if self.config.posterior.coupled() {
                        // The choice (uniform), the chosen particle's place in its
                        // bins (which gives the point), the choice back with the
                        // weights of the point's N shifts, and the point.
                        let j = if n_parts > 1 {
                            coder
                                .decode_symbol(&particles::uniform_choice(n_parts)?)
                                .map_err(|_| CodecError::Corrupt("choice"))?
                        } else {
                            0
                        };
                        let w = particles::undo_coupled(
                            &mut coder,
                            &lat.idx,
                            j,
                            n_parts,
                            coded,
                            |p| self.choice_model(model, &stats, p, coded),
                        )?;
                        chosen = w.map(|w| (w, j));
                        parts.clear();
                    } else if n_parts > 1 {
                        // Importance weighting: the choice (uniform), the other
                        // particles in the reverse of the encoder's order, then the
                        // choice back with their weights.
                        let j = coder
                            .decode_symbol(&particles::uniform_choice(n_parts)?)
                            .map_err(|_| CodecError::Corrupt("choice"))?;
                        parts = vec![Vec::new(); n_parts];
                        for k in (0..n_parts).rev().filter(|&k| k != j) {
                            parts[k] = coded
                                .iter()
                                .map(|q| coder.decode_symbol(q))
                                .collect::<Result<_, _>>()
                                .map_err(|_| CodecError::Corrupt("particle"))?;
                        }
                        parts[j] = lat.idx.clone();
                        let w = self.choice_model(model, &stats, &parts, coded)?;
                        particles::push_choice(&mut coder, j, &w)?;
                        chosen = Some((w, j));
                    }
                    // Every particle back with Q, as the encoder popped them.
                    for p in parts.iter().rev() {
                        for k in (0..d).rev() {
                            coder
                                .encode_symbol(p[k], &coded[k])
                                .map_err(|_| CodecError::Corrupt("latent push"))?;
                            scramble(&mut coder);
                        }
                    }
                    if let Some((w, j)) = chosen {
                        lat.chose(&w, j);
                    }
                }
            }
            let net = before as f64 - coder.num_valid_bits() as f64;
            blocks.push(self.record(
                model,
                &stats,
                &lat,
                bootstrap,
                flag_p,
                None,
                chunk,
                first + i,
                blen,
                net,
            ));
        }
        if !coder.is_empty() || !coder.bulk().is_empty() {
            return Err(CodecError::Corrupt(
                "data left on the stack after the last block",
            ));
        }
        Ok(ons - ons_before_segment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cm::latent::CmChain;

    /// The flag is chosen on draws of its own. The reported terms of a block whose
    /// latent is on come from independent draws, so keeping the blocks whose estimate
    /// happened to be low does not bias the reported `-ELBO` (with shared draws,
    /// mixed-1MiB's net bits exceeded it by 4.6 predicted standard errors). The exact
    /// terms (the bins' entropy and KL to the prior) are the same in both.
    #[test]
    fn reported_terms_do_not_reuse_the_draws_that_chose_the_flag() {
        let text: &[u8] = include_bytes!("../../testdata/alice29-excerpt.txt");
        let mut data = text[..8192].to_vec();
        for r in 0..1024u32 {
            data.extend_from_slice(&(r * 7919).to_le_bytes());
        }
        let mut model = CmChain::new(16, 2);
        let stats: Vec<_> = data.chunks(1024).map(|b| model.observe(b)).collect();
        model.choose_scales(&stats);
        let coder = HistoryBitsBackCoder::new(1024, ContinuousConfig::default()).unwrap();
        for (i, s) in stats.iter().enumerate() {
            let lat = coder.fitted(&model, s, 0, i);
            let choice = coder.evaluate_on(&model, s, &lat, 0, i, false);
            let reported = coder.evaluate_on(&model, s, &lat, 0, i, true);
            assert_ne!(
                choice.expected_log_lik.to_bits(),
                reported.expected_log_lik.to_bits(),
                "block {i}: the report reuses the choice's draws"
            );
            assert_eq!(choice.kl_prior.to_bits(), reported.kl_prior.to_bits());
        }
    }
}
