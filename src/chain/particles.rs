//! What the importance-weighted chains share ([`PosteriorKind::ImportanceWeighted`]):
//! the particle choice's coded distributions, its cost, the particle ramp at a chain
//! start, and the `N`-particle bound of the accounting.
//!
//! [`PosteriorKind::ImportanceWeighted`]: crate::inference::PosteriorKind::ImportanceWeighted

use crate::categorical::QuantizedCategorical;
use crate::error::CodecError;
use crate::math;
use crate::report::ElboTerms;

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
