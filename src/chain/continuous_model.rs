//! Latent-variable models with a continuous latent `z ~ N(0, I_d)`.
//!
//! The fit sees the continuous model (log-likelihood and its gradient in `z`, for
//! reparameterization gradients); the coder sees its discretization: `z` is coded as
//! one bin index per dimension ([`super::bins::LatentBins`]) and `x` with the fixed-point
//! likelihood at the bins' representative point. The rate accounting uses the coded,
//! discrete model and states the difference to the continuous `-ELBO` as the bin cost.

use crate::categorical::{QuantizedCategorical, SymbolModel};
use crate::error::CodecError;
use crate::inference::gaussian::DiagGaussian;

/// A model `p(z) p(x | z)` with `z ~ N(0, I_d)` over blocks of `u16` symbols.
///
/// # Example: a user-defined continuous model coding a symbol stream
///
/// ```
/// use bbcodec::categorical::QuantizedCategorical;
/// use bbcodec::model::ContinuousLatentModel;
/// use bbcodec::{ContinuousBitsBackCoder, ContinuousConfig};
///
/// /// One latent "temperature" z: symbol s in 0..16 has logit -s * exp(z / 2).
/// struct Temperature;
///
/// impl Temperature {
///     fn logits(z: f64) -> Vec<f64> {
///         let t = bbcodec::math::exp(0.5 * z);
///         (0..16).map(|s| -(s as f64) * t).collect()
///     }
/// }
///
/// impl ContinuousLatentModel for Temperature {
///     type Block = Vec<u16>;
///     fn latent_dim(&self) -> usize { 1 }
///     fn alphabet_size(&self) -> usize { 16 }
///     fn prepare(&self, x: &[u16]) -> Vec<u16> { x.to_vec() }
///     fn log_lik_grad(&self, x: &Vec<u16>, z: &[f64], grad: &mut [f64]) -> f64 {
///         // log p = sum_j (l_{x_j} - lse(l)), with dl_s/dz = l_s / 2.
///         let l = Self::logits(z[0]);
///         let m = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
///         let e: Vec<f64> = l.iter().map(|v| bbcodec::math::exp(v - m)).collect();
///         let sum: f64 = e.iter().sum();
///         let lse = m + bbcodec::math::ln(sum);
///         let mean_dl: f64 = (0..16).map(|s| e[s] / sum * l[s] * 0.5).sum();
///         grad[0] = x.iter().map(|&s| l[s as usize] * 0.5 - mean_dl).sum();
///         x.iter().map(|&s| l[s as usize] - lse).sum()
///     }
///     fn likelihood(&self, z: &[f64], _len: usize) -> Vec<QuantizedCategorical> {
///         let l = Self::logits(z[0]);
///         let w: Vec<f64> = l.iter().map(|v| bbcodec::math::exp(*v)).collect();
///         vec![QuantizedCategorical::from_float_weights(&w, true).unwrap()]
///     }
/// }
///
/// // Blocks alternate between "hot" (flat) and "cold" (peaked at 0) statistics.
/// let symbols: Vec<u16> = (0..2048u32)
///     .map(|i| if (i / 128) % 2 == 0 { (i * 7 % 16) as u16 } else { (i % 3 == 0) as u16 })
///     .collect();
/// let coder = ContinuousBitsBackCoder::new(&Temperature, 128, ContinuousConfig::default()).unwrap();
/// let enc = coder.encode(&symbols, 0).unwrap();
/// let dec = coder.decode(&enc.words, symbols.len(), enc.bootstrap_blocks, 0).unwrap();
/// assert_eq!(dec.symbols, symbols);
/// ```
pub trait ContinuousLatentModel: Sync {
    /// Per-block statistics prepared once per fit (e.g. a histogram).
    type Block;

    /// Latent dimension `d >= 1`.
    fn latent_dim(&self) -> usize;

    /// Number of symbols of the observed alphabet (at most 2^16).
    fn alphabet_size(&self) -> usize;

    /// Prepare a block for repeated likelihood evaluations.
    fn prepare(&self, x: &[u16]) -> Self::Block;

    /// `ln p(x | z)` of the continuous model in nats, with its gradient w.r.t. `z`
    /// written into `grad` (length `d`). Must be deterministic (fixed-order loops, math
    /// through [`crate::math`]): the decoder re-runs the fit.
    fn log_lik_grad(&self, block: &Self::Block, z: &[f64], grad: &mut [f64]) -> f64;

    /// `ln p(x | z)` without the gradient (the rate accounting's Monte Carlo estimates).
    /// The default calls [`ContinuousLatentModel::log_lik_grad`]; override it when the
    /// gradient is expensive.
    fn log_lik(&self, block: &Self::Block, z: &[f64]) -> f64 {
        let mut g = vec![0.0; z.len()];
        self.log_lik_grad(block, z, &mut g)
    }

    /// The coding distributions of a block of `len` symbols at latent `z`: either one
    /// distribution shared by every position, or exactly `len` (one per position). Every
    /// symbol that occurs must have nonzero probability.
    ///
    /// Models whose positions depend on earlier symbols of the block override
    /// [`ContinuousLatentModel::block_likelihood`] instead and leave this default
    /// (no distribution).
    fn likelihood(&self, z: &[f64], len: usize) -> Vec<QuantizedCategorical> {
        let _ = (z, len);
        Vec::new()
    }

    /// The coding distributions of a block at latent `z`, position by position: the
    /// chain asks for position `j` with the block's first `j` symbols, in order
    /// `j = 0, 1, ..`. The default serves [`ContinuousLatentModel::likelihood`];
    /// autoregressive models (`p(x | z) = prod_j p(x_j | z, x_{<j})`) override it.
    fn block_likelihood<'a>(&'a self, z: &[f64], len: usize) -> Box<dyn BlockLikelihood + 'a> {
        Box::new(IndependentPositions::new(self.likelihood(z, len), len))
    }

    /// Where the posterior fit of a block starts (e.g. an amortized encoder's output).
    /// It must be a deterministic function of the block: the decoder recomputes it from
    /// the decoded symbols. The default is the prior `N(0, I)`.
    fn initial_posterior(&self, block: &Self::Block) -> Option<DiagGaussian> {
        let _ = block;
        None
    }
}

/// The coding distributions of one block, served position by position.
pub trait BlockLikelihood {
    /// The distribution of position `j`, given `prefix`, the block's symbols before `j`.
    /// The chain calls it for `j = 0, 1, .., len - 1` in order.
    fn position(&mut self, j: usize, prefix: &[u16]) -> Result<&dyn SymbolModel, CodecError>;
}

/// [`BlockLikelihood`] of conditionally independent positions: one shared distribution,
/// or one per position.
pub struct IndependentPositions {
    liks: Vec<QuantizedCategorical>,
    len: usize,
}

impl IndependentPositions {
    /// From [`ContinuousLatentModel::likelihood`]'s output for a block of `len`.
    pub fn new(liks: Vec<QuantizedCategorical>, len: usize) -> Self {
        Self { liks, len }
    }
}

impl BlockLikelihood for IndependentPositions {
    fn position(&mut self, j: usize, _prefix: &[u16]) -> Result<&dyn SymbolModel, CodecError> {
        match self.liks.len() {
            1 => Ok(&self.liks[0]),
            n if n == self.len && j < n => Ok(&self.liks[j]),
            n => Err(CodecError::LikelihoodCount {
                got: n,
                len: self.len,
            }),
        }
    }
}
