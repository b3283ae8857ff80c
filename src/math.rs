//! Portable floating-point functions: the only home of transcendental math.
//!
//! The decoder re-runs every posterior fit, so `fit(x)` must produce bit-identical
//! results on every machine, build profile and thread count (DESIGN section 2). IEEE 754
//! guarantees correctly rounded `+ - * / sqrt`, but not `exp`, `ln` or `log2`, whose
//! `std` versions call the platform's libm. This module routes every transcendental
//! function through the pure-Rust [`libm`] crate, so the same bits come out everywhere.
//! Nothing in the crate calls `f64::exp` and friends directly.

/// `ln(2)`.
pub const LN_2: f64 = core::f64::consts::LN_2;

/// `e^x`, portable.
#[inline]
pub fn exp(x: f64) -> f64 {
    libm::exp(x)
}

/// `2^x`, portable.
#[inline]
pub fn exp2(x: f64) -> f64 {
    libm::exp2(x)
}

/// Natural logarithm, portable.
#[inline]
pub fn ln(x: f64) -> f64 {
    libm::log(x)
}

/// Base-2 logarithm, portable.
#[inline]
pub fn log2(x: f64) -> f64 {
    libm::log2(x)
}

/// Square root (correctly rounded by IEEE 754; routed here for uniformity).
#[inline]
pub fn sqrt(x: f64) -> f64 {
    libm::sqrt(x)
}

/// `log2(sum_i 2^{a_i})`, computed stably in a fixed order.
///
/// Returns `-inf` for an empty slice or when all entries are `-inf`.
pub fn log2_sum_exp2(a: &[f64]) -> f64 {
    let m = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    let mut s = 0.0;
    for &v in a {
        s += exp2(v - m);
    }
    m + log2(s)
}

/// Softmax of natural-log logits into `out`, in a fixed order.
///
/// `out[k] = exp(phi[k] - max) / sum_j exp(phi[j] - max)`.
pub fn softmax(phi: &[f64], out: &mut [f64]) {
    debug_assert_eq!(phi.len(), out.len());
    let m = phi.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for (o, &p) in out.iter_mut().zip(phi) {
        *o = exp(p - m);
        s += *o;
    }
    let inv = 1.0 / s;
    for o in out.iter_mut() {
        *o *= inv;
    }
}

/// Posterior from base-2 log joints: `out[k] = 2^{lj[k]} / sum_j 2^{lj[j]}`.
pub fn normalize_log2(lj: &[f64], out: &mut [f64]) {
    let m = lj.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for (o, &v) in out.iter_mut().zip(lj) {
        *o = exp2(v - m);
        s += *o;
    }
    let inv = 1.0 / s;
    for o in out.iter_mut() {
        *o *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_sum_exp2_matches_direct_sum() {
        let a = [-3.0, -1.0, -2.5];
        let direct = log2(exp2(-3.0) + exp2(-1.0) + exp2(-2.5));
        assert!((log2_sum_exp2(&a) - direct).abs() < 1e-14);
        assert_eq!(log2_sum_exp2(&[]), f64::NEG_INFINITY);
    }

    #[test]
    fn softmax_is_normalized_and_shift_invariant() {
        let phi = [1.0, 2.0, -700.0, 3.0];
        let mut q = [0.0; 4];
        softmax(&phi, &mut q);
        assert!((q.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        let shifted: Vec<f64> = phi.iter().map(|p| p + 1000.0).collect();
        let mut q2 = [0.0; 4];
        softmax(&shifted, &mut q2);
        for (a, b) in q.iter().zip(&q2) {
            assert!((a - b).abs() < 1e-15);
        }
    }
}
