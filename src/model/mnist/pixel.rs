//! The pixel likelihood: a mixture of discretized logistics over 0..=255, its
//! log-probability with gradients, and its fixed-point CDF for the coder.

use super::{LOG_SCALE_RANGE, MAX_COMPONENTS};
use crate::categorical::{SymbolModel, PRECISION, TOTAL};
use crate::math;

/// One pixel's distribution: a mixture of discretized logistics over `0..=255`, in
/// scaled units `y = 2 x / 255 - 1` with bins of width `2 / 255`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelMixture {
    k: usize,
    log_pi: [f64; MAX_COMPONENTS],
    mu: [f64; MAX_COMPONENTS],
    log_s: [f64; MAX_COMPONENTS],
    /// Whether each log-scale was clamped (its gradient is then 0).
    clamped: [bool; MAX_COMPONENTS],
    /// `exp(log_pi)` and `exp(-log_s)`, computed once (every CDF evaluation reads them).
    pi: [f64; MAX_COMPONENTS],
    inv_s: [f64; MAX_COMPONENTS],
}

/// Half a bin in scaled units.
const HALF_BIN: f64 = 1.0 / 255.0;
/// Fixed-point mass spread by the CDF (the rest is one unit per symbol).
const SPREAD: f64 = (TOTAL - 256) as f64;

/// `ln(sigmoid(a) - sigmoid(b))` for `a > b` (either may be infinite) and, if `grad`,
/// its partial derivatives in `a` and `b` (else zeros), computed in the tail where no
/// cancellation occurs.
pub(super) fn log_sigmoid_diff(a: f64, b: f64, grad: bool) -> (f64, f64, f64) {
    if a == f64::INFINITY {
        // 1 - sigmoid(b) = sigmoid(-b)
        let d = if grad { -math::sigmoid(b) } else { 0.0 };
        return (math::log_sigmoid(-b), 0.0, d);
    }
    if b == f64::NEG_INFINITY {
        let d = if grad { math::sigmoid(-a) } else { 0.0 };
        return (math::log_sigmoid(a), d, 0.0);
    }
    // sigmoid(a) - sigmoid(b) = sigmoid(-b) - sigmoid(-a): use the side nearer a tail.
    let flip = a + b > 0.0;
    let (hi, lo) = if flip { (-b, -a) } else { (a, b) };
    let (lhi, llo) = (math::log_sigmoid(hi), math::log_sigmoid(lo));
    let v = lhi + math::ln(-math::expm1(llo - lhi));
    if !grad {
        return (v, 0.0, 0.0);
    }
    // d/dt ln sigmoid = sigmoid(t) sigmoid(-t), and ln sigmoid(-t) = ln sigmoid(t) - t.
    let dhi = math::exp(2.0 * lhi - hi - v);
    let dlo = -math::exp(2.0 * llo - lo - v);
    if flip {
        (v, -dlo, -dhi)
    } else {
        (v, dhi, dlo)
    }
}

impl PixelMixture {
    /// From the pixel network's `3K` outputs: logits, means, raw log-scales.
    pub fn from_outputs(out: &[f32], k: usize) -> Self {
        let mut m = Self {
            k,
            log_pi: [0.0; MAX_COMPONENTS],
            mu: [0.0; MAX_COMPONENTS],
            log_s: [0.0; MAX_COMPONENTS],
            clamped: [false; MAX_COMPONENTS],
            pi: [0.0; MAX_COMPONENTS],
            inv_s: [0.0; MAX_COMPONENTS],
        };
        let mut mx = f64::NEG_INFINITY;
        for c in 0..k {
            mx = mx.max(out[c] as f64);
        }
        let mut sum = 0.0;
        for c in 0..k {
            sum += math::exp(out[c] as f64 - mx);
        }
        let lse = mx + math::ln(sum);
        for c in 0..k {
            m.log_pi[c] = out[c] as f64 - lse;
            m.mu[c] = out[k + c] as f64;
            let raw = out[2 * k + c] as f64;
            m.log_s[c] = raw.clamp(LOG_SCALE_RANGE.0, LOG_SCALE_RANGE.1);
            m.clamped[c] = raw != m.log_s[c];
            m.pi[c] = math::exp(m.log_pi[c]);
            m.inv_s[c] = math::exp(-m.log_s[c]);
        }
        m
    }

    /// `ln p(x)` in nats, and (if asked) its gradient w.r.t. the `3K` outputs.
    pub fn log_prob(&self, x: u16, grad: Option<&mut [f32]>) -> f64 {
        let k = self.k;
        let want_grad = grad.is_some();
        let y = 2.0 * x as f64 / 255.0 - 1.0;
        let mut c = [0.0f64; MAX_COMPONENTS];
        let mut parts = [(0.0f64, 0.0f64, 0.0f64, 0.0f64); MAX_COMPONENTS];
        let mut mx = f64::NEG_INFINITY;
        for j in 0..k {
            let inv_s = self.inv_s[j];
            let a = if x >= 255 {
                f64::INFINITY
            } else {
                (y + HALF_BIN - self.mu[j]) * inv_s
            };
            let b = if x == 0 {
                f64::NEG_INFINITY
            } else {
                (y - HALF_BIN - self.mu[j]) * inv_s
            };
            let (v, da, db) = log_sigmoid_diff(a, b, want_grad);
            c[j] = self.log_pi[j] + v;
            // d v / d mu and d v / d log_s (infinite edges contribute nothing).
            let (ta, tb) = (
                if da != 0.0 { da * a } else { 0.0 },
                if db != 0.0 { db * b } else { 0.0 },
            );
            parts[j] = (-(da + db) * inv_s, -(ta + tb), 0.0, 0.0);
            mx = mx.max(c[j]);
        }
        let mut sum = 0.0;
        for j in 0..k {
            sum += math::exp(c[j] - mx);
        }
        let lp = mx + math::ln(sum);
        if let Some(g) = grad {
            for j in 0..k {
                let w = math::exp(c[j] - lp);
                g[j] = (w - self.pi[j]) as f32;
                g[k + j] = (w * parts[j].0) as f32;
                g[2 * k + j] = if self.clamped[j] {
                    0.0
                } else {
                    (w * parts[j].1) as f32
                };
            }
        }
        lp
    }

    /// The mixture's CDF at scaled point `e`.
    fn cdf(&self, e: f64) -> f64 {
        let mut f = 0.0;
        for j in 0..self.k {
            f += self.pi[j] * math::sigmoid((e - self.mu[j]) * self.inv_s[j]);
        }
        f
    }

    /// Fixed-point CDF `C(s)` for `s` in `0..=256` (see the module documentation).
    pub fn fixed_cdf(&self, s: usize) -> u32 {
        if s == 0 {
            return 0;
        }
        if s >= 256 {
            return TOTAL;
        }
        let e = (2.0 * s as f64 - 1.0) / 255.0 - 1.0;
        let f = self.cdf(e).clamp(0.0, 1.0);
        ((f * SPREAD) as u32).min(SPREAD as u32) + s as u32
    }
}

impl SymbolModel for PixelMixture {
    fn alphabet_size(&self) -> usize {
        256
    }

    fn interval(&self, s: usize) -> Option<(u32, u32)> {
        if s >= 256 {
            return None;
        }
        let l = self.fixed_cdf(s);
        let r = self.fixed_cdf(s + 1);
        (r > l).then_some((l, r - l))
    }

    fn quantile(&self, q: u32) -> (usize, u32, u32) {
        // Largest s with C(s) <= q.
        let (mut lo, mut hi) = (0usize, 256usize);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if self.fixed_cdf(mid) <= q {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let l = self.fixed_cdf(lo);
        let r = self.fixed_cdf(lo + 1);
        (lo, l, r.saturating_sub(l))
    }
}

const _: () = assert!(PRECISION == 24);
