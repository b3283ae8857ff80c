//! The context-mixing predictor with a block latent, as the history chain codes it.
//!
//! Block `i` has a latent `z = sigma * u`, `u ~ N(0, I_d)` (`d <= 2`, `sigma` per chunk
//! and dimension, stored), that offsets the final logit of each of its bits:
//!
//! `logit_t(z) = a_t + z . f_t`, `f_t = (1, a_t)` (in nats of the logit),
//!
//! where `a_t = stretch(p_t)` is the latent-free prediction. Dimension 0 is a bias of
//! the block, dimension 1 a change of its confidence (`a_t (1 + z_1)`). The model learns
//! from `p_t` only, so a block's statistics (`p_t` per bit) do not depend on any latent
//! (the history chain's requirement). In integers, with `zq_k = round(4096 sigma_k
//! u_k)`: `p_t(z) = squash(a_t + (256 zq_0 + a_t zq_1) >> 12)`, and `p_t(0) = p_t`
//! exactly.
//!
//! The fit reads the smooth version, `ln p(x | u) = sum_t ln sigmoid(s_t logit_t)`
//! (`s_t = +-1` for the bit), and starts from one Newton step from `u = 0` with the
//! diagonal of the precision as `1 / s_k^2`: the Laplace posterior. A bit's likelihood
//! depends only on its latent-free `p_t` and its value, so the coded `log2 P(x | u)`
//! sums over a block's histogram of `(p_t, bit)`, a few thousand entries for a 4 KiB
//! block's 32,768 bits, and the fit over the same bits grouped by 1/32 nat of logit, a
//! few hundred groups: every bit counts, at a small fraction of the cost.

#![allow(clippy::needless_range_loop)] // index loops read like the formulas

use std::convert::Infallible;
use std::sync::OnceLock;

use constriction::stream::stack::DefaultAnsCoder;
use constriction::stream::{Decode, Encode};

use super::{squash, stretch, Predictor};
use crate::categorical::AnsModel;
use crate::chain::history::{Bit, HistoryModel, BIT_BYTES_PER_WORD};
use crate::error::CodecError;
use crate::inference::gaussian::DiagGaussian;
use crate::math;

/// Largest latent dimension.
pub const MAX_LATENT_DIM: usize = 2;

/// One block's latent-free statistics: its bytes, the prediction of each bit, and
/// their histogram.
#[derive(Clone, Debug)]
pub struct BlockStats {
    bytes: Vec<u8>,
    /// `p_t` (12-bit probability of a 1) per bit, most significant bit first.
    p: Vec<u16>,
    /// `(p, zeros, ones)`: how many bits predicted with `p` were 0 and 1, by
    /// increasing `p`. The likelihood of every latent depends on the block only
    /// through it.
    hist: Vec<(u16, u32, u32)>,
    /// The fit's histogram: `(a, zeros, ones)` with the bits grouped by their logit
    /// `a_t = stretch(p_t)` in steps of 1/32 nat, `a` the group's mean logit in nats.
    /// The fit only has to be reproducible, and it reads a few hundred groups instead
    /// of a few thousand entries; the coded likelihood reads the exact histogram.
    fit: Vec<(f64, f64, f64)>,
    /// Per group of `fit`, the second and third moments of its bits' logits about the
    /// group's mean, `sum (a_t - a)^2` and `sum (a_t - a)^3` (nats), for the smooth
    /// likelihood of the accounting.
    moments: Vec<(f64, f64)>,
    /// The block's zeros and the sum of their logits (nats).
    zeros: (f64, f64),
}

/// Logit steps (of 1/256 nat) per group of the fit's histogram.
const FIT_GROUP: i32 = 8;

/// Most groups of the fit's histogram: 12-bit logits (`-2047..=2047`) in steps of
/// [`FIT_GROUP`].
const FIT_GROUPS: usize = (4096 / FIT_GROUP) as usize;

impl BlockStats {
    fn new(bytes: Vec<u8>, p: Vec<u16>) -> Self {
        // Every vector here is allocated at its final size: the encoder keeps a
        // segment's blocks' statistics at once, so slack is held 64 times over.
        let mut counts = [[0u32; 2]; 4096];
        for (t, &q) in p.iter().enumerate() {
            let bit = (bytes[t >> 3] >> (7 - (t & 7))) & 1;
            counts[q as usize][bit as usize] += 1;
        }
        let seen = counts.iter().filter(|c| c[0] + c[1] > 0).count();
        let mut hist = Vec::with_capacity(seen);
        hist.extend(
            counts
                .iter()
                .enumerate()
                .filter(|(_, c)| c[0] + c[1] > 0)
                .map(|(q, c)| (q as u16, c[0], c[1])),
        );
        // Groups by increasing logit (each entry's stretch is increasing in p): the
        // group, the sum of its bits' logits, its zeros and ones.
        let mut groups: Vec<(i32, f64, f64, f64)> = Vec::with_capacity(seen.min(FIT_GROUPS));
        for &(q, n0, n1) in &hist {
            let a = stretch(q as u32);
            let g = (a + 2048) / FIT_GROUP;
            if groups.last().map(|l| l.0) != Some(g) {
                groups.push((g, 0.0, 0.0, 0.0));
            }
            let last = groups.last_mut().expect("a group was pushed");
            last.1 += a as f64 * (n0 + n1) as f64;
            last.2 += n0 as f64;
            last.3 += n1 as f64;
        }
        // Not collected in place: that would keep `groups`' larger allocation.
        let mut fit: Vec<(f64, f64, f64)> = Vec::with_capacity(groups.len());
        fit.extend(
            groups
                .iter()
                .map(|&(_, sum_a, n0, n1)| (sum_a / (n0 + n1) / 256.0, n0, n1)),
        );
        let mut moments = vec![(0.0, 0.0); fit.len()];
        let mut zeros = (0.0, 0.0);
        let (mut g, mut last) = (0, None);
        for &(q, n0, n1) in &hist {
            let a = stretch(q as u32);
            let group = (a + 2048) / FIT_GROUP;
            if last.is_some_and(|l| l != group) {
                g += 1;
            }
            last = Some(group);
            let (a, n) = (a as f64 / 256.0, (n0 + n1) as f64);
            let d = a - fit[g].0;
            moments[g].0 += n * d * d;
            moments[g].1 += n * d * d * d;
            zeros.0 += n0 as f64;
            zeros.1 += n0 as f64 * a;
        }
        Self {
            bytes,
            p,
            hist,
            fit,
            moments,
            zeros,
        }
    }

    #[inline]
    fn bit(&self, t: usize) -> u32 {
        (self.bytes[t >> 3] >> (7 - (t & 7))) as u32 & 1
    }
}

/// `-log2 (p / 4096)` for every 12-bit probability (accounting only; coding never reads
/// a float).
fn cost_table() -> &'static [f64; 4097] {
    static T: OnceLock<Box<[f64; 4097]>> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = Box::new([0.0; 4097]);
        for (p, v) in t.iter_mut().enumerate().skip(1) {
            *v = -math::log2(p as f64 / 4096.0);
        }
        t
    })
}

/// The latent's effect on a block's predictions: its scale per dimension.
#[derive(Clone, Debug, PartialEq)]
pub struct Offset {
    /// `sigma_k` per latent dimension (the length is `d`).
    sigma: Vec<f64>,
}

/// The predictor of one chunk with its latent's effect, whose scales are chosen per
/// segment.
#[derive(Clone, Debug)]
pub struct CmChain {
    predictor: Predictor,
    /// The latent's dimension.
    d: usize,
    /// The scales of each segment so far (encoder) or of every segment (decoder).
    scales: Vec<Vec<f32>>,
    /// The current segment's.
    offset: Offset,
}

impl CmChain {
    /// A fresh predictor of every context with `2^bits` slots per table, for a latent of
    /// `d` dimensions (the encoder chooses the scales per segment).
    pub fn new(bits: u32, d: usize) -> Self {
        Self::with_spec(bits, super::FULL, d, Vec::new())
    }

    /// A fresh predictor of what `spec` names, with `2^bits` slots per table, for a
    /// latent of `d` dimensions with the scales `scales` of each segment (decoder; empty
    /// for the encoder, which chooses them).
    pub fn with_spec(bits: u32, spec: super::Spec, d: usize, scales: Vec<Vec<f32>>) -> Self {
        Self {
            predictor: Predictor::with_spec(bits, spec),
            d,
            scales,
            offset: Offset::new(&vec![0.0; d]),
        }
    }

    /// The scales of every segment coded so far, as stored (`f32`).
    pub fn scales(&self) -> &[Vec<f32>] {
        &self.scales
    }
}

impl Offset {
    /// The effect of a latent with scales `sigma` (one per dimension).
    pub fn new(sigma: &[f64]) -> Self {
        Self {
            sigma: sigma.to_vec(),
        }
    }

    /// The fixed-point offsets `zq_k = round(4096 sigma_k u_k)` of a latent.
    fn zq(&self, u: Option<&[f64]>) -> [i64; MAX_LATENT_DIM] {
        let mut zq = [0i64; MAX_LATENT_DIM];
        if let Some(u) = u {
            for k in 0..self.sigma.len().min(u.len()) {
                zq[k] = math::round(4096.0 * self.sigma[k] * u[k]).clamp(-1e7, 1e7) as i64;
            }
        }
        zq
    }

    /// The coded probability of a 1 given the latent-free `p` and offsets `zq`.
    #[inline]
    fn coded(p: u32, zq: &[i64; MAX_LATENT_DIM]) -> u32 {
        if zq == &[0; MAX_LATENT_DIM] {
            return p;
        }
        let a = stretch(p) as i64;
        let x = a + ((256 * zq[0] + a * zq[1]) >> 12);
        squash(x.clamp(-2047, 2047) as i32).clamp(1, 4095)
    }

    /// [`Offset::coded`] of every 12-bit `p` for offsets `zq` (`None`: the identity, for
    /// `zq = 0`): one look-up per bit of a block instead of its arithmetic.
    fn coded_table(zq: &[i64; MAX_LATENT_DIM]) -> Option<Vec<u16>> {
        (zq != &[0; MAX_LATENT_DIM]).then(|| (0..4096).map(|p| Self::coded(p, zq) as u16).collect())
    }

    /// The coded probability of a 1 from [`Offset::coded_table`]'s table (`p` below
    /// 4096).
    #[inline(always)]
    fn coded_by(table: &Option<Vec<u16>>, p: u32) -> u32 {
        match table {
            Some(t) => t[p as usize & 4095] as u32,
            None => p,
        }
    }

    /// The latent's features of a prediction, in nats: `(sigma_0, sigma_1 a_t)`.
    #[inline]
    fn features(&self, a: f64, f: &mut [f64; MAX_LATENT_DIM]) {
        f[0] = self.sigma.first().copied().unwrap_or(0.0);
        f[1] = self.sigma.get(1).map_or(0.0, |s| s * a);
    }
}

impl HistoryModel for CmChain {
    type Stats = BlockStats;

    fn latent_dim(&self) -> usize {
        self.d
    }

    fn observe(&mut self, x: &[u8]) -> BlockStats {
        let mut p = Vec::with_capacity(8 * x.len());
        let _ = self.predictor.run::<Infallible>(8 * x.len(), |p0| {
            let t = p.len();
            p.push(p0 as u16);
            Ok((x[t >> 3] >> (7 - (t & 7))) as u32 & 1)
        });
        BlockStats::new(x.to_vec(), p)
    }

    fn pop_block(
        &mut self,
        coder: &mut DefaultAnsCoder,
        u: Option<&[f64]>,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<BlockStats, CodecError> {
        let coded = Offset::coded_table(&self.offset.zq(u));
        let mut bytes = Vec::with_capacity(len);
        let mut p = Vec::with_capacity(8 * len);
        let mut byte = 0u32;
        self.predictor.run::<CodecError>(8 * len, |p0| {
            p.push(p0 as u16);
            let bit = coder
                .decode_symbol(AnsModel(&Bit(Offset::coded_by(&coded, p0))))
                .map_err(|_| CodecError::Corrupt("bit"))? as u32;
            byte = byte << 1 | bit;
            if p.len() % 8 == 0 {
                bytes.push(byte as u8);
                byte = 0;
            }
            Ok(bit)
        })?;
        out.extend_from_slice(&bytes);
        Ok(BlockStats::new(bytes, p))
    }

    fn push_block(
        &self,
        coder: &mut DefaultAnsCoder,
        stats: &BlockStats,
        u: Option<&[f64]>,
    ) -> Result<(), CodecError> {
        let zq = self.offset.zq(u);
        for t in (0..stats.p.len()).rev() {
            let p = Offset::coded(stats.p[t] as u32, &zq);
            coder
                .encode_symbol(stats.bit(t) as usize, AnsModel(&Bit(p)))
                .map_err(|_| CodecError::Corrupt("bit push"))?;
        }
        Ok(())
    }

    fn log2_lik_coded(&self, stats: &BlockStats, u: Option<&[f64]>) -> f64 {
        self.offset.log2_lik_coded(stats, u)
    }

    fn log_lik_grad(&self, stats: &BlockStats, u: &[f64], grad: &mut [f64]) -> f64 {
        self.offset.log_lik_grad(stats, u, grad)
    }

    fn log_lik_smooth(&self, stats: &BlockStats, u: &[f64]) -> f64 {
        self.offset.log_lik_smooth(stats, u)
    }

    fn initial_posterior(&self, stats: &BlockStats) -> DiagGaussian {
        self.offset.initial_posterior(stats)
    }

    fn choose_scales(&mut self, segment: &[BlockStats]) {
        // Stored as f32: both sides use the stored values.
        let sigma: Vec<f32> = choose_sigma(segment, self.d)
            .iter()
            .map(|&s| s as f32)
            .collect();
        self.offset = Offset::new(&sigma.iter().map(|&s| s as f64).collect::<Vec<_>>());
        self.scales.push(sigma);
    }

    fn start_segment(&mut self, s: usize) -> Result<(), CodecError> {
        let sigma = self
            .scales
            .get(s)
            .ok_or(CodecError::Corrupt("latent scales of a segment"))?;
        self.offset = Offset::new(&sigma.iter().map(|&s| s as f64).collect::<Vec<_>>());
        Ok(())
    }

    fn bytes_per_word(&self) -> u64 {
        BIT_BYTES_PER_WORD
    }
}

impl Offset {
    /// `log2 P(x | u)` of the coded predictions, from the block's histogram (exact:
    /// the coded probability of a bit depends on nothing else).
    pub fn log2_lik_coded(&self, stats: &BlockStats, u: Option<&[f64]>) -> f64 {
        let zq = self.zq(u);
        let cost = cost_table();
        let mut bits = 0.0;
        for &(p, n0, n1) in &stats.hist {
            let p = Self::coded(p as u32, &zq) as usize;
            bits += n1 as f64 * cost[p] + n0 as f64 * cost[4096 - p];
        }
        -bits
    }

    /// The smooth `ln p(x | u) = sum_t ln sigmoid(s_t logit_t)` over every bit, for the
    /// accounting's continuous ELBO, from the fit's groups and their moments.
    ///
    /// With `f = ln sigmoid` and `logit_t = c a_t + b` (`c = 1 + sigma_1 u_1`, `b =
    /// sigma_0 u_0`), `ln p = sum_t f(logit_t) - sum_(zeros) logit_t`. The second sum is
    /// linear, exact from the block's zeros and their logits' sum. The first is a Taylor
    /// expansion of each group about its mean `a_g` (the first-order term sums to zero
    /// there): `n_g f(x_g) + c^2 M2_g f2(x_g) / 2 + c^3 M3_g f3(x_g) / 6`, with the
    /// derivatives `f2 = -s (1 - s)`, `f3 = f2 (1 - 2 s)`, `s = sigmoid(x_g)`. What it
    /// leaves out is at most `c^4 max|f4| / 24 sum_t (a_t - a_g)^4 <= c^4 n / 192 / 32^4`
    /// (`|f4| <= 1/8`, `|a_t - a_g| < 1/32` within a group), `5e-9 c^4` nats a bit:
    /// `1.6e-4 c^4` nats for a 4 KiB block. A few hundred groups instead of a few
    /// thousand entries per draw.
    pub fn log_lik_smooth(&self, stats: &BlockStats, u: &[f64]) -> f64 {
        let (c, b) = self.scale_and_shift(u);
        let mut ll = 0.0;
        for (&(a, n0, n1), &(m2, m3)) in stats.fit.iter().zip(&stats.moments) {
            let x = c * a + b;
            let (ls, s) = math::log_sigmoid_and_sigmoid(x);
            let f2 = -s * (1.0 - s);
            let f3 = f2 * (1.0 - 2.0 * s);
            ll += (n0 + n1) * ls + c * c * (0.5 * m2 * f2 + c * m3 * f3 * (1.0 / 6.0));
        }
        ll - (c * stats.zeros.1 + b * stats.zeros.0)
    }

    /// The latent's effect on a logit as `a c + b` (in nats): `c = 1 + sigma_1 u_1`, `b =
    /// sigma_0 u_0`.
    fn scale_and_shift(&self, u: &[f64]) -> (f64, f64) {
        let (mut f, mut g) = ([0.0; MAX_LATENT_DIM], [0.0; MAX_LATENT_DIM]);
        self.features(0.0, &mut f);
        self.features(1.0, &mut g);
        let (mut c, mut b) = (1.0, 0.0);
        for k in 0..self.sigma.len().min(u.len()) {
            // Feature k at logit a is f_k + (g_k - f_k) a.
            b += u[k] * f[k];
            c += u[k] * (g[k] - f[k]);
        }
        (c, b)
    }

    /// [`Offset::log_lik_smooth`] term by term over the exact histogram (the reference
    /// of its test).
    #[cfg(test)]
    fn log_lik_smooth_exact(&self, stats: &BlockStats, u: &[f64]) -> f64 {
        let d = self.sigma.len();
        let mut f = [0.0; MAX_LATENT_DIM];
        let mut ll = 0.0;
        for &(p, n0, n1) in &stats.hist {
            let a = stretch(p as u32) as f64 / 256.0;
            self.features(a, &mut f);
            let mut x = a;
            for k in 0..d {
                x += u[k] * f[k];
            }
            let ls = math::log_sigmoid(x);
            ll += n1 as f64 * ls + n0 as f64 * (ls - x);
        }
        ll
    }

    /// The smooth `ln p(x | u)` and its gradient on the fit's grouped histogram.
    pub fn log_lik_grad(&self, stats: &BlockStats, u: &[f64], grad: &mut [f64]) -> f64 {
        let d = self.sigma.len();
        let mut f = [0.0; MAX_LATENT_DIM];
        let mut g = [0.0; MAX_LATENT_DIM];
        let mut ll = 0.0;
        for &(a, n0, n1) in &stats.fit {
            self.features(a, &mut f);
            let mut x = a;
            for k in 0..d {
                x += u[k] * f[k];
            }
            // n1 ln sigmoid(x) + n0 ln sigmoid(-x); d/dx = n1 - (n0 + n1) sigmoid(x).
            let (ls, s) = math::log_sigmoid_and_sigmoid(x);
            ll += n1 * ls + n0 * (ls - x);
            let r = n1 - (n0 + n1) * s;
            for k in 0..d {
                g[k] += r * f[k];
            }
        }
        grad[..d].copy_from_slice(&g[..d]);
        ll
    }

    /// The Laplace posterior: one Newton step from `u = 0`, with the diagonal of the
    /// precision (likelihood Hessian plus the prior's identity) as `1 / s_k^2`.
    pub fn initial_posterior(&self, stats: &BlockStats) -> DiagGaussian {
        let d = self.sigma.len();
        let mut f = [0.0; MAX_LATENT_DIM];
        let mut g = [0.0; MAX_LATENT_DIM];
        let mut p = [[0.0; MAX_LATENT_DIM]; MAX_LATENT_DIM];
        for k in 0..d {
            p[k][k] = 1.0;
        }
        for &(a, n0, n1) in &stats.fit {
            self.features(a, &mut f);
            let s = math::sigmoid(a);
            let n = n0 + n1;
            let r = n1 - n * s;
            let w = n * s * (1.0 - s);
            for k in 0..d {
                g[k] += r * f[k];
                for l in 0..d {
                    p[k][l] += w * f[k] * f[l];
                }
            }
        }
        let mu = match d {
            0 => vec![],
            1 => vec![g[0] / p[0][0]],
            _ => {
                let det = p[0][0] * p[1][1] - p[0][1] * p[1][0];
                vec![
                    (p[1][1] * g[0] - p[0][1] * g[1]) / det,
                    (p[0][0] * g[1] - p[1][0] * g[0]) / det,
                ]
            }
        };
        DiagGaussian {
            mu,
            rho: (0..d).map(|k| -0.5 * math::ln(p[k][k])).collect(),
        }
    }
}

/// Choose the latent's scales for a chunk (encoder side): empirical Bayes, `sigma_k^2 =
/// mean_i (mu_ik^2 + s_ik^2)` over the blocks' Laplace posteriors of `z` itself (fitted
/// under `N(0, 1)`), twice, clamped to `[1/256, 4]`.
pub fn choose_sigma(stats: &[BlockStats], d: usize) -> Vec<f64> {
    let mut sigma = vec![1.0; d];
    if stats.is_empty() {
        return vec![0.25; d];
    }
    for _ in 0..2 {
        let m = Offset::new(&sigma);
        let mut acc = vec![0.0; d];
        for s in stats {
            let q = m.initial_posterior(s);
            for k in 0..d {
                let z = sigma[k] * q.mu[k];
                let sd = sigma[k] * q.sigma(k);
                acc[k] += z * z + sd * sd;
            }
        }
        for k in 0..d {
            sigma[k] = math::sqrt(acc[k] / stats.len() as f64).clamp(1.0 / 256.0, 4.0);
        }
    }
    sigma
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grouped smooth likelihood against the term-by-term sum over the exact
    /// histogram, on blocks of real text and of a JPEG scan, at latents up to 3 sigma
    /// out: within the Taylor remainder's bound, `5e-9 c^4` nats a bit, plus `1e-12` of
    /// the sum for the rounding of either order of summation.
    #[test]
    fn grouped_smooth_likelihood_is_the_exact_sum() {
        let text = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/alice29-excerpt.txt"
        ))
        .unwrap();
        let jpeg = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/golden/jpeg1500.bin"
        ))
        .unwrap();
        for data in [&text[..], &jpeg[..]] {
            let mut m = CmChain::new(16, 2);
            let blocks: Vec<BlockStats> = data.chunks(4096).map(|x| m.observe(x)).collect();
            let off = Offset::new(&[0.3, 0.2]);
            for s in &blocks {
                let bits = 8.0 * s.bytes.len() as f64;
                for u in [[0.0, 0.0], [1.0, -0.5], [-3.0, 3.0], [2.5, -3.0]] {
                    let c: f64 = 1.0 + 0.2 * u[1];
                    let exact = off.log_lik_smooth_exact(s, &u);
                    let grouped = off.log_lik_smooth(s, &u);
                    let bound = 5e-9 * math::powi(c, 4) * bits + 1e-12 * exact.abs();
                    assert!(
                        (grouped - exact).abs() <= bound,
                        "{u:?}: {grouped} against {exact} (bound {bound})"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod measure {
    use super::*;
    use crate::chain::history::HistoryBitsBackCoder;
    use crate::chain::ContinuousConfig;

    /// Per-block latent gains on a corpus file (`BBCODEC_FILE`), printed.
    #[test]
    #[ignore]
    fn latent_gain() {
        let path = std::env::var("BBCODEC_FILE").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/alice29.txt").into()
        });
        let Ok(data) = std::fs::read(&path) else {
            eprintln!("SKIPPED: {path} absent");
            return;
        };
        let chain = HistoryBitsBackCoder::new(4096, ContinuousConfig::default()).unwrap();
        let mut m = CmChain::new(Predictor::bits_for(data.len(), 22), 2);
        let stats = chain.observe(&mut m, &data);
        let sigma = choose_sigma(&stats, 2);
        eprintln!("sigma {sigma:?}");
        let off = Offset::new(&sigma);
        let (mut tot_off, mut tot_map) = (0.0, 0.0);
        for (i, s) in stats.iter().enumerate() {
            let q = off.initial_posterior(s);
            let l0 = -off.log2_lik_coded(s, None);
            let lm = -off.log2_lik_coded(s, Some(&q.mu));
            let kl = q.kl_to_standard_normal() / math::LN_2;
            tot_off += l0;
            tot_map += lm + kl;
            if i < 8 {
                eprintln!(
                    "{i}: mu {:?} sd {:?} off {l0:.1} at mu {lm:.1} kl {kl:.2}",
                    q.mu,
                    (0..2).map(|k| q.sigma(k)).collect::<Vec<_>>()
                );
            }
        }
        eprintln!("off {tot_off:.1} laplace (lik at mu + kl) {tot_map:.1}");
    }
}
