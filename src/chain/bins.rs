//! Discretization of a continuous latent for coding (DESIGN section 1): `2^b` bins per
//! dimension of equal mass under the `N(0, 1)` prior, as in BB-ANS and craystack.
//!
//! Bin `i` covers `[e_i, e_{i+1})` with `e_i = Phi^{-1}(i / 2^b)`, so the prior codes
//! every bin with probability exactly `2^-b` (a uniform fixed-point distribution). A
//! latent's value is its bin's representative point, the prior's conditional median
//! `Phi^{-1}((i + 1/2) / 2^b)`. The posterior `Q = N(mu, sigma^2)` is coded by its
//! masses on the same bins, computed with the portable normal CDF of [`crate::math`].

use crate::categorical::{QuantizedCategorical, PRECISION};
use crate::error::CodecError;
use crate::math;

/// Smallest supported bin depth.
pub const MIN_BIN_BITS: u32 = 2;
/// Largest supported bin depth (the uniform prior must be exact at 24-bit precision).
pub const MAX_BIN_BITS: u32 = 16;

/// Equal-prior-mass bins of one latent dimension.
///
/// Invariant: `edges.len() == 2^bits + 1` with `edges[0] = -inf`, `edges[2^bits] =
/// +inf`, strictly increasing; `reps.len() == 2^bits`, `edges[i] < reps[i] < edges[i+1]`.
#[derive(Clone, Debug)]
pub struct LatentBins {
    bits: u32,
    edges: Vec<f64>,
    reps: Vec<f64>,
    prior: QuantizedCategorical,
}

impl LatentBins {
    /// Bins of depth `bits` (`MIN_BIN_BITS..=MAX_BIN_BITS`).
    pub fn new(bits: u32) -> Result<Self, CodecError> {
        if !(MIN_BIN_BITS..=MAX_BIN_BITS).contains(&bits) {
            return Err(CodecError::OutOfRange {
                what: "bin bits",
                got: bits as u64,
                min: MIN_BIN_BITS as u64,
                max: MAX_BIN_BITS as u64,
            });
        }
        let n = 1usize << bits;
        let nf = n as f64;
        let mut edges = Vec::with_capacity(n + 1);
        edges.push(f64::NEG_INFINITY);
        for i in 1..n {
            edges.push(math::normal_quantile(i as f64 / nf));
        }
        edges.push(f64::INFINITY);
        let reps = (0..n)
            .map(|i| math::normal_quantile((i as f64 + 0.5) / nf))
            .collect();
        let prior =
            QuantizedCategorical::from_fixed_point(&vec![1u32 << (PRECISION as u32 - bits); n])
                .expect("uniform over 2^bits sums to 2^24");
        Ok(Self {
            bits,
            edges,
            reps,
            prior,
        })
    }

    /// Bin depth `b`.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Number of bins `2^b`.
    pub fn count(&self) -> usize {
        self.reps.len()
    }

    /// Representative point of bin `i`.
    #[inline]
    pub fn rep(&self, i: usize) -> f64 {
        self.reps[i]
    }

    /// The uniform prior over bins (each exactly `2^-b`).
    pub fn prior(&self) -> &QuantizedCategorical {
        &self.prior
    }

    /// The bin containing `z`.
    pub fn bin_of(&self, z: f64) -> usize {
        // First edge > z, minus one; NaN lands in the middle bin.
        if z.is_nan() {
            return self.count() / 2;
        }
        let k = self.edges.partition_point(|&e| e <= z);
        k.saturating_sub(1).min(self.count() - 1)
    }

    /// `(H[Q], KL(Q || prior))` in bits of coded per-dimension posteriors `q` over these
    /// bins, by enumeration (the prior gives every bin `2^-b`).
    pub fn entropy_and_kl(&self, q: &[QuantizedCategorical]) -> (f64, f64) {
        let b = self.bits as f64;
        let (mut entropy, mut kl) = (0.0, 0.0);
        for q in q {
            for bin in 0..self.count() {
                let p = q.prob(bin);
                if p > 0.0 {
                    let l = q.log2_prob(bin);
                    entropy -= p * l;
                    kl += p * (l + b);
                }
            }
        }
        (entropy, kl)
    }

    /// Masses of `N(mu, sigma^2)` on the bins, quantized (leaky: every bin keeps at least
    /// `2^-24`, so any bin the stack hands out can be pushed back). Only bins within 12
    /// standard deviations get their computed mass; the rest get the floor.
    pub fn posterior(&self, mu: f64, sigma: f64) -> QuantizedCategorical {
        let n = self.count();
        let mut w = vec![0.0f64; n];
        let sigma = if sigma.is_finite() && sigma > 0.0 {
            sigma
        } else {
            1e-300
        };
        let mu = if mu.is_finite() { mu } else { 0.0 };
        let lo = self.bin_of(mu - 12.0 * sigma);
        let hi = self.bin_of(mu + 12.0 * sigma);
        // Work in the tail that keeps precision: upper masses as differences of
        // complementary CDFs.
        let cdf = |e: f64| -> (f64, f64) {
            let t = (e - mu) / sigma;
            (math::normal_cdf(t), math::normal_cdf(-t))
        };
        let (mut lower_c, mut upper_c) = cdf(self.edges[lo]);
        for (i, wi) in w.iter_mut().enumerate().take(hi + 1).skip(lo) {
            let (l2, u2) = cdf(self.edges[i + 1]);
            *wi = if self.reps[i] >= mu {
                upper_c - u2
            } else {
                l2 - lower_c
            };
            lower_c = l2;
            upper_c = u2;
        }
        if w.iter().all(|&x| x <= 0.0) {
            w[self.bin_of(mu)] = 1.0;
        }
        QuantizedCategorical::from_float_weights(&w, true).expect("positive mass")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_have_equal_prior_mass_and_ordered_reps() {
        let b = LatentBins::new(6).unwrap();
        assert_eq!(b.count(), 64);
        for i in 0..64 {
            assert_eq!(b.prior().fixed_prob(i), 1 << 18);
            assert!(b.edges[i] < b.reps[i] && b.reps[i] < b.edges[i + 1]);
            assert_eq!(b.bin_of(b.rep(i)), i);
        }
        assert!((b.rep(31) + b.rep(32)).abs() < 1e-12, "symmetric");
    }

    #[test]
    fn posterior_masses_match_the_cdf() {
        let b = LatentBins::new(8).unwrap();
        let q = b.posterior(0.3, 0.2);
        let i = b.bin_of(0.3);
        let exact = math::normal_cdf((b.edges[i + 1] - 0.3) / 0.2)
            - math::normal_cdf((b.edges[i] - 0.3) / 0.2);
        assert!((q.prob(i) - exact).abs() < 1e-5);
        // Prior-shaped Q gives the uniform distribution up to quantization: each bin
        // loses < 2^-24 to rounding down, and the leftover (< 256 * 2^-24) goes to one bin.
        let q = b.posterior(0.0, 1.0);
        for i in 0..256 {
            assert!((q.prob(i) - 1.0 / 256.0).abs() < 257.0 / (1u64 << 24) as f64);
        }
    }
}
