//! What the importance-weighted chains share ([`PosteriorKind::ImportanceWeighted`]):
//! the particle choice's coded distributions, its cost, the particle ramp at a chain
//! start, and the `N`-particle bound of the accounting.
//!
//! [`PosteriorKind::ImportanceWeighted`]: crate::inference::PosteriorKind::ImportanceWeighted

use core::num::NonZeroU32;

use constriction::stream::model::{DecoderModel, EncoderModel, EntropyModel};
use constriction::stream::stack::DefaultAnsCoder;
use constriction::stream::{Decode, Encode};

use super::scramble;
use crate::categorical::{QuantizedCategorical, PRECISION, TOTAL};
use crate::error::CodecError;
use crate::math;
use crate::report::ElboTerms;
use crate::rng::BlockRng;

/// The prior of the choice among `n` particles, uniform. (A distribution of `n` equal
/// integer weights: building it is a pass over `n <= 256` entries.)
pub(super) fn uniform_choice(n: usize) -> Result<QuantizedCategorical, CodecError> {
    QuantizedCategorical::uniform(n).map_err(|_| CodecError::Corrupt("particle count"))
}

/// The coded distribution of the particle choice from the particles' `log2 w_k`
/// (importance weights `w_k = P(x | z_k) P(z_k) / Q(z_k)` of the coded masses),
/// normalized; every particle keeps a probability of at least `2^-24`.
pub(super) fn choice_from_log_weights(log_w: &[f64]) -> Result<QuantizedCategorical, CodecError> {
    let top = log_w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = log_w.iter().map(|&l| math::exp2(l - top)).collect();
    QuantizedCategorical::from_float_weights_lean(&w, true)
        .map_err(|_| CodecError::Corrupt("particle weights"))
}

/// What choosing particle `j` with the coded distribution `w` adds to the chosen
/// particle's coded length: `log2 N + log2 W(j)` (pushed uniform, popped with `W`).
pub(super) fn choice_bits(w: &QuantizedCategorical, j: usize) -> f64 {
    math::log2(w.len() as f64) + w.log2_prob(j)
}

/// Particles of the block coded `step`-th (from 0) in a chain whose first
/// `bootstrap_blocks` coded blocks are its start: one at the first bits-back block, one
/// more at each block after it, up to `most`. Each particle pops about the entropy of
/// `Q` from the stack, so the stack must hold that many times as much first; a block
/// pushes far more than one particle's worth, and the ramp keeps the chain's start at
/// its own threshold ([`super::BOOTSTRAP_BITS`]) whatever `N`.
pub(super) fn ramp(most: usize, step: usize, bootstrap_blocks: usize) -> usize {
    most.min((step + 1).saturating_sub(bootstrap_blocks).max(1))
}

/// Set the `n`-particle bound of `t` from `log_w`, draws of `log2 w` from `Q`, taken in
/// groups of `n`: each group is what one coding of the block pays, so the net bits vary
/// as the groups do. Nothing changes for `n <= 1`.
pub(super) fn set_iw_bound(t: &mut ElboTerms, log_w: &[f64], n: usize) {
    if n <= 1 {
        return;
    }
    let groups: Vec<f64> = log_w
        .chunks_exact(n)
        .map(|g| math::log2_sum_exp2(g) - math::log2(n as f64))
        .collect();
    let (mean, var) = math::mean_variance(&groups);
    t.particles = n as u32;
    t.iw_bound = mean;
    t.ell_variance = var;
    t.iw_bound_variance = var / groups.len() as f64;
}

/// Coupled importance sampling (BB-CIS): the particles of a block are not `N`
/// independent pops from `Q` but one uniform point `U` of `Q`'s quantile space `[0,
/// 2^24)` per dimension, shifted by `k 2^24 / N` (mod `2^24`) for particle `k`, each
/// shift mapped to its bin by `Q`'s quantile function. Each particle is then
/// distributed as `Q` (a shift of a uniform point is uniform), so the expected net
/// cost is still bounded by the importance-weighted bound of these particles, while
/// the stack pays for one point per block instead of `N` particles.
///
/// The uniform distribution on the quantile space: every quantile has probability
/// `2^-24`.
pub(super) struct QuantileUniform;

impl EntropyModel<PRECISION> for QuantileUniform {
    type Symbol = u32;
    type Probability = u32;
}

impl EncoderModel<PRECISION> for QuantileUniform {
    #[inline]
    fn left_cumulative_and_probability(
        &self,
        symbol: impl core::borrow::Borrow<u32>,
    ) -> Option<(u32, NonZeroU32)> {
        let s = *symbol.borrow();
        (s < TOTAL).then_some((s, NonZeroU32::MIN))
    }
}

impl DecoderModel<PRECISION> for QuantileUniform {
    #[inline]
    fn quantile_function(&self, quantile: u32) -> (u32, u32, NonZeroU32) {
        (quantile, quantile, NonZeroU32::MIN)
    }
}

/// The quantile of coupled particle `k` of `n` from the point `u`.
fn shifted(u: u32, k: usize, n: usize) -> u32 {
    u.wrapping_add(k as u32 * (TOTAL / n as u32)) & (TOTAL - 1)
}

/// Encoder: scramble and pop the choice of a particle with its weights `w`.
pub(super) fn pop_choice(
    coder: &mut DefaultAnsCoder,
    w: &QuantizedCategorical,
) -> Result<usize, CodecError> {
    scramble(coder);
    coder
        .decode_symbol(w)
        .map_err(|_| CodecError::Corrupt("particle pop"))
}

/// Decoder: push the choice `j` back with its weights `w`, then scramble (the mirror of
/// [`pop_choice`]).
pub(super) fn push_choice(
    coder: &mut DefaultAnsCoder,
    j: usize,
    w: &QuantizedCategorical,
) -> Result<(), CodecError> {
    coder
        .encode_symbol(j, w)
        .map_err(|_| CodecError::Corrupt("particle push"))?;
    scramble(coder);
    Ok(())
}

/// Decoder, coupled particles, once particle `j` of `n` has its bins `bins` (popped with
/// the prior): pop the offsets, which give the point; push the choice back with the
/// weights of the point's `n` shifts (`weights`); push the point. Returns the choice's
/// distribution (`None` for one particle).
pub(super) fn undo_coupled(
    coder: &mut DefaultAnsCoder,
    bins: &[usize],
    j: usize,
    n: usize,
    coded: &[QuantizedCategorical],
    weights: impl FnOnce(&[Vec<usize>]) -> Result<QuantizedCategorical, CodecError>,
) -> Result<Option<QuantizedCategorical>, CodecError> {
    let base = pop_offsets(coder, bins, j, n, coded)?;
    let mut chosen = None;
    if n > 1 {
        let w = weights(&coupled_particles(&base, n, coded))?;
        push_choice(coder, j, &w)?;
        chosen = Some(w);
    }
    push_point(coder, &base)?;
    Ok(chosen)
}

/// The bins of the `n` coupled particles of the point `base` (one quantile per
/// dimension) under the coded `Q` (`coded`, per dimension).
pub(super) fn coupled_particles(
    base: &[u32],
    n: usize,
    coded: &[QuantizedCategorical],
) -> Vec<Vec<usize>> {
    (0..n)
        .map(|k| {
            base.iter()
                .zip(coded)
                .map(|(&u, q)| q.quantile_function(shifted(u, k, n)).0)
                .collect()
        })
        .collect()
}

/// Encoder: pop the point, one quantile per dimension, each after a scramble.
pub(super) fn pop_point(coder: &mut DefaultAnsCoder, d: usize) -> Result<Vec<u32>, CodecError> {
    (0..d)
        .map(|_| {
            scramble(coder);
            coder
                .decode_symbol(QuantileUniform)
                .map_err(|_| CodecError::Corrupt("coupled point pop"))
        })
        .collect()
}

/// Encoder, once particle `j` is chosen: push where its quantiles lie within its bins
/// (what the decoder needs to recover the point from the bins it pops with the prior),
/// the last dimension first. Pushing quantile `v` uniformly and popping its bin with
/// `Q` is an exact push of `v - cdf(bin)` in radix `Q(bin) 2^24`: `log2 (2^24 Q(bin))`
/// bits.
pub(super) fn push_offsets(
    coder: &mut DefaultAnsCoder,
    base: &[u32],
    j: usize,
    n: usize,
    coded: &[QuantizedCategorical],
) -> Result<(), CodecError> {
    for (&u, q) in base.iter().zip(coded).rev() {
        coder
            .encode_symbol(shifted(u, j, n), QuantileUniform)
            .map_err(|_| CodecError::Corrupt("coupled offset push"))?;
        coder
            .decode_symbol(q)
            .map_err(|_| CodecError::Corrupt("coupled offset push"))?;
    }
    Ok(())
}

/// Decoder, the mirror of [`push_offsets`]: from particle `j`'s bins `bins`, pop the
/// offsets within them and return the point.
pub(super) fn pop_offsets(
    coder: &mut DefaultAnsCoder,
    bins: &[usize],
    j: usize,
    n: usize,
    coded: &[QuantizedCategorical],
) -> Result<Vec<u32>, CodecError> {
    let mut base = Vec::with_capacity(bins.len());
    for (&b, q) in bins.iter().zip(coded) {
        coder
            .encode_symbol(b, q)
            .map_err(|_| CodecError::Corrupt("coupled offset"))?;
        let v = coder
            .decode_symbol(QuantileUniform)
            .map_err(|_| CodecError::Corrupt("coupled offset"))?;
        base.push(v.wrapping_sub(j as u32 * (TOTAL / n as u32)) & (TOTAL - 1));
    }
    Ok(base)
}

/// Decoder: push the point back, the last dimension first, each push followed by a
/// scramble (the mirror of [`pop_point`]).
pub(super) fn push_point(coder: &mut DefaultAnsCoder, base: &[u32]) -> Result<(), CodecError> {
    for &u in base.iter().rev() {
        coder
            .encode_symbol(u, QuantileUniform)
            .map_err(|_| CodecError::Corrupt("coupled point push"))?;
        scramble(coder);
    }
    Ok(())
}

/// XORed into the file's seed for the accounting's draws of coupled points (a stream
/// apart from the fit's and the other accounting draws).
pub(super) const COUPLED_SEED: u64 = 0x636f_7570_6c65_6421;

/// Set the coupled `n`-particle bound of `t` from `groups` points drawn with `rng`:
/// each point's `n` coupled particles (their `log2 w` by `log_w`) are what one coding
/// of the block pays.
pub(super) fn set_coupled_bound(
    t: &mut ElboTerms,
    rng: &mut BlockRng,
    n: usize,
    groups: usize,
    coded: &[QuantizedCategorical],
    mut log_w: impl FnMut(&[usize]) -> f64,
) {
    let bounds: Vec<f64> = (0..groups.max(1))
        .map(|_| {
            let base: Vec<u32> = coded
                .iter()
                .map(|_| (rng.next_u64() >> 40) as u32)
                .collect();
            let w: Vec<f64> = coupled_particles(&base, n, coded)
                .iter()
                .map(|p| log_w(p))
                .collect();
            math::log2_sum_exp2(&w) - math::log2(n as f64)
        })
        .collect();
    let (mean, var) = math::mean_variance(&bounds);
    t.particles = n as u32;
    t.iw_bound = mean;
    t.ell_variance = var;
    t.iw_bound_variance = var / bounds.len() as f64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_starts_at_one_particle_after_the_chain_start() {
        assert_eq!(ramp(16, 0, 1), 1);
        assert_eq!(ramp(16, 1, 1), 1);
        assert_eq!(ramp(16, 2, 1), 2);
        assert_eq!(ramp(16, 40, 1), 16);
        assert_eq!(ramp(1, 40, 3), 1);
    }

    /// The coupled coding undoes exactly: pop a point, choose a particle, push where it
    /// lies in its bins (encoder); then from that particle's bins pop the offsets, get
    /// the same point back and push it (decoder); the stack ends as it began, and the
    /// offsets cost `log2 (2^24 Q(bin))` per dimension.
    #[test]
    fn coupled_particles_code_and_undo_exactly() {
        let coded = vec![
            QuantizedCategorical::from_float_weights(&[1.0, 5.0, 30.0, 9.0, 0.0, 2.0], true)
                .unwrap(),
            QuantizedCategorical::from_float_weights(&[3.0, 3.0, 1.0], true).unwrap(),
        ];
        let mut coder = DefaultAnsCoder::new();
        for w in 0..40u32 {
            coder
                .encode_symbol(w.wrapping_mul(2_654_435_761) % TOTAL, QuantileUniform)
                .unwrap();
        }
        let start = coder.clone().into_compressed().unwrap();
        for n in [1, 3, 16] {
            for j in [0, n / 2, n - 1] {
                let mut c = DefaultAnsCoder::from_compressed(start.clone()).unwrap();
                let base = pop_point(&mut c, 2).unwrap();
                let parts = coupled_particles(&base, n, &coded);
                let before = c.num_valid_bits();
                push_offsets(&mut c, &base, j, n, &coded).unwrap();
                let cost = (c.num_valid_bits() - before) as f64;
                let ideal: f64 = (0..2).map(|k| 24.0 + coded[k].log2_prob(parts[j][k])).sum();
                assert!((cost - ideal).abs() <= 2.0, "{cost} vs {ideal}");
                let back = pop_offsets(&mut c, &parts[j], j, n, &coded).unwrap();
                assert_eq!(back, base, "N = {n}, j = {j}");
                assert_eq!(coupled_particles(&back, n, &coded), parts);
                push_point(&mut c, &back).unwrap();
                assert_eq!(c.into_compressed().unwrap(), start);
            }
        }
    }

    #[test]
    fn the_choice_of_equal_weights_costs_nothing() {
        let w = choice_from_log_weights(&[-3.0; 8]).unwrap();
        for j in 0..8 {
            assert!(choice_bits(&w, j).abs() < 1e-6);
        }
        // A heavier particle is cheaper to choose than a uniform choice would say.
        let w = choice_from_log_weights(&[0.0, -10.0]).unwrap();
        assert!(choice_bits(&w, 0) > 0.9 && choice_bits(&w, 1) < -8.0);
    }
}
