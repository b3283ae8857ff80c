//! Posterior inference for a discrete latent: black-box variational inference (seed,
//! Problem 8.2) with the categorical family `Q_phi(z | x) = softmax(phi)_z`.
//!
//! All quantities are in **bits**: `ell(phi, z) = log2 P(z, x) - log2 Q_phi(z | x)` is the
//! integrand of the ELBO (Eq. 1), so `ELBO(phi) = E_Q[ell]` and `-ELBO` is the expected net
//! bit rate of bits-back coding (Eq. 2). The logits `phi` are natural-log logits, so
//! `grad_phi log Q(z) = e_z - Q` and `grad_phi log2 Q(z) = (e_z - Q) / ln 2`.
//!
//! Estimators of `grad_phi ELBO` (see [`Estimator`]):
//! * [`Estimator::ScoreFunction`]: Eq. 11 (`g^(1)` only, since `E[g^(2)] = 0`) with a
//!   leave-one-out baseline as control variate over `S` samples;
//! * [`Estimator::ScoreFunctionEq8`]: the full Eq. 8 estimate `g^(1) + g^(2)` per sample;
//! * [`Estimator::Naive`]: the biased estimator of Problem 8.2a, `grad_phi ell(phi, z_s)`,
//!   which ignores that `Q_phi` itself depends on `phi`. Its expectation is exactly zero
//!   for every `phi`, so it never moves toward the optimum: a documented negative control.
//!
//! Every fit is deterministic (DESIGN section 2): the generator is [`BlockRng`], all
//! transcendental functions go through [`crate::math`], the iteration count is fixed and
//! every loop runs in a fixed order.

#![allow(clippy::needless_range_loop)] // index loops read like the formulas

pub mod gaussian;
pub mod trace;

use crate::categorical::QuantizedCategorical;
use crate::math;
use crate::rng::BlockRng;

/// Gradient estimator for the categorical BBVI fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Estimator {
    /// Score function, Eq. 11, with a leave-one-out baseline (control variate).
    ScoreFunction,
    /// Score function, Eq. 8 (`g^(1) + g^(2)`), no control variate.
    ScoreFunctionEq8,
    /// The naive, biased estimator of Problem 8.2a (negative control; do not use).
    Naive,
    /// Reparameterization gradients (Eq. 7) for the diagonal Gaussian family of
    /// continuous latents.
    Reparameterization,
    /// Gumbel-softmax / Concrete relaxation (Jang et al.; Maddison et al.) at
    /// temperature [`GUMBEL_TEMPERATURE`]: a biased, low-variance reparameterization of
    /// the categorical. Only the gradient is relaxed; the code length always uses the
    /// true categorical `Q`.
    GumbelSoftmax,
}

/// Temperature of the Gumbel-softmax relaxation.
pub const GUMBEL_TEMPERATURE: f64 = 0.5;

impl Estimator {
    /// Stable name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Estimator::ScoreFunction => "score",
            Estimator::ScoreFunctionEq8 => "score-eq8",
            Estimator::Naive => "naive",
            Estimator::Reparameterization => "reparam",
            Estimator::GumbelSoftmax => "gumbel",
        }
    }

    /// True for the estimators of the categorical family (discrete latents).
    pub fn is_discrete(self) -> bool {
        !matches!(self, Estimator::Reparameterization)
    }

    /// Parse a name produced by [`Estimator::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "score" => Some(Estimator::ScoreFunction),
            "score-eq8" => Some(Estimator::ScoreFunctionEq8),
            "naive" => Some(Estimator::Naive),
            "reparam" => Some(Estimator::Reparameterization),
            "gumbel" => Some(Estimator::GumbelSoftmax),
            _ => None,
        }
    }

    /// Byte used in the container.
    pub fn code(self) -> u8 {
        match self {
            Estimator::ScoreFunction => 0,
            Estimator::ScoreFunctionEq8 => 1,
            Estimator::Naive => 2,
            Estimator::Reparameterization => 3,
            Estimator::GumbelSoftmax => 4,
        }
    }

    /// Inverse of [`Estimator::code`].
    pub fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(Estimator::ScoreFunction),
            1 => Some(Estimator::ScoreFunctionEq8),
            2 => Some(Estimator::Naive),
            3 => Some(Estimator::Reparameterization),
            4 => Some(Estimator::GumbelSoftmax),
            _ => None,
        }
    }
}

/// Which posterior `Q(z | x)` the bits-back chain pops the latent with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PosteriorKind {
    /// Categorical `softmax(phi)` fitted by BBVI with the given estimator.
    Bbvi(Estimator),
    /// The exact posterior `P(z | x)` by enumeration (KL = 0 up to quantization).
    Exact,
    /// A point mass on the MAP latent: nothing is popped, so no bits come back.
    Map,
    /// Importance-weighted bits-back (Monte Carlo bits-back with importance sampling)
    /// with this many particles, for continuous latents: `Q` is the BBVI fit
    /// (reparameterization gradients, as for `Bbvi(Reparameterization)`); the chain pops
    /// `N` latents from it and codes with one of them chosen by its importance weight,
    /// so that the expected net rate is the `N`-sample bound `-log2 (1/N) sum_k w_k`,
    /// `w_k = P(x, z_k) / Q(z_k | x)`, which lies between `-ELBO` (seed Eq. 5, `N = 1`)
    /// and `-log2 P(x)` and tends to the latter as `N` grows.
    ImportanceWeighted(u32),
    /// Importance-weighted bits-back with coupled particles (BB-CIS): as
    /// [`PosteriorKind::ImportanceWeighted`], but the `N` particles of a block are one
    /// uniform point of `Q`'s quantile space shifted `N` ways, so that a block pops one
    /// point from the stack instead of `N` particles and needs no ramp at a chunk's
    /// start; each particle is still distributed as `Q`.
    CoupledImportanceWeighted(u32),
}

/// Largest particle count a file may request (bounds decoder work per block).
pub const MAX_PARTICLES: u32 = 256;

/// The particles of `--posterior iw` unless `--particles` says otherwise.
pub const DEFAULT_PARTICLES: u32 = 16;

impl PosteriorKind {
    /// Stable name (`bbvi`, `exact`, `map`).
    pub fn name(self) -> &'static str {
        match self {
            PosteriorKind::Bbvi(_) => "bbvi",
            PosteriorKind::Exact => "exact",
            PosteriorKind::Map => "map",
            PosteriorKind::ImportanceWeighted(_) => "iw",
            PosteriorKind::CoupledImportanceWeighted(_) => "cis",
        }
    }

    /// Name with the estimator (`bbvi/score`, ..., `exact`, `map`).
    pub fn label(self) -> &'static str {
        match self {
            PosteriorKind::Bbvi(Estimator::ScoreFunction) => "bbvi/score",
            PosteriorKind::Bbvi(Estimator::ScoreFunctionEq8) => "bbvi/score-eq8",
            PosteriorKind::Bbvi(Estimator::Naive) => "bbvi/naive",
            PosteriorKind::Bbvi(Estimator::Reparameterization) => "bbvi/reparam",
            PosteriorKind::Bbvi(Estimator::GumbelSoftmax) => "bbvi/gumbel",
            PosteriorKind::Exact => "exact",
            PosteriorKind::Map => "map",
            PosteriorKind::ImportanceWeighted(_) => "iw",
            PosteriorKind::CoupledImportanceWeighted(_) => "cis",
        }
    }

    /// Whether `other` is the same kind: the same posterior, an importance-weighted one
    /// with any particle count.
    pub fn same_kind(self, other: PosteriorKind) -> bool {
        match (self, other) {
            (PosteriorKind::ImportanceWeighted(_), PosteriorKind::ImportanceWeighted(_))
            | (
                PosteriorKind::CoupledImportanceWeighted(_),
                PosteriorKind::CoupledImportanceWeighted(_),
            ) => true,
            (a, b) => a == b,
        }
    }

    /// Whether the posterior is importance-weighted with coupled particles.
    pub fn coupled(self) -> bool {
        matches!(self, PosteriorKind::CoupledImportanceWeighted(_))
    }

    /// The particles of an importance-weighted posterior (1 for any other).
    pub fn particles(self) -> u32 {
        match self {
            PosteriorKind::ImportanceWeighted(n) | PosteriorKind::CoupledImportanceWeighted(n) => n,
            _ => 1,
        }
    }

    /// The estimator of the fit of `Q`: a BBVI posterior's own, reparameterization for an
    /// importance-weighted one, none for the others.
    pub fn estimator(self) -> Option<Estimator> {
        match self {
            PosteriorKind::Bbvi(e) => Some(e),
            PosteriorKind::ImportanceWeighted(_) | PosteriorKind::CoupledImportanceWeighted(_) => {
                Some(Estimator::Reparameterization)
            }
            _ => None,
        }
    }
}

/// Configuration of the per-block posterior fit. Stored in the file header, because the
/// decoder re-runs the same fit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitConfig {
    /// The posterior to use.
    pub posterior: PosteriorKind,
    /// Adam iterations (fixed, no data-dependent stopping).
    pub iterations: u32,
    /// Samples of `z` per iteration (at least 2 for the leave-one-out baseline).
    pub samples: u32,
    /// Adam step size at the first iteration (decays linearly to a tenth).
    pub learning_rate: f32,
    /// File seed; the generator of block `b` in chunk `c` is seeded by `(seed, c, b)`.
    pub seed: u64,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            posterior: PosteriorKind::Bbvi(Estimator::ScoreFunction),
            iterations: 64,
            samples: 64,
            learning_rate: 0.7,
            seed: 0x6262_636f_6465_6331,
        }
    }
}

/// Largest iteration count a file may request (bounds decoder work).
pub const MAX_ITERATIONS: u32 = 4096;
/// Largest sample count a file may request.
pub const MAX_SAMPLES: u32 = 256;

/// Adam optimizer (Kingma & Ba), ascending the ELBO, with fixed-order arithmetic.
#[derive(Clone, Debug)]
pub struct Adam {
    m: Vec<f64>,
    v: Vec<f64>,
    beta1_t: f64,
    beta2_t: f64,
}

impl Adam {
    const BETA1: f64 = 0.9;
    const BETA2: f64 = 0.999;
    const EPS: f64 = 1e-8;

    /// Optimizer state for `n` parameters.
    pub fn new(n: usize) -> Self {
        Self {
            m: vec![0.0; n],
            v: vec![0.0; n],
            beta1_t: 1.0,
            beta2_t: 1.0,
        }
    }

    /// One ascent step `phi += lr * m_hat / (sqrt(v_hat) + eps)`.
    pub fn step(&mut self, phi: &mut [f64], grad: &[f64], lr: f64) {
        self.beta1_t *= Self::BETA1;
        self.beta2_t *= Self::BETA2;
        let c1 = 1.0 - self.beta1_t;
        let c2 = 1.0 - self.beta2_t;
        for i in 0..phi.len() {
            self.m[i] = Self::BETA1 * self.m[i] + (1.0 - Self::BETA1) * grad[i];
            self.v[i] = Self::BETA2 * self.v[i] + (1.0 - Self::BETA2) * grad[i] * grad[i];
            let mh = self.m[i] / c1;
            let vh = self.v[i] / c2;
            phi[i] += lr * mh / (math::sqrt(vh) + Self::EPS);
        }
    }
}

/// A categorical `Q` in the forms the estimators read: probabilities, their base-2
/// logarithms (exact from the logits, no `log` call per sample) and the cumulative sums
/// used to sample by inversion with a binary search.
#[derive(Clone, Debug, Default)]
pub struct CategoricalQ {
    q: Vec<f64>,
    log2_q: Vec<f64>,
    cdf: Vec<f64>,
    /// The most probable latent and its interval `[lo, hi)` of the cumulative sums.
    mode: usize,
    mode_lo: f64,
    mode_hi: f64,
}

impl CategoricalQ {
    /// `Q = softmax(phi)`.
    pub fn from_logits(phi: &[f64]) -> Self {
        let mut c = Self::default();
        c.set_logits(phi);
        c
    }

    /// `Q = q` (must be normalized).
    pub fn from_probs(q: &[f64]) -> Self {
        let log2_q = q
            .iter()
            .map(|&p| {
                if p > 0.0 {
                    math::log2(p)
                } else {
                    f64::NEG_INFINITY
                }
            })
            .collect();
        let mut c = Self {
            q: q.to_vec(),
            log2_q,
            ..Default::default()
        };
        c.fill_cdf();
        c
    }

    /// Recompute from logits: `log Q_k = phi_k - logsumexp(phi)`.
    pub fn set_logits(&mut self, phi: &[f64]) {
        let k = phi.len();
        self.q.resize(k, 0.0);
        self.log2_q.resize(k, 0.0);
        let m = phi.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for i in 0..k {
            self.q[i] = math::exp(phi[i] - m);
            sum += self.q[i];
        }
        let inv = 1.0 / sum;
        let lse = m + math::ln(sum);
        for i in 0..k {
            self.q[i] *= inv;
            self.log2_q[i] = (phi[i] - lse) / math::LN_2;
        }
        self.fill_cdf();
    }

    fn fill_cdf(&mut self) {
        self.cdf.clear();
        let mut acc = 0.0;
        for &p in &self.q {
            acc += p;
            self.cdf.push(acc);
        }
        self.mode = argmax(&self.q);
        self.mode_lo = if self.mode == 0 {
            f64::NEG_INFINITY
        } else {
            self.cdf[self.mode - 1]
        };
        self.mode_hi = self.cdf[self.mode];
    }

    /// The probabilities.
    pub fn probs(&self) -> &[f64] {
        &self.q
    }

    /// Draw a latent by inversion: the first `k` with `cdf[k] > u` (never a zero-mass
    /// latent; the top end, lost to rounding, goes to the last latent with mass).
    pub fn sample(&self, rng: &mut BlockRng) -> usize {
        let u = rng.uniform();
        // Fast path, same answer: every cdf entry before the mode is <= mode_lo <= u,
        // and cdf[mode] > u, so the first entry above u is the mode's.
        if self.mode_lo <= u && u < self.mode_hi {
            return self.mode;
        }
        let k = self.cdf.partition_point(|&c| c <= u);
        if k < self.q.len() {
            k
        } else {
            self.q.iter().rposition(|&p| p > 0.0).unwrap_or(0)
        }
    }

    /// `ell(z) = log2 P(z, x) - log2 Q(z)` in bits.
    #[inline]
    pub fn ell(&self, log2_joint: &[f64], z: usize) -> f64 {
        log2_joint[z] - self.log2_q[z]
    }
}

/// `ell(z) = log2 P(z, x) - log2 Q(z)` in bits.
#[inline]
fn ell(log2_joint: &[f64], q: &[f64], z: usize) -> f64 {
    log2_joint[z] - math::log2(q[z])
}

/// Exact gradient of the ELBO (bits) w.r.t. the natural logits, by enumeration:
/// `d ELBO / d phi_k = Q_k (ell_k - E_Q[ell])` (Eq. 10 summed over all z; the `g^(2)`
/// part vanishes by Eq. 11).
pub fn exact_gradient(log2_joint: &[f64], q: &[f64], out: &mut [f64]) {
    let mut mean = 0.0;
    for z in 0..q.len() {
        if q[z] > 0.0 {
            mean += q[z] * ell(log2_joint, q, z);
        }
    }
    for z in 0..q.len() {
        out[z] = if q[z] > 0.0 {
            q[z] * (ell(log2_joint, q, z) - mean)
        } else {
            0.0
        };
    }
}

/// Reusable buffers of [`estimate_gradient`] (the sampled latents and their `ell`).
#[derive(Clone, Debug, Default)]
pub struct GradientScratch {
    zs: Vec<usize>,
    ells: Vec<f64>,
}

/// One stochastic estimate of `grad_phi ELBO` (bits per natural logit) at `Q`.
///
/// Draws `samples` latents from `Q` with `rng`; `out` receives the estimate (zero for
/// [`Estimator::Reparameterization`], which has no categorical form). Returns true when
/// every sample drew the same latent.
pub fn estimate_gradient(
    estimator: Estimator,
    log2_joint: &[f64],
    q: &CategoricalQ,
    samples: usize,
    rng: &mut BlockRng,
    scratch: &mut GradientScratch,
    out: &mut [f64],
) -> bool {
    out.iter_mut().for_each(|g| *g = 0.0);
    if estimator == Estimator::GumbelSoftmax {
        gumbel_gradient(log2_joint, q, samples, rng, out);
        return false;
    }
    let GradientScratch { zs, ells } = scratch;
    zs.resize(samples, 0);
    ells.resize(samples, 0.0);
    for (z, e) in zs.iter_mut().zip(ells.iter_mut()) {
        *z = q.sample(rng);
        *e = q.ell(log2_joint, *z);
    }
    let s = samples as f64;
    let inv_ln2 = 1.0 / math::LN_2;
    // Each term is (e_z - Q) * w: add w at z now, and subtract (sum of w) * Q once at
    // the end, which costs O(S + K) instead of O(S * K).
    let mut w_sum = 0.0;
    let pairs = zs.iter().zip(ells.iter());
    match estimator {
        Estimator::ScoreFunction => {
            // Eq. 11 with leave-one-out baseline b_s = mean of the other samples' ell:
            // (1/S) sum_s (e_{z_s} - Q)(ell_s - b_s). Unbiased because b_s does not
            // depend on z_s, and E[(e_z - Q)] = 0 (Eq. 11).
            let total: f64 = ells.iter().sum();
            let denom = if samples > 1 { s - 1.0 } else { 1.0 };
            for (&z, &e) in pairs {
                let baseline = if samples > 1 {
                    (total - e) / denom
                } else {
                    0.0
                };
                let w = (e - baseline) / s;
                out[z] += w;
                w_sum += w;
            }
        }
        Estimator::ScoreFunctionEq8 => {
            // Eq. 8-9: g1 = (e_z - Q) ell(z); g2 = grad ell = -(e_z - Q)/ln 2.
            for (&z, &e) in pairs {
                let w = (e - inv_ln2) / s;
                out[z] += w;
                w_sum += w;
            }
        }
        Estimator::Naive => {
            // Problem 8.2a: only grad_phi ell(phi, z_s) = -(e_z - Q)/ln 2 (biased).
            for (&z, _) in pairs {
                let w = -inv_ln2 / s;
                out[z] += w;
                w_sum += w;
            }
        }
        // Not estimators of the categorical family: Gumbel-softmax returned above, and
        // reparameterization needs a continuous latent (the chains reject it); the
        // estimate is left at zero.
        Estimator::GumbelSoftmax | Estimator::Reparameterization => {}
    }
    for (o, &qj) in out.iter_mut().zip(&q.q) {
        *o -= w_sum * qj;
    }
    zs.iter().all(|&z| z == zs[0])
}

/// Gumbel-softmax gradient: for each draw, `y = softmax((ln Q + g) / tau)` with Gumbel
/// noise `g_k = -ln(-ln u_k)`, and the relaxed integrand
/// `f(y) = sum_k y_k (log2 P(k, x) - log2 Q(k))` differentiated through `y` and `Q`:
/// `df/dphi_j = y_j (a_j - sum_k y_k a_k) / tau - (y_j - Q_j) / ln 2`, `a_k` the bracket.
fn gumbel_gradient(
    log2_joint: &[f64],
    q: &CategoricalQ,
    samples: usize,
    rng: &mut BlockRng,
    out: &mut [f64],
) {
    let k = q.q.len();
    let mut y = vec![0.0; k];
    let mut logits = vec![0.0; k];
    let inv_s = 1.0 / samples as f64;
    for _ in 0..samples {
        for j in 0..k {
            let g = -math::ln(-math::ln(rng.uniform_open()));
            logits[j] = (q.log2_q[j] * math::LN_2 + g) / GUMBEL_TEMPERATURE;
        }
        math::softmax(&logits, &mut y);
        let mut mean_a = 0.0;
        for j in 0..k {
            if y[j] > 0.0 {
                mean_a += y[j] * (log2_joint[j] - q.log2_q[j]);
            }
        }
        for j in 0..k {
            let a = if y[j] > 0.0 {
                log2_joint[j] - q.log2_q[j]
            } else {
                0.0
            };
            out[j] +=
                inv_s * (y[j] * (a - mean_a) / GUMBEL_TEMPERATURE - (y[j] - q.q[j]) / math::LN_2);
        }
    }
}

/// Result of fitting one block's posterior.
#[derive(Clone, Debug)]
pub struct FittedPosterior {
    /// The fixed-point distribution the latent is popped and pushed with
    /// (`None` for [`PosteriorKind::Map`], which codes no latent bits back).
    pub coded: Option<QuantizedCategorical>,
    /// The MAP latent (used by [`PosteriorKind::Map`] and by chunk starts).
    pub map: usize,
    /// Final natural logits (BBVI only; empty otherwise).
    pub phi: Vec<f64>,
    /// For [`PosteriorKind::Exact`], the normalizer `(m, s)` of
    /// [`math::normalize_log2`]: `log2 P(x) = m + log2(s)`.
    pub normalizer: Option<(f64, f64)>,
}

/// Fit `Q(z | x)` for one block from its log joints `log2_joint[z] = log2 P(z, x)`.
///
/// BBVI starts at the uniform `Q` and reads `log2_joint` only at the
/// latents it samples (it is black-box in the model). `rng` must be the block's
/// [`BlockRng`]. If `trace` is given, it receives the exact ELBO (bits, by enumeration)
/// of `softmax(phi)` before each iteration and after the last.
pub fn posterior_fit(
    log2_joint: &[f64],
    config: &FitConfig,
    rng: &mut BlockRng,
    mut trace: Option<&mut Vec<f64>>,
) -> FittedPosterior {
    let k = log2_joint.len();
    let map = argmax(log2_joint);
    match config.posterior {
        // Importance weighting is for continuous latents: a discrete chain refuses it
        // before any fit (`check_posterior`), so it never reaches here.
        PosteriorKind::Map
        | PosteriorKind::ImportanceWeighted(_)
        | PosteriorKind::CoupledImportanceWeighted(_) => FittedPosterior {
            coded: None,
            map,
            phi: Vec::new(),
            normalizer: None,
        },
        PosteriorKind::Exact => {
            thread_local! {
                // The float posterior of one block at a time, per thread.
                static Q: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
            }
            let (coded, normalizer) = Q.with_borrow_mut(|q| {
                q.clear();
                q.resize(k, 0.0);
                let normalizer = math::normalize_log2(log2_joint, q);
                (quantize_posterior(q), normalizer)
            });
            FittedPosterior {
                coded: Some(coded),
                map,
                phi: Vec::new(),
                normalizer: Some(normalizer),
            }
        }
        PosteriorKind::Bbvi(estimator) => {
            // Start at the uniform Q: every latent gets sampled early. Starting at the
            // prior instead lets Q collapse onto frequent components before rare but
            // better ones are ever sampled (measured: 20x larger KL on the corpus).
            let mut phi = vec![0.0; k];
            let mut q = CategoricalQ::from_logits(&phi);
            let mut grad = vec![0.0; k];
            let mut adam = Adam::new(k);
            let mut scratch = GradientScratch::default();
            let iters = config.iterations as usize;
            let lr0 = config.learning_rate as f64;
            for t in 0..iters {
                if let Some(tr) = trace.as_deref_mut() {
                    tr.push(exact_elbo(log2_joint, q.probs()));
                }
                estimate_gradient(
                    estimator,
                    log2_joint,
                    &q,
                    config.samples as usize,
                    rng,
                    &mut scratch,
                    &mut grad,
                );
                let lr = lr0 * (1.0 - 0.9 * t as f64 / iters as f64);
                adam.step(&mut phi, &grad, lr);
                q.set_logits(&phi);
                if collapsed(q.probs()) {
                    // Deterministic stopping rule (same inputs on both sides): every
                    // latent but one is below half the quantization floor, so the coded
                    // Q is already the point mass plus the 2^-24 floors.
                    break;
                }
            }
            if let Some(tr) = trace {
                tr.push(exact_elbo(log2_joint, q.probs()));
            }
            let q = q.probs();
            FittedPosterior {
                coded: Some(quantize_posterior(q)),
                map,
                phi,
                normalizer: None,
            }
        }
    }
}

/// True when all but one latent have `Q < 2^-(PRECISION+1)`: quantizing gives the others
/// the floor mass only, whatever further iterations do to them.
fn collapsed(q: &[f64]) -> bool {
    let floor = 1.0 / (2u64 << crate::categorical::PRECISION) as f64;
    q.iter().filter(|&&p| p >= floor).count() <= 1
}

/// ELBO in bits of a float `q` by enumeration: `sum_z q_z (log2 P(z,x) - log2 q_z)`.
pub fn exact_elbo(log2_joint: &[f64], q: &[f64]) -> f64 {
    let mut e = 0.0;
    for z in 0..q.len() {
        if q[z] > 0.0 {
            e += q[z] * ell(log2_joint, q, z);
        }
    }
    e
}

/// Quantize a float posterior for coding: leaky, so every latent stays poppable.
pub fn quantize_posterior(q: &[f64]) -> QuantizedCategorical {
    QuantizedCategorical::from_float_weights_lean(q, true).expect("posterior has positive mass")
}

/// Index of the largest entry (first on ties).
pub fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for i in 1..v.len() {
        if v[i] > v[best] {
            best = i;
        }
    }
    best
}
