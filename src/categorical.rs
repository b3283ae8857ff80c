//! Fixed-point categorical distributions: the entropy models handed to the ANS coder.
//!
//! A [`QuantizedCategorical`] stores integer probabilities that sum to exactly
//! `2^PRECISION` ([`PRECISION`] = 24). The same integers drive the coder (through
//! constriction's [`EncoderModel`]/[`DecoderModel`] traits, implemented here) and the
//! rate accounting (through [`QuantizedCategorical::log2_prob`]), so the -ELBO we report
//! is the -ELBO of the distribution that was actually coded.
//!
//! Construction is deterministic: from integer weights with pure integer arithmetic, or
//! from floats with IEEE-exact operations only (`*`, `/`, `floor`).

use core::borrow::Borrow;
use core::num::NonZeroU32;

use constriction::stream::model::{DecoderModel, EncoderModel, EntropyModel};

use crate::math;

/// Bits of fixed-point precision of every entropy model (constriction's default for
/// `AnsCoder<u32, u64>`).
pub const PRECISION: usize = 24;

/// `2^PRECISION`, the total mass of a [`QuantizedCategorical`].
pub const TOTAL: u32 = 1 << PRECISION;

/// Largest alphabet a model may use (symbols are `u16`).
pub const MAX_ALPHABET: usize = 1 << 16;

/// Errors when building a distribution.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CategoricalError {
    /// The alphabet is empty or larger than [`MAX_ALPHABET`].
    #[error("alphabet size is {got}, expected 1..={max}")]
    AlphabetSize {
        /// Requested size.
        got: usize,
        /// Largest allowed size.
        max: usize,
    },
    /// Fixed-point probabilities do not sum to `2^PRECISION`.
    #[error("probabilities sum to {got}, expected {expected}")]
    Mass {
        /// Actual sum.
        got: u64,
        /// Required sum.
        expected: u64,
    },
    /// All weights are zero (or not finite).
    #[error("all weights are zero or not finite, expected at least one positive weight")]
    NoMass,
}

/// A categorical distribution over `0..n` with fixed-point probabilities.
///
/// Invariant: `cdf.len() == n + 1`, `cdf[0] == 0`, `cdf[n] == 2^PRECISION`, and
/// `cdf` is non-decreasing. For `n <= LOG_TABLE_MAX`,
/// `log2_p[s] = log2(cdf[s+1] - cdf[s]) - PRECISION` (`-inf` for zero-probability
/// symbols); larger alphabets compute it on demand.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedCategorical {
    cdf: Vec<u32>,
    log2_p: Vec<f64>,
    /// Optional decoder table: `lookup[q >> LOOKUP_SHIFT]` is the symbol whose interval
    /// holds the bucket's first quantile (see [`QuantizedCategorical::with_lookup`]).
    lookup: Vec<u16>,
}

/// Quantiles per lookup bucket: `2^LOOKUP_SHIFT` (4096 buckets at 24-bit precision).
const LOOKUP_SHIFT: usize = PRECISION - 12;

/// Largest alphabet whose `log2` table is built eagerly.
const LOG_TABLE_MAX: usize = 1024;

#[inline]
fn log2_fixed(p: u32) -> f64 {
    if p == 0 {
        f64::NEG_INFINITY
    } else if p == 1 {
        -(PRECISION as f64)
    } else {
        math::log2(p as f64) - PRECISION as f64
    }
}

impl QuantizedCategorical {
    /// Build from fixed-point probabilities that sum to exactly `2^PRECISION`.
    pub fn from_fixed_point(probs: &[u32]) -> Result<Self, CategoricalError> {
        Self::build(probs.to_vec(), true)
    }

    /// Like [`QuantizedCategorical::from_int_weights`] but without the eager `log2`
    /// table: for distributions built to code a single symbol (adaptive models).
    #[cfg(test)]
    pub(crate) fn from_int_weights_lean(weights: &[u64]) -> Result<Self, CategoricalError> {
        let nonzero = weights.iter().filter(|&&w| w > 0).count() as u64;
        let total: u64 = weights.iter().sum();
        if nonzero == 0 || total >= 1 << 40 {
            return Self::from_int_weights(weights);
        }
        let free = TOTAL as u64 - nonzero;
        let mut probs: Vec<u32> = weights
            .iter()
            .map(|&w| {
                if w == 0 {
                    0
                } else {
                    1 + (w * free / total) as u32
                }
            })
            .collect();
        distribute_leftover(&mut probs, |i| weights[i] as f64);
        Self::build(probs, false)
    }

    /// Check that `probs` sums to `2^PRECISION` and turn it into the cumulative table in
    /// place (one allocation per distribution), with the `log2` table if asked.
    fn build(mut probs: Vec<u32>, log_table: bool) -> Result<Self, CategoricalError> {
        check_alphabet(probs.len())?;
        let sum: u64 = probs.iter().map(|&p| p as u64).sum();
        if sum != TOTAL as u64 {
            return Err(CategoricalError::Mass {
                got: sum,
                expected: TOTAL as u64,
            });
        }
        let log2_p = if log_table && probs.len() <= LOG_TABLE_MAX {
            probs.iter().map(|&p| log2_fixed(p)).collect()
        } else {
            Vec::new()
        };
        probs.push(0);
        probs.rotate_right(1);
        for i in 1..probs.len() {
            probs[i] += probs[i - 1];
        }
        Ok(Self {
            cdf: probs,
            log2_p,
            lookup: Vec::new(),
        })
    }

    /// Build from non-negative integer weights by pure integer arithmetic.
    ///
    /// Every symbol with a positive weight gets probability at least `2^-PRECISION`;
    /// symbols with weight 0 get probability 0. The rest of the mass is shared in
    /// proportion to the weights (rounded down), and what rounding leaves over goes to
    /// the first symbol of largest weight.
    pub fn from_int_weights(weights: &[u64]) -> Result<Self, CategoricalError> {
        check_alphabet(weights.len())?;
        let nonzero = weights.iter().filter(|&&w| w > 0).count() as u64;
        let total: u128 = weights.iter().map(|&w| w as u128).sum();
        if nonzero == 0 {
            return Err(CategoricalError::NoMass);
        }
        let free = TOTAL as u128 - nonzero as u128;
        let mut probs: Vec<u32> = weights
            .iter()
            .map(|&w| {
                if w == 0 {
                    0
                } else {
                    1 + (w as u128 * free / total) as u32
                }
            })
            .collect();
        distribute_leftover(&mut probs, |i| weights[i] as f64);
        Self::build(probs, true)
    }

    /// Build from non-negative float weights (need not be normalized).
    ///
    /// With `leaky = true` every symbol gets probability at least `2^-PRECISION`, even
    /// where its weight is 0; otherwise zero weights give zero probability. Uses only
    /// IEEE-exact operations, so the result is the same on every machine.
    pub fn from_float_weights(weights: &[f64], leaky: bool) -> Result<Self, CategoricalError> {
        Self::build(Self::float_probs(weights, leaky)?, true)
    }

    /// [`QuantizedCategorical::from_float_weights`] without the eager `log2` table
    /// ([`QuantizedCategorical::log2_prob`] computes the same values on demand): for
    /// distributions that code one symbol, such as a block's posterior.
    pub fn from_float_weights_lean(weights: &[f64], leaky: bool) -> Result<Self, CategoricalError> {
        Self::build(Self::float_probs(weights, leaky)?, false)
    }

    /// The fixed-point probabilities of [`QuantizedCategorical::from_float_weights`].
    fn float_probs(weights: &[f64], leaky: bool) -> Result<Vec<u32>, CategoricalError> {
        check_alphabet(weights.len())?;
        let clean = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
        let mut total = 0.0;
        for &w in weights {
            total += clean(w);
        }
        if total <= 0.0 {
            return Err(CategoricalError::NoMass);
        }
        let floor_count = if leaky {
            weights.len()
        } else {
            weights.iter().filter(|&&w| clean(w) > 0.0).count()
        } as f64;
        let free = TOTAL as f64 - floor_count;
        // One spare slot: build turns this vector into the cumulative table.
        let mut probs: Vec<u32> = Vec::with_capacity(weights.len() + 1);
        // The first largest weight takes the rounding leftover.
        let (mut best, mut best_w) = (0, clean(weights[0]));
        for (i, &w) in weights.iter().enumerate() {
            let w = clean(w);
            if w > best_w {
                (best, best_w) = (i, w);
            }
            probs.push(if w == 0.0 && !leaky {
                0
            } else {
                // `w <= total`, so the share lies in `[0, free]`, where truncation is
                // the floor (the same integer on every machine, without a call to
                // `floor`).
                let share = w / total * free;
                1 + (share as u32).min(free as u32)
            });
        }
        add_leftover(&mut probs, best);
        Ok(probs)
    }

    /// Uniform distribution over `0..n` (remainder on the first symbols).
    pub fn uniform(n: usize) -> Result<Self, CategoricalError> {
        Self::from_int_weights(&vec![1; n])
    }

    /// Add a 4096-entry decoder table (8 KiB) so that decoding a symbol is a table read
    /// plus a short forward scan instead of a binary search over the alphabet. Worth it
    /// for distributions that decode many symbols (a mixture component); the decoded
    /// symbols are the same either way.
    pub fn with_lookup(mut self) -> Self {
        if self.len() > u16::MAX as usize + 1 {
            return self;
        }
        let buckets = 1usize << (PRECISION - LOOKUP_SHIFT);
        let mut table = Vec::with_capacity(buckets);
        let mut s = 0usize;
        for b in 0..buckets {
            let q = (b << LOOKUP_SHIFT) as u32;
            while self.cdf[s + 1] <= q {
                s += 1;
            }
            table.push(s as u16);
        }
        self.lookup = table;
        self
    }

    /// Number of symbols `n`.
    pub fn len(&self) -> usize {
        self.cdf.len() - 1
    }

    /// Always false: a distribution has at least one symbol.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fixed-point probability of `symbol` (0 outside the alphabet).
    #[inline]
    pub fn fixed_prob(&self, symbol: usize) -> u32 {
        if symbol + 1 < self.cdf.len() {
            self.cdf[symbol + 1] - self.cdf[symbol]
        } else {
            0
        }
    }

    /// Probability of `symbol` as a float: `fixed_prob / 2^PRECISION`.
    #[inline]
    pub fn prob(&self, symbol: usize) -> f64 {
        self.fixed_prob(symbol) as f64 / TOTAL as f64
    }

    /// `log2` of the probability of `symbol` (`-inf` if zero or outside the alphabet).
    #[inline]
    pub fn log2_prob(&self, symbol: usize) -> f64 {
        match self.log2_p.get(symbol) {
            Some(&l) => l,
            None => log2_fixed(self.fixed_prob(symbol)),
        }
    }

    /// All `log2` probabilities, indexed by symbol (computed here for alphabets larger
    /// than the eager table).
    pub fn log2_probs(&self) -> std::borrow::Cow<'_, [f64]> {
        if self.log2_p.len() == self.len() {
            std::borrow::Cow::Borrowed(&self.log2_p)
        } else {
            std::borrow::Cow::Owned((0..self.len()).map(|s| self.log2_prob(s)).collect())
        }
    }

    /// The cumulative table (`len() + 1` entries, from 0 to `2^PRECISION`).
    pub fn cdf(&self) -> &[u32] {
        &self.cdf
    }

    /// Index of the most probable symbol (the first one on ties).
    pub fn mode(&self) -> usize {
        let mut best = 0;
        for s in 1..self.len() {
            if self.fixed_prob(s) > self.fixed_prob(best) {
                best = s;
            }
        }
        best
    }

    /// Shannon entropy in bits.
    pub fn entropy_bits(&self) -> f64 {
        let mut h = 0.0;
        for s in 0..self.len() {
            let p = self.prob(s);
            if p > 0.0 {
                h -= p * self.log2_prob(s);
            }
        }
        h
    }
}

fn check_alphabet(n: usize) -> Result<(), CategoricalError> {
    if n == 0 || n > MAX_ALPHABET {
        Err(CategoricalError::AlphabetSize {
            got: n,
            max: MAX_ALPHABET,
        })
    } else {
        Ok(())
    }
}

/// Give `2^PRECISION - sum(probs)` to the first symbol of largest weight.
fn distribute_leftover(probs: &mut [u32], weight: impl Fn(usize) -> f64) {
    let mut best = 0;
    for i in 1..probs.len() {
        if weight(i) > weight(best) {
            best = i;
        }
    }
    add_leftover(probs, best);
}

/// Give what rounding left of `TOTAL` to `probs[best]`, the entry of the first largest
/// weight.
fn add_leftover(probs: &mut [u32], best: usize) {
    let sum: u64 = probs.iter().map(|&p| p as u64).sum();
    let leftover = TOTAL as u64 - sum.min(TOTAL as u64);
    probs[best] += leftover as u32;
    // Rounding can only lose mass, never add it; if a pathological input made the sum
    // exceed TOTAL, take the excess from the largest entry.
    let sum: u64 = probs.iter().map(|&p| p as u64).sum();
    if sum > TOTAL as u64 {
        probs[best] -= (sum - TOTAL as u64) as u32;
    }
}

impl EntropyModel<PRECISION> for QuantizedCategorical {
    type Symbol = usize;
    type Probability = u32;
}

impl EncoderModel<PRECISION> for QuantizedCategorical {
    #[inline]
    fn left_cumulative_and_probability(
        &self,
        symbol: impl Borrow<usize>,
    ) -> Option<(u32, NonZeroU32)> {
        let s = *symbol.borrow();
        let left = *self.cdf.get(s)?;
        let right = *self.cdf.get(s + 1)?;
        NonZeroU32::new(right - left).map(|p| (left, p))
    }
}

impl DecoderModel<PRECISION> for QuantizedCategorical {
    #[inline]
    fn quantile_function(&self, quantile: u32) -> (usize, u32, NonZeroU32) {
        let n = self.len();
        let s = if let Some(&start) = self.lookup.get((quantile >> LOOKUP_SHIFT) as usize) {
            // The bucket's first quantile lies in `start`'s interval; scan forward (the
            // scan ends by `cdf[n] = 2^PRECISION > quantile`, or at the table's end).
            let mut s = start as usize;
            while self.cdf.get(s + 1).is_some_and(|&c| c <= quantile) {
                s += 1;
            }
            s
        } else {
            // Largest s with cdf[s] <= quantile; then cdf[s+1] > quantile, so p > 0.
            self.cdf.partition_point(|&c| c <= quantile) - 1
        };
        let s = s.min(n - 1);
        let left = self.cdf[s];
        let p = self.cdf[s + 1] - left;
        // `quantile < 2^PRECISION = cdf[n]` always holds for quantiles produced by the
        // coder, so `p > 0`; the fallback keeps corrupt input from panicking.
        (s, left, NonZeroU32::new(p).unwrap_or(NonZeroU32::MIN))
    }
}

/// A fixed-point distribution over `0..alphabet_size()` with total mass `2^PRECISION`,
/// given by its intervals rather than a table: the form of coding distributions that
/// are cheaper to evaluate per symbol than to tabulate (e.g. a discretized logistic
/// mixture per pixel). [`AnsModel`] hands one to the ANS coder.
pub trait SymbolModel {
    /// Number of symbols.
    fn alphabet_size(&self) -> usize;

    /// `(left cumulative, probability)` of symbol `s` in units of `2^-PRECISION`;
    /// `None` if `s` cannot be coded.
    fn interval(&self, s: usize) -> Option<(u32, u32)>;

    /// The symbol whose interval contains `q < 2^PRECISION`, with its interval
    /// `(symbol, left cumulative, probability)`.
    fn quantile(&self, q: u32) -> (usize, u32, u32);

    /// `log2 P(s)` of the fixed-point distribution (`-inf` if `s` cannot be coded).
    fn log2_prob(&self, s: usize) -> f64 {
        self.interval(s)
            .map_or(f64::NEG_INFINITY, |(_, p)| log2_fixed(p))
    }
}

impl SymbolModel for QuantizedCategorical {
    fn alphabet_size(&self) -> usize {
        self.len()
    }

    fn interval(&self, s: usize) -> Option<(u32, u32)> {
        self.left_cumulative_and_probability(s)
            .map(|(l, p)| (l, p.get()))
    }

    fn quantile(&self, q: u32) -> (usize, u32, u32) {
        let (s, l, p) = self.quantile_function(q);
        (s, l, p.get())
    }

    fn log2_prob(&self, s: usize) -> f64 {
        QuantizedCategorical::log2_prob(self, s)
    }
}

/// Adapter handing any [`SymbolModel`] to constriction's coders.
pub struct AnsModel<'a, M: ?Sized>(pub &'a M);

impl<M: SymbolModel + ?Sized> EntropyModel<PRECISION> for AnsModel<'_, M> {
    type Symbol = usize;
    type Probability = u32;
}

impl<M: SymbolModel + ?Sized> EncoderModel<PRECISION> for AnsModel<'_, M> {
    #[inline]
    fn left_cumulative_and_probability(
        &self,
        symbol: impl Borrow<usize>,
    ) -> Option<(u32, NonZeroU32)> {
        let (l, p) = self.0.interval(*symbol.borrow())?;
        NonZeroU32::new(p).map(|p| (l, p))
    }
}

impl<M: SymbolModel + ?Sized> DecoderModel<PRECISION> for AnsModel<'_, M> {
    #[inline]
    fn quantile_function(&self, quantile: u32) -> (usize, u32, NonZeroU32) {
        let (s, l, p) = self.0.quantile(quantile);
        // A well-formed model never returns p = 0 for a quantile the coder produces;
        // the fallback keeps corrupt input from panicking.
        (s, l, NonZeroU32::new(p).unwrap_or(NonZeroU32::MIN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_weights_sum_to_total_and_keep_support() {
        let q = QuantizedCategorical::from_int_weights(&[0, 1, 1_000_000, 3]).unwrap();
        assert_eq!(q.cdf()[4], TOTAL);
        assert_eq!(q.fixed_prob(0), 0);
        assert!(q.fixed_prob(1) >= 1);
        assert_eq!(q.mode(), 2);
    }

    #[test]
    fn float_weights_leaky() {
        let q = QuantizedCategorical::from_float_weights(&[0.0, 0.25, 0.75], true).unwrap();
        assert_eq!(q.fixed_prob(0), 1);
        let p2 = q.prob(2);
        assert!((p2 - 0.75).abs() < 1e-6);
        assert!(QuantizedCategorical::from_float_weights(&[0.0, f64::NAN], false).is_err());
    }

    #[test]
    fn quantile_function_inverts_cdf() {
        let q = QuantizedCategorical::from_int_weights(&[5, 0, 7, 1]).unwrap();
        for s in [0usize, 2, 3] {
            let (l, p) = q.left_cumulative_and_probability(s).unwrap();
            for quantile in [l, l + p.get() - 1] {
                assert_eq!(q.quantile_function(quantile).0, s);
            }
        }
        assert!(q.left_cumulative_and_probability(1usize).is_none());
        assert!(q.left_cumulative_and_probability(4usize).is_none());
    }

    #[test]
    fn single_symbol_costs_nothing() {
        let q = QuantizedCategorical::from_int_weights(&[1]).unwrap();
        assert_eq!(q.fixed_prob(0), TOTAL);
        assert_eq!(q.log2_prob(0), 0.0);
    }
}
