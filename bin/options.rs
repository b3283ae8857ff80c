//! Turns parsed arguments into library options (`bbcodec::codec::settings`, which the
//! Python package shares), with messages that name the flag.

use bbcodec::codec::settings::Settings;
pub use bbcodec::codec::settings::{decode_models, explain, model, set_sizes};
use bbcodec::EncodeOptions;

use crate::cli::EncodeArgs;

/// Build and validate encode options.
pub fn encode_options(
    a: &EncodeArgs,
    values: &[(&'static str, String)],
) -> Result<EncodeOptions, String> {
    Settings {
        model: Some(a.model.clone()),
        posterior: a.posterior.clone(),
        particles: a.particles,
        iwae_samples: a.iwae_samples,
        estimator: Some(a.estimator.clone()),
        iters: a.iters,
        samples: a.samples,
        lr: a.lr,
        block_size: a.block_size,
        chunk_size: a.chunk_size,
        seed: a.seed,
        threads: a.io.threads,
        model_options: values.to_vec(),
    }
    .encode_options()
}
