//! What the continuous-latent file models share: the chain configuration they code
//! with, and the traces of their reparameterization fits.

use super::file_model::{check_work, parse_option, Arm, Coding, ModelOption};
use crate::chain::bins::{MAX_BIN_BITS, MIN_BIN_BITS};
use crate::chain::{ContinuousConfig, ContinuousLatentModel};
use crate::error::OptionError;
use crate::error::{Field, FormatError};
use crate::inference::gaussian::{reparam_fit, DiagGaussian, ReparamConfig};
use crate::inference::trace::{summarize, Trace};
use crate::inference::{Estimator, PosteriorKind};
use crate::math;
use crate::rng::BlockRng;
use crate::wire::check_range;

/// The continuous chain's configuration for `coding` with `2^bin_bits` bins.
pub fn chain_config(coding: &Coding, bin_bits: u32) -> ContinuousConfig {
    ContinuousConfig {
        posterior: coding.fit.posterior,
        iterations: coding.fit.iterations,
        samples: coding.fit.samples,
        learning_rate: coding.fit.learning_rate,
        seed: coding.fit.seed,
        bin_bits,
        iwae_samples: coding.iwae_samples,
    }
}

/// `-ELBO` (bits) per iteration of the reparameterization fits of up to `max_blocks`
/// blocks, starting from the model's initial posterior (`amortized`) or the prior.
pub fn reparam_traces<M: ContinuousLatentModel>(
    model: &M,
    blocks: &[Vec<u16>],
    coding: &Coding,
    amortized: bool,
    max_blocks: usize,
) -> Trace {
    let d = model.latent_dim();
    let fit = &coding.fit;
    let cfg = ReparamConfig {
        iterations: fit.iterations,
        samples: fit.samples.max(1),
        learning_rate: fit.learning_rate as f64,
    };
    let stride = blocks.len().div_ceil(max_blocks).max(1);
    let mut per_block = Vec::new();
    for (i, x) in blocks.iter().enumerate().step_by(stride) {
        let pre = model.prepare(x);
        let mut trace = Vec::new();
        let init = if amortized {
            model.initial_posterior(&pre)
        } else {
            None
        };
        reparam_fit(
            init.unwrap_or_else(|| DiagGaussian::standard(d)),
            &cfg,
            &mut BlockRng::for_block(fit.seed, 0, i as u64),
            &mut |z, g| model.log_lik_grad(&pre, z, g),
            Some(&mut trace),
        );
        per_block.push(trace.iter().map(|e| -e / math::LN_2).collect());
    }
    let name = if amortized {
        "reparam-amortized"
    } else {
        "reparam"
    };
    summarize(name, "neg_elbo_bits", per_block, 0.0)
}

/// Largest BBVI work per symbol of a continuous latent, `iterations * samples *
/// latent_dim / block_size`: each likelihood evaluation costs about `256 (d + 1)`
/// operations, and the decoder repeats every fit.
pub const MAX_WORK_PER_SYMBOL: u64 = 256;

/// Check the bin depth of a continuous latent.
pub fn check_bin_bits(bits: u8) -> Result<(), FormatError> {
    check_range(
        Field::ModelOption("bin-bits"),
        bits as u64,
        MIN_BIN_BITS as u64,
        MAX_BIN_BITS as u64,
    )
}

/// Check that a continuous-latent fit draws at least one sample per iteration.
pub fn check_samples(coding: &Coding) -> Result<(), FormatError> {
    if coding.fit.samples == 0 {
        return Err(FormatError::TooSmall {
            field: Field::Samples,
            got: 0,
            min: 1,
        });
    }
    Ok(())
}

/// Check a continuous-latent fit: at least one sample, and bounded work per symbol.
pub fn check_continuous_fit(coding: &Coding, latent_dim: u64) -> Result<(), FormatError> {
    check_samples(coding)?;
    // Importance weighting evaluates the likelihood once more per particle.
    let evaluations = coding.fit.iterations as u64 * coding.fit.samples as u64
        + coding.fit.posterior.particles() as u64
        - 1;
    check_work(
        evaluations * latent_dim / coding.block_size as u64,
        MAX_WORK_PER_SYMBOL,
    )
}

/// The option of a continuous model's bin depth.
pub const BIN_BITS_OPTION: ModelOption = ModelOption {
    name: "bin-bits",
    value: "BITS",
    help: "continuous latents: 2^BITS equal-prior-mass bins per dimension (2..=16, default 10)",
    decode: false,
};

/// Parse `--bin-bits`.
pub fn parse_bin_bits(value: &str) -> Result<u8, OptionError> {
    parse_option(
        "bin-bits",
        value,
        MIN_BIN_BITS as u64,
        MAX_BIN_BITS as u64,
        "2..=16",
    )
}

/// The posteriors of a continuous latent: reparameterization BBVI, importance-weighted
/// bits-back over it (any particle count, independent or coupled), or MAP.
pub const POSTERIORS: &[PosteriorKind] = &[
    PosteriorKind::Bbvi(Estimator::Reparameterization),
    PosteriorKind::ImportanceWeighted(crate::inference::DEFAULT_PARTICLES),
    PosteriorKind::CoupledImportanceWeighted(crate::inference::DEFAULT_PARTICLES),
    PosteriorKind::Map,
];

/// The rows `analyze` runs for a continuous latent: MAP, the BBVI fit, importance
/// weighting over it with 1, 2, 4, 8 and 16 particles, and with 4 and 16 coupled ones.
pub const ROWS: &[Arm] = &[
    Arm::new("map", PosteriorKind::Map),
    Arm::new(
        "reparam",
        PosteriorKind::Bbvi(Estimator::Reparameterization),
    ),
    Arm::new("iw-1", PosteriorKind::ImportanceWeighted(1)),
    Arm::new("iw-2", PosteriorKind::ImportanceWeighted(2)),
    Arm::new("iw-4", PosteriorKind::ImportanceWeighted(4)),
    Arm::new("iw-8", PosteriorKind::ImportanceWeighted(8)),
    Arm::new("iw-16", PosteriorKind::ImportanceWeighted(16)),
    Arm::new("cis-4", PosteriorKind::CoupledImportanceWeighted(4)),
    Arm::new("cis-16", PosteriorKind::CoupledImportanceWeighted(16)),
];
