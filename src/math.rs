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

/// Base-2 logarithm in single precision, portable.
#[inline]
pub fn log2f(x: f32) -> f32 {
    libm::log2f(x)
}

/// `x^n` by repeated squaring in a fixed order (the algorithm of compiler-rt's
/// `__powidf2`, written out so the result does not depend on how the platform expands
/// `f64::powi`).
pub fn powi(mut x: f64, mut n: u32) -> f64 {
    let mut r = 1.0;
    loop {
        if n & 1 == 1 {
            r *= x;
        }
        n /= 2;
        if n == 0 {
            return r;
        }
        x *= x;
    }
}

/// `ln(1 + x)`, portable and accurate for small `x`.
#[inline]
pub fn ln_1p(x: f64) -> f64 {
    libm::log1p(x)
}

/// `e^x - 1`, portable and accurate for small `x`.
#[inline]
pub fn expm1(x: f64) -> f64 {
    libm::expm1(x)
}

/// The logistic function `1 / (1 + e^-x)`.
#[inline]
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + exp(-x))
    } else {
        let e = exp(x);
        e / (1.0 + e)
    }
}

/// `ln sigmoid(x) = -softplus(-x)`, stable for large `|x|`.
#[inline]
pub fn log_sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        -ln_1p(exp(-x))
    } else {
        x - ln_1p(exp(x))
    }
}

/// `(ln sigmoid(x), sigmoid(x))` from one `exp` and one `ln_1p` (the pair the
/// likelihood of a bit and its gradient need; `ln sigmoid(-x)` is the first minus `x`).
pub fn log_sigmoid_and_sigmoid(x: f64) -> (f64, f64) {
    let e = exp(-x.abs());
    let l = -ln_1p(e);
    if x >= 0.0 {
        (l, 1.0 / (1.0 + e))
    } else {
        (x + l, e / (1.0 + e))
    }
}

/// Square root (correctly rounded by IEEE 754; routed here for uniformity).
#[inline]
pub fn sqrt(x: f64) -> f64 {
    libm::sqrt(x)
}

/// Round half away from zero (exact; routed here for uniformity).
#[inline]
pub fn round(x: f64) -> f64 {
    libm::round(x)
}

/// Mean and unbiased sample variance (`sum (v - mean)^2 / (n - 1)`) of `v`, in a fixed
/// order; the variance is 0 for fewer than two values.
pub fn mean_variance(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    (mean, var)
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
///
/// Returns `(m, s)`, the largest log joint and `sum_j 2^{lj[j] - m}` added in index
/// order: `m + log2(s)` is [`log2_sum_exp2`] of `lj`, bit for bit.
pub fn normalize_log2(lj: &[f64], out: &mut [f64]) -> (f64, f64) {
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
    (m, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_variance_is_the_unbiased_sample_variance() {
        assert_eq!(mean_variance(&[]), (0.0, 0.0));
        assert_eq!(mean_variance(&[3.0]), (3.0, 0.0));
        // 1, 2, 3, 4: mean 2.5, squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5 over 3.
        let (m, v) = mean_variance(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert_eq!(v, 5.0 / 3.0);
        assert_eq!(round(2.5), 3.0);
        assert_eq!(round(-2.5), -3.0);
    }

    #[test]
    fn the_sigmoid_pair_is_the_two_functions() {
        for x in [-40.0, -7.5, -1.0, -1e-9, 0.0, 1e-9, 0.3, 2.0, 35.0] {
            let (l, s) = log_sigmoid_and_sigmoid(x);
            assert!((l - log_sigmoid(x)).abs() <= 1e-15 * (1.0 + l.abs()), "{x}");
            assert!((s - sigmoid(x)).abs() <= 1e-15 * s, "{x}");
            // ln sigmoid(-x) = ln sigmoid(x) - x.
            let m = log_sigmoid(-x);
            assert!((l - x - m).abs() <= 1e-13 * (1.0 + m.abs()), "{x}");
        }
    }

    #[test]
    fn powi_is_exact_where_it_can_be_and_close_elsewhere() {
        assert_eq!(powi(0.5, 10), 1.0 / 1024.0);
        assert_eq!(powi(3.0, 0), 1.0);
        assert_eq!(powi(-2.0, 5), -32.0);
        for n in [1u32, 7, 100, 4999] {
            let want = exp(n as f64 * ln(0.999));
            assert!((powi(0.999, n) - want).abs() < 1e-12 * want, "{n}");
        }
    }

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

/// Standard normal CDF `Phi(x) = erfc(-x / sqrt 2) / 2`, portable and accurate in both
/// tails (erfc does not cancel).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x * core::f64::consts::FRAC_1_SQRT_2)
}

/// Standard normal log density `ln N(x; 0, 1)`.
pub fn normal_log_pdf(x: f64) -> f64 {
    -0.5 * x * x - 0.918_938_533_204_672_8
}

/// Inverse standard normal CDF for `p` in `(0, 1)`: Acklam's rational approximation
/// refined by two Halley steps on [`normal_cdf`] (relative error ~1e-15). Portable:
/// built from `+ - * /`, `ln`, `sqrt`, `exp` and `erfc` of libm only.
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let plow = 0.02425;
    let mut x = if p < plow {
        let q = sqrt(-2.0 * ln(p));
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - plow {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = sqrt(-2.0 * ln(1.0 - p));
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    for _ in 0..2 {
        let e = normal_cdf(x) - p;
        let u = e * sqrt(2.0 * core::f64::consts::PI) * exp(0.5 * x * x);
        x -= u / (1.0 + 0.5 * x * u);
    }
    x
}

/// Standard normal draw by Box-Muller from two uniforms in `(0, 1)` and `[0, 1)`.
pub fn box_muller(u1: f64, u2: f64) -> f64 {
    sqrt(-2.0 * ln(u1)) * libm::cos(2.0 * core::f64::consts::PI * u2)
}

#[cfg(test)]
mod normal_tests {
    use super::*;

    #[test]
    fn quantile_inverts_cdf() {
        for &p in &[1e-12, 1e-6, 0.01, 0.2, 0.5, 0.7, 0.99, 1.0 - 1e-9] {
            let x = normal_quantile(p);
            assert!((normal_cdf(x) - p).abs() <= 1e-14 * p.max(1e-3), "{p} {x}");
        }
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-12);
    }
}
