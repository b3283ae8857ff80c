//! The logistic latent model for byte files (`--model logistic`): per block
//! `z ~ N(0, I_d)`, and the block's bytes i.i.d. given `z` with
//! `P(x_j = c | z) = softmax(b + W z)_c`.
//!
//! The posterior is intractable, so `-log2 P(x)` is estimated by importance weighting
//! (IWAE) and `-ELBO` by Monte Carlo. `W` and `b` are fitted per chunk on the encoder
//! (principal directions of the blocks' log-frequency profiles, refined by gradient
//! ascent of the likelihood at per-block MAP latents), quantized (b: `i16` in steps of
//! 1/256 nat; W: `i8` with one `f32` scale per latent dimension) and stored in the file.
//! The dequantized values define the model on both sides.
#![allow(clippy::needless_range_loop)] // index loops read like the formulas

use crate::categorical::QuantizedCategorical;
use crate::chain::ContinuousLatentModel;
use crate::error::{Field, FormatError};
use crate::inference::gaussian::{map_fit, ReparamConfig};
use crate::inference::Adam;
use crate::math;

mod config;
pub use config::LogisticConfig;

/// Alphabet of the byte model.
pub const ALPHABET: usize = 256;
/// Largest latent dimension a file may declare.
pub const MAX_LATENT_DIM: usize = 32;
/// Offset of symbols absent from the chunk (nats); they keep a tiny leaky mass.
const ABSENT_LOGIT: f64 = -30.0;
/// Symbols with `b_c` at or below this are skipped by the fit (their mass is < e^-25).
const ACTIVE_LOGIT: f64 = -25.0;
const B_STEP: f64 = 1.0 / 256.0;

/// Stored parameters.
///
/// Invariant: `b.len() == 256`, `w_scale.len() == d`, `w.len() == 256 * d`.
#[derive(Clone, Debug, PartialEq)]
pub struct LogisticParams {
    /// Latent dimension.
    pub d: usize,
    /// Offsets in units of 1/256 nat.
    pub b: Vec<i16>,
    /// Per-dimension scale of `W`.
    pub w_scale: Vec<f32>,
    /// Quantized loadings, row-major `256 x d`.
    pub w: Vec<i8>,
}

impl LogisticParams {
    /// Serialize: `u8 d`, 256 `i16` offsets, `d` `f32` scales, `256 d` `i8` loadings.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 512 + 4 * self.d + 256 * self.d);
        out.push(self.d as u8);
        for v in &self.b {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in &self.w_scale {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend(self.w.iter().map(|&v| v as u8));
        out
    }

    /// Parse, checking the dimension against `expected_d`.
    pub fn decode(bytes: &[u8], expected_d: usize) -> Result<Self, FormatError> {
        let d = *bytes
            .first()
            .ok_or(FormatError::Truncated(Field::Parameters))? as usize;
        if d != expected_d || d == 0 || d > MAX_LATENT_DIM {
            return Err(FormatError::Invalid {
                field: Field::Parameters,
                got: d as u64,
            });
        }
        if bytes.len() != 1 + 512 + 4 * d + 256 * d {
            return Err(FormatError::Corrupt(Field::Parameters));
        }
        let b = bytes[1..513]
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        let w_scale: Vec<f32> = bytes[513..513 + 4 * d]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if w_scale
            .iter()
            .any(|s| !s.is_finite() || *s < 0.0 || *s > 1e3)
        {
            return Err(FormatError::Corrupt(Field::Parameters));
        }
        let w = bytes[513 + 4 * d..].iter().map(|&v| v as i8).collect();
        Ok(Self { d, b, w_scale, w })
    }
}

/// The coding-ready model.
#[derive(Clone, Debug)]
pub struct LogisticModel {
    params: LogisticParams,
    b: Vec<f64>,
    w: Vec<f64>,
    active: Vec<usize>,
}

/// A block prepared for the fit: its histogram.
#[derive(Clone, Debug)]
pub struct LogisticBlock {
    entries: Vec<(usize, f64)>,
    total: f64,
}

impl LogisticModel {
    /// Build from stored parameters.
    pub fn from_params(params: LogisticParams) -> Self {
        let d = params.d;
        let b: Vec<f64> = params.b.iter().map(|&v| v as f64 * B_STEP).collect();
        let mut w = vec![0.0; ALPHABET * d];
        for c in 0..ALPHABET {
            for k in 0..d {
                w[c * d + k] = params.w[c * d + k] as f64 * params.w_scale[k] as f64;
            }
        }
        let active = (0..ALPHABET).filter(|&c| b[c] > ACTIVE_LOGIT).collect();
        Self {
            params,
            b,
            w,
            active,
        }
    }

    /// The stored parameters.
    pub fn params(&self) -> &LogisticParams {
        &self.params
    }

    fn logits(&self, z: &[f64], out: &mut [f64]) {
        let d = self.params.d;
        for c in 0..ALPHABET {
            let mut l = self.b[c];
            for k in 0..d {
                l += self.w[c * d + k] * z[k];
            }
            out[c] = l;
        }
    }

    /// Fit parameters to the blocks of one chunk (encoder side).
    pub fn fit(blocks: &[&[u16]], d: usize) -> Self {
        Self::from_params(fit_params(blocks, d))
    }
}

impl ContinuousLatentModel for LogisticModel {
    type Block = LogisticBlock;

    fn latent_dim(&self) -> usize {
        self.params.d
    }
    fn alphabet_size(&self) -> usize {
        ALPHABET
    }
    fn prepare(&self, x: &[u16]) -> LogisticBlock {
        let mut counts = [0u32; ALPHABET];
        for &s in x {
            counts[(s as usize) & 0xFF] += 1;
        }
        let entries = (0..ALPHABET)
            .filter(|&c| counts[c] > 0)
            .map(|c| (c, counts[c] as f64))
            .collect();
        LogisticBlock {
            entries,
            total: x.len() as f64,
        }
    }
    /// `ln p(x|z) = sum_c n_c l_c - N lse(l)`, `grad_k = sum_c (n_c - N p_c) W_ck`,
    /// over the active symbols (absent ones carry < e^-25 of mass).
    fn log_lik_grad(&self, blk: &LogisticBlock, z: &[f64], grad: &mut [f64]) -> f64 {
        let d = self.params.d;
        let mut l = [0.0f64; ALPHABET];
        let mut m = f64::NEG_INFINITY;
        for &c in &self.active {
            let mut v = self.b[c];
            for k in 0..d {
                v += self.w[c * d + k] * z[k];
            }
            l[c] = v;
            m = m.max(v);
        }
        let mut sum = 0.0;
        let mut e = [0.0f64; ALPHABET];
        for &c in &self.active {
            e[c] = math::exp(l[c] - m);
            sum += e[c];
        }
        let lse = m + math::ln(sum);
        grad.iter_mut().for_each(|g| *g = 0.0);
        for &c in &self.active {
            let p = e[c] / sum;
            for k in 0..d {
                grad[k] -= blk.total * p * self.w[c * d + k];
            }
        }
        let mut ll = -blk.total * lse;
        for &(c, n) in &blk.entries {
            ll += n * l[c];
            for k in 0..d {
                grad[k] += n * self.w[c * d + k];
            }
        }
        ll
    }
    fn likelihood(&self, z: &[f64], _len: usize) -> Vec<QuantizedCategorical> {
        let mut l = [0.0f64; ALPHABET];
        self.logits(z, &mut l);
        let m = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = l.iter().map(|&v| math::exp(v - m)).collect();
        vec![QuantizedCategorical::from_float_weights(&w, true).expect("positive mass")]
    }
}

/// Blocks used by the encoder-side fit.
const FIT_BLOCKS: usize = 512;

/// Encoder-side fit: principal directions of centered, smoothed log-frequency profiles,
/// then a few full-batch Adam steps on `sum_b ln p(x_b | z_b)` at per-block MAP latents.
fn fit_params(blocks: &[&[u16]], d: usize) -> LogisticParams {
    let d = d.clamp(1, MAX_LATENT_DIM);
    let mut pooled = vec![0.0f64; ALPHABET];
    for b in blocks {
        for &s in b.iter() {
            pooled[(s as usize) & 0xFF] += 1.0;
        }
    }
    let total: f64 = pooled.iter().sum::<f64>().max(1.0);
    let support: Vec<usize> = (0..ALPHABET).filter(|&c| pooled[c] > 0.0).collect();
    let p: Vec<f64> = pooled.iter().map(|&c| c / total).collect();
    let mut b = vec![ABSENT_LOGIT; ALPHABET];
    for &c in &support {
        b[c] = math::ln(p[c]);
    }
    let mut w = vec![0.0; ALPHABET * d];
    let stride = blocks.len().div_ceil(FIT_BLOCKS).max(1);
    let sample: Vec<&[u16]> = blocks.iter().step_by(stride).copied().collect();
    let s = support.len();
    if s >= 2 && sample.len() >= 2 {
        // Profiles v_b[c] = ln((n_bc + k p_c) / (N_b + k)) - ln p_c, k = 16.
        let k = 16.0;
        let mut prof = vec![0.0; sample.len() * s];
        for (i, blk) in sample.iter().enumerate() {
            let mut counts = [0.0f64; ALPHABET];
            for &x in blk.iter() {
                counts[(x as usize) & 0xFF] += 1.0;
            }
            let n = blk.len() as f64;
            for (j, &c) in support.iter().enumerate() {
                prof[i * s + j] = math::ln((counts[c] + k * p[c]) / (n + k)) - math::ln(p[c]);
            }
        }
        let nb = sample.len() as f64;
        let mean: Vec<f64> = (0..s)
            .map(|j| (0..sample.len()).map(|i| prof[i * s + j]).sum::<f64>() / nb)
            .collect();
        for i in 0..sample.len() {
            for j in 0..s {
                prof[i * s + j] -= mean[j];
            }
        }
        // Top-d eigenvectors of the covariance by power iteration with deflation.
        let mut found: Vec<(Vec<f64>, f64)> = Vec::new();
        for comp in 0..d {
            let mut v: Vec<f64> = (0..s)
                .map(|j| 1.0 + ((j * 7919 + comp * 104_729) % 97) as f64 / 97.0)
                .collect();
            let mut lambda = 0.0;
            for _ in 0..60 {
                // u = C v = P^T (P v) / nb, minus found components.
                let pv: Vec<f64> = (0..sample.len())
                    .map(|i| (0..s).map(|j| prof[i * s + j] * v[j]).sum())
                    .collect();
                let mut u = vec![0.0; s];
                for i in 0..sample.len() {
                    for j in 0..s {
                        u[j] += prof[i * s + j] * pv[i] / nb;
                    }
                }
                for (f, l) in &found {
                    let dot: f64 = (0..s).map(|j| f[j] * v[j]).sum();
                    for j in 0..s {
                        u[j] -= l * dot * f[j];
                    }
                }
                let norm = math::sqrt(u.iter().map(|x| x * x).sum());
                if norm == 0.0 {
                    break;
                }
                lambda = norm;
                v = u.iter().map(|x| x / norm).collect();
            }
            for (j, &c) in support.iter().enumerate() {
                w[c * d + comp] = v[j] * math::sqrt(lambda);
            }
            found.push((v, lambda));
        }
        for (j, &c) in support.iter().enumerate() {
            b[c] += mean[j];
        }
        refine(&sample, &support, &mut b, &mut w, d);
    }
    quantize(&b, &w, d)
}

/// Full-batch Adam on `b, W` (support symbols) at per-block MAP latents.
fn refine(sample: &[&[u16]], support: &[usize], b: &mut [f64], w: &mut [f64], d: usize) {
    let cfg = ReparamConfig {
        iterations: 30,
        samples: 1,
        learning_rate: 0.1,
    };
    let np = support.len() * (d + 1);
    let mut adam = Adam::new(np);
    for _ in 0..8 {
        let model = LogisticModel::from_params(quantize(b, w, d));
        let mut grad = vec![0.0; np];
        for blk in sample {
            let pre = model.prepare(blk);
            let z = map_fit(&vec![0.0; d], &cfg, &mut |z, g| {
                model.log_lik_grad(&pre, z, g)
            });
            let mut l = [0.0f64; ALPHABET];
            model.logits(&z, &mut l);
            let m = support
                .iter()
                .map(|&c| l[c])
                .fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = support.iter().map(|&c| math::exp(l[c] - m)).sum();
            let mut counts = [0.0f64; ALPHABET];
            for &x in blk.iter() {
                counts[(x as usize) & 0xFF] += 1.0;
            }
            for (j, &c) in support.iter().enumerate() {
                let r = counts[c] - pre.total * math::exp(l[c] - m) / sum;
                grad[j * (d + 1)] += r;
                for k in 0..d {
                    grad[j * (d + 1) + 1 + k] += r * z[k];
                }
            }
        }
        let mut params = vec![0.0; np];
        for (j, &c) in support.iter().enumerate() {
            params[j * (d + 1)] = b[c];
            for k in 0..d {
                params[j * (d + 1) + 1 + k] = w[c * d + k];
            }
        }
        adam.step(&mut params, &grad, 0.05);
        for (j, &c) in support.iter().enumerate() {
            b[c] = params[j * (d + 1)];
            for k in 0..d {
                w[c * d + k] = params[j * (d + 1) + 1 + k];
            }
        }
    }
}

fn quantize(b: &[f64], w: &[f64], d: usize) -> LogisticParams {
    let bq = b
        .iter()
        .map(|&v| (v / B_STEP).round().clamp(i16::MIN as f64, i16::MAX as f64) as i16)
        .collect();
    let mut w_scale = vec![0.0f32; d];
    for (k, sc) in w_scale.iter_mut().enumerate() {
        let m = (0..ALPHABET)
            .map(|c| w[c * d + k].abs())
            .fold(0.0, f64::max);
        *sc = (m / 127.0) as f32;
    }
    let wq = (0..ALPHABET * d)
        .map(|i| {
            let sc = w_scale[i % d] as f64;
            if sc > 0.0 {
                (w[i] / sc).round().clamp(-127.0, 127.0) as i8
            } else {
                0
            }
        })
        .collect();
    LogisticParams {
        d,
        b: bq,
        w_scale,
        w: wq,
    }
}
