//! Rate accounting (DESIGN section 4): what the coder measured against what the theory
//! predicts, per block and summed.
//!
//! For block `i` with fitted posterior `Q_i`, bits-back coding costs on average
//! `-ELBO_i = E_Q[-log2 P(x_i, z) + log2 Q_i(z)]` (seed Eq. 2), and the overhead over
//! the ideal `-log2 P(x_i)` is `KL(Q_i || P(z | x_i))` (Problem 8.1c, Eq. 5). The ELBO
//! is kept in the seed's three decompositions, which must agree:
//!
//! * Eq. 3: `E_Q[log2 P(z, x)] + H[Q]`
//! * Eq. 4: `E_Q[log2 P(x | z)] - KL(Q || P(z))`
//! * Eq. 5: `log2 P(x) - KL(Q || P(z | x))`
//!
//! Every term here is computed by enumeration over the latent, using the fixed-point
//! distributions that were actually coded.

#![allow(clippy::needless_range_loop)] // index loops read like the formulas

use serde::{Deserialize, Serialize};

use crate::categorical::QuantizedCategorical;
use crate::math;

/// The ELBO terms of one block (or a sum of blocks), in bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ElboTerms {
    /// `E_Q[log2 P(z, x)]`.
    pub expected_log_joint: f64,
    /// `H[Q] = -E_Q[log2 Q(z)]`.
    pub entropy: f64,
    /// `E_Q[log2 P(x | z)]`.
    pub expected_log_lik: f64,
    /// `KL(Q || P(z))`.
    pub kl_prior: f64,
    /// `log2 P(x)`.
    pub log_evidence: f64,
    /// `KL(Q || P(z | x))`.
    pub kl_posterior: f64,
    /// `Var_Q[ell(z)]` with `ell = log2 P(z,x) - log2 Q(z)`: the variance of the net bits
    /// of a bits-back block around its mean `-ELBO` when `z` is a fair sample of `Q`.
    pub ell_variance: f64,
    /// Variance of the ELBO estimate itself (0 when exact by enumeration; the Monte
    /// Carlo variance for continuous latents).
    pub elbo_estimate_variance: f64,
    /// ELBO of the continuous model before discretization (continuous latents only; 0
    /// otherwise): `E_q[log2 p(x|z)] - KL(q || N(0, I))`.
    pub continuous_elbo: f64,
    /// Importance-weighted bits-back with more than one particle: how many the block
    /// coded with (0 otherwise).
    #[serde(default)]
    pub particles: u32,
    /// With particles: the `N`-particle bound `E[log2 (1/N) sum_k w_k]`, the expected
    /// negative net bits of the block (Monte Carlo, over groups of `N` draws from `Q`).
    #[serde(default)]
    pub iw_bound: f64,
    /// With particles: the variance of that estimate.
    #[serde(default)]
    pub iw_bound_variance: f64,
}

impl ElboTerms {
    /// Terms of one block by enumeration.
    ///
    /// `log2_lik[z] = log2 P(x | z)`; `q(z)` is the coded posterior mass of `z` and its
    /// `log2` (a point mass for MAP coding). Terms with `q(z) = 0` contribute nothing.
    pub fn of_block(
        log2_lik: &[f64],
        prior: &QuantizedCategorical,
        q: impl Fn(usize) -> (f64, f64),
    ) -> Self {
        let mut lj = Vec::with_capacity(log2_lik.len());
        for (z, &l) in log2_lik.iter().enumerate() {
            lj.push(l + prior.log2_prob(z));
        }
        let log_evidence = math::log2_sum_exp2(&lj);
        Self::of_block_parts(log2_lik, &lj, log_evidence, prior, q)
    }

    /// [`ElboTerms::of_block`] given the log joints `lj[z] = log2_lik[z] + log2 P(z)`
    /// and `log_evidence = log2_sum_exp2(lj)`, already computed by the caller.
    pub fn of_block_parts(
        log2_lik: &[f64],
        lj: &[f64],
        log_evidence: f64,
        prior: &QuantizedCategorical,
        q: impl Fn(usize) -> (f64, f64),
    ) -> Self {
        let k = log2_lik.len();
        let mut t = ElboTerms {
            log_evidence,
            ..Default::default()
        };
        let mut mean_ell = 0.0;
        // q is asked once per latent (its log2 may be computed on demand).
        let qs: Vec<(f64, f64)> = (0..k).map(&q).collect();
        for (z, &(qz, lq)) in qs.iter().enumerate() {
            if qz <= 0.0 {
                continue;
            }
            t.expected_log_joint += qz * lj[z];
            t.entropy -= qz * lq;
            t.expected_log_lik += qz * log2_lik[z];
            t.kl_prior += qz * (lq - prior.log2_prob(z));
            t.kl_posterior += qz * (lq - (lj[z] - log_evidence));
            let e = lj[z] - lq;
            mean_ell += qz * e;
        }
        // Var = E[(ell - mean)^2], computed in a second pass for accuracy.
        let mut var = 0.0;
        for (z, &(qz, lq)) in qs.iter().enumerate() {
            if qz > 0.0 {
                let d = lj[z] - lq - mean_ell;
                var += qz * d * d;
            }
        }
        t.ell_variance = var;
        t
    }

    /// ELBO by Eq. 3: expected log joint plus entropy.
    pub fn elbo_joint_entropy(&self) -> f64 {
        self.expected_log_joint + self.entropy
    }

    /// ELBO by Eq. 4: expected log likelihood minus KL to the prior.
    pub fn elbo_lik_kl(&self) -> f64 {
        self.expected_log_lik - self.kl_prior
    }

    /// ELBO by Eq. 5: log evidence minus KL to the true posterior.
    pub fn elbo_evidence_kl(&self) -> f64 {
        self.log_evidence - self.kl_posterior
    }

    /// Add another block's terms.
    pub fn add(&mut self, o: &ElboTerms) {
        self.expected_log_joint += o.expected_log_joint;
        self.entropy += o.entropy;
        self.expected_log_lik += o.expected_log_lik;
        self.kl_prior += o.kl_prior;
        self.log_evidence += o.log_evidence;
        self.kl_posterior += o.kl_posterior;
        self.ell_variance += o.ell_variance;
        self.elbo_estimate_variance += o.elbo_estimate_variance;
        self.continuous_elbo += o.continuous_elbo;
        self.iw_bound += o.iw_bound;
        self.iw_bound_variance += o.iw_bound_variance;
    }

    /// The bound a bits-back block's net bits are expected at: the `N`-particle bound
    /// with particles, the ELBO (Eq. 3) otherwise.
    pub fn coding_bound(&self) -> f64 {
        if self.particles > 1 {
            self.iw_bound
        } else {
            self.elbo_joint_entropy()
        }
    }

    /// The variance of the [`ElboTerms::coding_bound`] estimate.
    pub fn coding_bound_variance(&self) -> f64 {
        if self.particles > 1 {
            self.iw_bound_variance
        } else {
            self.elbo_estimate_variance
        }
    }
}

/// What happened to one block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockRecord {
    /// Chunk index.
    pub chunk: u64,
    /// Block index inside the chunk.
    pub block: usize,
    /// Number of symbols.
    pub len: usize,
    /// True for the chunk-start block, coded with its MAP latent and no bits back.
    pub bootstrap: bool,
    /// The latent that was coded.
    pub latent: usize,
    /// False for a block whose flag says its latent does not pay, coded latent-free
    /// (history chain); true for every other block.
    pub latent_on: bool,
    /// Measured stack growth over this block, `num_valid_bits` after minus before.
    pub net_bits: f64,
    /// Code length of what was coded, `-log2 P(x, z) + log2 Q(z)` at the coded latent
    /// (`Q = 1` without bits back): what `net_bits` is up to ANS rounding.
    pub coded_bits: f64,
    /// ELBO terms of the coded posterior.
    pub terms: ElboTerms,
}

/// Sums over the blocks of one chunk or file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RateTotals {
    /// Number of bits-back blocks.
    pub blocks: u64,
    /// Number of chunk-start blocks.
    pub bootstrap_blocks: u64,
    /// Bits-back blocks coded latent-free by their flag.
    pub latent_off_blocks: u64,
    /// Stack growth over the bits-back blocks.
    pub net_bits: f64,
    /// `sum coded_bits` over the bits-back blocks.
    pub coded_bits: f64,
    /// `sum -ELBO_i` over the bits-back blocks.
    pub neg_elbo_bits: f64,
    /// `sum Var_Q[ell_i]`: variance of `net_bits` around `neg_elbo_bits` predicted from
    /// the sampling of the popped latents.
    pub net_variance_bits2: f64,
    /// Variance of the `neg_elbo_bits` estimate (Monte Carlo; 0 when exact).
    pub neg_elbo_variance_bits2: f64,
    /// Continuous-model `-ELBO` before discretization (continuous latents only).
    pub continuous_neg_elbo_bits: f64,
    /// `sum -log2 P(x_i)` over the bits-back blocks.
    pub neg_log_px_bits: f64,
    /// The bound the net bits are expected at, summed over the bits-back blocks: the
    /// `N`-particle bound of importance-weighted blocks, `-ELBO` of the others.
    pub neg_iwae_bits: f64,
    /// Variance of the `neg_iwae_bits` estimate.
    pub neg_iwae_variance_bits2: f64,
    /// Stack growth over the chunk-start blocks.
    pub bootstrap_bits: f64,
    /// What chunk starts cost above their `-log2 P(x)`.
    pub initial_bits: f64,
    /// ELBO terms summed over the bits-back blocks.
    pub elbo: ElboTerms,
}

impl RateTotals {
    /// Account one block.
    pub fn add_block(&mut self, b: &BlockRecord) {
        if b.bootstrap {
            self.bootstrap_blocks += 1;
            self.bootstrap_bits += b.net_bits;
            self.initial_bits += b.net_bits + b.terms.log_evidence;
        } else {
            self.blocks += 1;
            self.latent_off_blocks += !b.latent_on as u64;
            self.net_bits += b.net_bits;
            self.coded_bits += b.coded_bits;
            self.neg_elbo_bits -= b.terms.elbo_joint_entropy();
            self.net_variance_bits2 += b.terms.ell_variance;
            self.neg_elbo_variance_bits2 += b.terms.elbo_estimate_variance;
            self.continuous_neg_elbo_bits -= b.terms.continuous_elbo;
            self.neg_log_px_bits -= b.terms.log_evidence;
            self.neg_iwae_bits -= b.terms.coding_bound();
            self.neg_iwae_variance_bits2 += b.terms.coding_bound_variance();
            self.elbo.add(&b.terms);
        }
    }

    /// Add another set of totals.
    pub fn merge(&mut self, o: &RateTotals) {
        self.blocks += o.blocks;
        self.bootstrap_blocks += o.bootstrap_blocks;
        self.latent_off_blocks += o.latent_off_blocks;
        self.net_bits += o.net_bits;
        self.coded_bits += o.coded_bits;
        self.neg_elbo_bits += o.neg_elbo_bits;
        self.net_variance_bits2 += o.net_variance_bits2;
        self.neg_elbo_variance_bits2 += o.neg_elbo_variance_bits2;
        self.continuous_neg_elbo_bits += o.continuous_neg_elbo_bits;
        self.neg_log_px_bits += o.neg_log_px_bits;
        self.neg_iwae_bits += o.neg_iwae_bits;
        self.neg_iwae_variance_bits2 += o.neg_iwae_variance_bits2;
        self.bootstrap_bits += o.bootstrap_bits;
        self.initial_bits += o.initial_bits;
        self.elbo.add(&o.elbo);
    }

    /// `neg_elbo_bits - neg_log_px_bits`: the predicted overhead, `sum KL(Q || P(z|x))`.
    pub fn kl_bits(&self) -> f64 {
        self.neg_iwae_bits - self.neg_log_px_bits
    }

    /// `net_bits - neg_log_px_bits`: the measured overhead.
    pub fn overhead_bits(&self) -> f64 {
        self.net_bits - self.neg_log_px_bits
    }
}

/// The seed's three ELBO decompositions, summed over the bits-back blocks (bits).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ElboReport {
    /// Eq. 3, first term.
    pub expected_log_joint: f64,
    /// Eq. 3, second term.
    pub entropy: f64,
    /// Eq. 4, first term.
    pub expected_log_lik: f64,
    /// Eq. 4, second term.
    pub kl_prior: f64,
    /// Eq. 5, first term.
    pub log_evidence: f64,
    /// Eq. 5, second term.
    pub kl_posterior: f64,
    /// ELBO by Eq. 3.
    pub elbo_eq3: f64,
    /// ELBO by Eq. 4.
    pub elbo_eq4: f64,
    /// ELBO by Eq. 5.
    pub elbo_eq5: f64,
}

impl From<&ElboTerms> for ElboReport {
    fn from(t: &ElboTerms) -> Self {
        Self {
            expected_log_joint: t.expected_log_joint,
            entropy: t.entropy,
            expected_log_lik: t.expected_log_lik,
            kl_prior: t.kl_prior,
            log_evidence: t.log_evidence,
            kl_posterior: t.kl_posterior,
            elbo_eq3: t.elbo_joint_entropy(),
            elbo_eq4: t.elbo_lik_kl(),
            elbo_eq5: t.elbo_evidence_kl(),
        }
    }
}

/// The file-level report printed by `encode --report` and `inspect --json`.
///
/// Keys are stable: they may be added, never renamed or removed. All figures are bits
/// unless the name says otherwise. `net_bits`, `neg_elbo_bits`, `neg_log_px_bits`,
/// `kl_bits` and `overhead_bits` are sums over the bits-back blocks; chunk starts are in
/// `initial_bits`, stored parameters in `header_bits`, raw chunks in `raw_bits`, and
/// framing plus ANS word padding in `container_bits`, so that
/// `8 * compressed_bytes = net_bits + bootstrap_bits + raw_bits + header_bits + container_bits`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RateReport {
    /// Original size.
    pub input_bytes: u64,
    /// Compressed size, all-in.
    pub compressed_bytes: u64,
    /// `8 * compressed_bytes / input_bytes`.
    pub bits_per_byte: f64,
    /// Measured stack growth over the bits-back blocks.
    pub net_bits: f64,
    /// Code length of the latents actually popped, `sum -log2 P(x_i, z_i) + log2 Q(z_i)`:
    /// `net_bits` up to ANS rounding. `coded_bits - neg_elbo_bits` is the sampling
    /// noise of the popped latents.
    pub coded_bits: f64,
    /// Predicted standard deviation of `net_bits` around `neg_iwae_bits` (which is
    /// `neg_elbo_bits` except under `--posterior iw`), from sampling the popped latents.
    pub net_stderr_bits: f64,
    /// `sum -ELBO_i` of the coded posteriors.
    pub neg_elbo_bits: f64,
    /// Standard error of `neg_elbo_bits` (0 when it is exact by enumeration).
    pub neg_elbo_stderr_bits: f64,
    /// `sum -log2 P(x_i)`.
    pub neg_log_px_bits: f64,
    /// What the net bits are expected at: under `--posterior iw`, the `N`-particle
    /// bound `sum -log2 (1/N) sum_k w_k` (Monte Carlo, with its standard error below);
    /// `neg_elbo_bits` for every other posterior.
    #[serde(default)]
    pub neg_iwae_bits: f64,
    /// Standard error of `neg_iwae_bits`.
    #[serde(default)]
    pub neg_iwae_stderr_bits: f64,
    /// Particles per block of `--posterior iw` (1 for every other posterior).
    #[serde(default)]
    pub particles: u64,
    /// `exact` (enumeration) or `iwae`.
    pub neg_log_px_method: String,
    /// Importance samples per block of the IWAE estimate (0 when exact).
    pub iwae_samples: u64,
    /// Bins per latent dimension are `2^bin_bits` (continuous latents; 0 otherwise).
    pub bin_bits: u64,
    /// `-ELBO` of the continuous model before discretization (continuous latents).
    pub continuous_neg_elbo_bits: f64,
    /// What discretizing the latent costs: `neg_elbo_bits - continuous_neg_elbo_bits`.
    pub bin_cost_bits: f64,
    /// `neg_iwae_bits - neg_log_px_bits`: predicted overhead (`neg_elbo_bits -
    /// neg_log_px_bits`, the KL, except under `--posterior iw`).
    pub kl_bits: f64,
    /// `net_bits - neg_log_px_bits`: measured overhead.
    pub overhead_bits: f64,
    /// Cost of chunk starts above their `-log2 P(x)`.
    pub initial_bits: f64,
    /// Stack growth over the chunk-start blocks.
    pub bootstrap_bits: f64,
    /// Stored model parameters.
    pub header_bits: f64,
    /// Chunks stored raw.
    pub raw_bits: f64,
    /// Framing, checksums and ANS word padding.
    pub container_bits: f64,
    /// Ideal static order-0 code length of the input (no header), for comparison.
    pub order0_bits: f64,
    /// The three ELBO decompositions.
    pub elbo: ElboReport,
    /// Model name.
    pub model: String,
    /// Posterior name (`bbvi`, `exact`, `map`).
    pub posterior: String,
    /// Estimator name (BBVI only; empty otherwise).
    pub estimator: String,
    /// Symbols per block.
    pub block_size: u64,
    /// Bytes per chunk.
    pub chunk_size: u64,
    /// Number of chunks.
    pub chunks: u64,
    /// Number of chunks stored raw.
    pub raw_chunks: u64,
    /// Number of bits-back blocks.
    pub blocks: u64,
    /// Number of chunk-start blocks.
    pub bootstrap_blocks: u64,
    /// Bits-back blocks coded latent-free because their flag said the latent does not
    /// pay (`--model cm`); `blocks - latent_off_blocks` used their latent.
    #[serde(default)]
    pub latent_off_blocks: u64,
    /// Mixture components chosen in each coded chunk.
    pub components: Vec<u64>,
    /// Members of the file: 1 for one (an encoder writes one), more for members back
    /// to back, as `cat` of `.bbc` files makes.
    #[serde(default)]
    pub members: u64,
}

impl RateReport {
    /// Fill the rate fields from totals.
    pub fn set_totals(&mut self, t: &RateTotals) {
        self.net_bits = t.net_bits;
        self.coded_bits = t.coded_bits;
        self.net_stderr_bits = math::sqrt(t.net_variance_bits2);
        self.neg_elbo_bits = t.neg_elbo_bits;
        self.neg_elbo_stderr_bits = math::sqrt(t.neg_elbo_variance_bits2);
        self.neg_log_px_bits = t.neg_log_px_bits;
        if self.neg_log_px_method.is_empty() {
            self.neg_log_px_method = "exact".into();
        }
        if self.bin_bits > 0 {
            self.continuous_neg_elbo_bits = t.continuous_neg_elbo_bits;
            self.bin_cost_bits = t.neg_elbo_bits - t.continuous_neg_elbo_bits;
        }
        self.neg_iwae_bits = t.neg_iwae_bits;
        self.neg_iwae_stderr_bits = math::sqrt(t.neg_iwae_variance_bits2);
        self.kl_bits = t.kl_bits();
        self.overhead_bits = t.overhead_bits();
        self.initial_bits = t.initial_bits;
        self.bootstrap_bits = t.bootstrap_bits;
        self.elbo = ElboReport::from(&t.elbo);
        self.blocks = t.blocks;
        self.bootstrap_blocks = t.bootstrap_blocks;
        self.latent_off_blocks = t.latent_off_blocks;
    }
}

/// Ideal static order-0 code length in bits: `sum_c n_c log2(N / n_c)`.
pub fn order0_bits(data: &[u8]) -> f64 {
    let mut counts = [0u64; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let n = data.len() as f64;
    let mut bits = 0.0;
    for &c in &counts {
        if c > 0 {
            bits += c as f64 * math::log2(n / c as f64);
        }
    }
    bits
}
