//! Mixture of K categoricals over blocks of symbols (`--model mixture`).
//!
//! Generative process for one block: `z ~ Categorical(pi)`, then every symbol of the
//! block `x_j ~ Categorical(theta_z)` independently. The latent is discrete and small, so
//! the posterior `P(z | x)` and the evidence `P(x)` are exact by enumeration: this is the
//! oracle model of the discrete path, and with `K = 1` it is a plain order-0 coder.
//!
//! Parameters are fitted per chunk on the encoder (deterministic EM from a farthest-first
//! start), quantized to quarter-bit log-levels, and stored in the file (counted in
//! `header_bits`). The number of components is chosen by the total size it produces:
//! header plus `sum_blocks -log2 P(x_b)`, so K > 1 is only used where it pays.

use crate::categorical::QuantizedCategorical;
use crate::chain::DiscreteLatentModel;
use crate::error::{Field, FormatError};
use crate::math;

mod config;
mod fit;
mod histogram;
mod params;
mod traces;

pub use config::MixtureConfig;
pub use fit::{fit_params, MixtureFitOptions};
pub use histogram::SparseHistogram;
pub use params::{decode_params, encode_params};

/// Largest log-level: probability ratio to the component's most likely symbol of
/// `2^{-(MAX_LEVEL - 1) / 4}`, about `2^-24.75`.
pub const MAX_LEVEL: u8 = 100;

/// Largest number of components a file may declare.
pub const MAX_COMPONENTS: usize = 64;

/// Mantissas `round(2^16 * 2^{-j/4})` for `j = 0..4`: level weights are integers.
const MANTISSA: [u64; 4] = [65536, 55109, 46341, 38968];

/// Integer weight of a log-level (`0` for level 0 = absent symbol).
fn level_weight(level: u8) -> u64 {
    if level == 0 {
        return 0;
    }
    let l = (level - 1) as u64;
    MANTISSA[(l % 4) as usize] << (40 - l / 4)
}

/// Log-level of a probability relative to the largest one: `1 + round(-4 log2(p / max))`.
fn level_of(p: f64, max: f64) -> u8 {
    if p.is_nan() || max.is_nan() || p <= 0.0 || max <= 0.0 {
        return MAX_LEVEL;
    }
    let l = 1.0 - 4.0 * math::log2(p / max);
    let l = (l + 0.5).floor();
    l.clamp(1.0, MAX_LEVEL as f64) as u8
}

/// The stored parameters of a mixture: quantized log-levels.
///
/// Invariant: `weight_levels.len() == component_levels.len() = K >= 1`; every entry of
/// `weight_levels` is in `1..=MAX_LEVEL`; each `component_levels[k]` has `alphabet`
/// entries, `0` exactly for the symbols outside `support` (the same set for every k).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MixtureParams {
    /// Alphabet size `n`.
    pub alphabet: usize,
    /// Log-levels of the mixing weights `pi`.
    pub weight_levels: Vec<u8>,
    /// Log-levels of each component's symbol distribution `theta_k`.
    pub component_levels: Vec<Vec<u8>>,
}

/// A mixture model ready to code: fixed-point prior and component distributions.
#[derive(Clone, Debug)]
pub struct MixtureModel {
    params: MixtureParams,
    prior: QuantizedCategorical,
    components: Vec<QuantizedCategorical>,
    /// `log2 theta_z[c]` symbol-major (`[c * K + z]`), so that the log-likelihoods of
    /// all components accumulate together, each in symbol order.
    log2_by_symbol: Vec<f64>,
}

impl MixtureModel {
    /// Build the coding distributions from stored parameters.
    pub fn from_params(params: MixtureParams) -> Result<Self, FormatError> {
        Self::build(params, true)
    }

    /// [`MixtureModel::from_params`] without the components' decoding lookup tables
    /// (for scoring candidate fits: log-probabilities only).
    fn from_params_lean(params: MixtureParams) -> Result<Self, FormatError> {
        Self::build(params, false)
    }

    fn build(params: MixtureParams, lookup: bool) -> Result<Self, FormatError> {
        let k = params.weight_levels.len();
        if k == 0 || k > MAX_COMPONENTS || params.component_levels.len() != k {
            return Err(FormatError::Invalid {
                field: Field::Parameters,
                got: k as u64,
            });
        }
        let w: Vec<u64> = params
            .weight_levels
            .iter()
            .map(|&l| level_weight(l))
            .collect();
        let prior =
            QuantizedCategorical::from_int_weights(&w).map_err(|_| FormatError::Invalid {
                field: Field::Parameters,
                got: 0,
            })?;
        let mut components = Vec::with_capacity(k);
        for levels in &params.component_levels {
            let w: Vec<u64> = levels.iter().map(|&l| level_weight(l)).collect();
            components.push(
                QuantizedCategorical::from_int_weights(&w)
                    .map(|c| if lookup { c.with_lookup() } else { c })
                    .map_err(|_| FormatError::Invalid {
                        field: Field::Parameters,
                        got: 0,
                    })?,
            );
        }
        let n = params.alphabet;
        let mut log2_by_symbol = vec![0.0; n * k];
        for (z, comp) in components.iter().enumerate() {
            for (c, &l) in comp.log2_probs().iter().enumerate().take(n) {
                log2_by_symbol[c * k + z] = l;
            }
        }
        Ok(Self {
            params,
            prior,
            components,
            log2_by_symbol,
        })
    }

    /// Fit a mixture to the blocks of one chunk (encoder side) and build it.
    pub fn fit(blocks: &[&[u16]], alphabet: usize, options: &MixtureFitOptions) -> Self {
        let params = fit_params(blocks, alphabet, options);
        Self::from_params(params).expect("fitted parameters are valid by construction")
    }

    /// The stored parameters.
    pub fn params(&self) -> &MixtureParams {
        &self.params
    }

    /// Component `k`'s distribution `theta_k`.
    pub fn component(&self, k: usize) -> &QuantizedCategorical {
        &self.components[k]
    }
}

impl DiscreteLatentModel for MixtureModel {
    fn num_latents(&self) -> usize {
        self.components.len()
    }
    fn alphabet_size(&self) -> usize {
        self.params.alphabet
    }
    fn prior(&self) -> &QuantizedCategorical {
        &self.prior
    }
    fn likelihood(&self, z: usize, _position: usize) -> &QuantizedCategorical {
        &self.components[z]
    }
    fn same_likelihood_at_every_position(&self) -> bool {
        true
    }
    /// Histogram form: `log2 P(x | z) = sum_c n_c log2 theta_z[c]` over the distinct
    /// symbols `c` of the block, in increasing symbol order.
    fn log2_likelihoods(&self, x: &[u16], out: &mut [f64]) {
        thread_local! {
            // One histogram buffer per thread, reused block after block.
            static HIST: std::cell::RefCell<SparseHistogram> = Default::default();
        }
        HIST.with_borrow_mut(|hist| {
            hist.fill(x, self.params.alphabet);
            hist.log2_likelihoods(&self.log2_by_symbol, out);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_weights_are_monotone_and_positive() {
        for l in 1..MAX_LEVEL {
            assert!(level_weight(l) > level_weight(l + 1));
        }
        assert!(level_weight(MAX_LEVEL) > 0);
        assert_eq!(level_weight(0), 0);
        assert_eq!(level_of(1.0, 1.0), 1);
        assert_eq!(level_of(0.5, 1.0), 5);
    }
}
