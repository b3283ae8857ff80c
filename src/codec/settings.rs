//! Encoder settings by their command-line names: what `bbcodec encode` and the Python
//! package's `compress(data, **options)` both turn into [`EncodeOptions`], so that the
//! same names give the same options, and the same bytes.

use crate::codec::posterior_from_names;
use crate::model::{apply_options, decode_configs, model_options};
use crate::{EncodeOptions, Field, FormatError, ModelConfig, ModelKind, PosteriorKind};

/// Encoder settings as named on the command line (`None`: the model's default).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    /// `--model` (default `cm`).
    pub model: Option<String>,
    /// `--posterior`: `bbvi`, `exact`, `map`, `iw` or `cis`.
    pub posterior: Option<String>,
    /// `--particles`: the particles of `--posterior iw` (default
    /// [`crate::inference::DEFAULT_PARTICLES`]).
    pub particles: Option<u32>,
    /// `--iwae-samples`: importance samples per block of the report's IWAE estimate.
    pub iwae_samples: Option<u32>,
    /// `--estimator` (default `auto`: the model's own).
    pub estimator: Option<String>,
    /// `--iters`, `--samples`, `--lr`: the BBVI fit (any of them implies `bbvi`).
    pub iters: Option<u32>,
    /// `--samples`.
    pub samples: Option<u32>,
    /// `--lr`.
    pub lr: Option<f32>,
    /// `--block-size`, `--chunk-size`.
    pub block_size: Option<u32>,
    /// `--chunk-size`.
    pub chunk_size: Option<u32>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--threads` (0: all cores).
    pub threads: usize,
    /// The models' own options by name (`level`, `latent-dim`, ...), as
    /// [`model_options`] lists them.
    pub model_options: Vec<(&'static str, String)>,
}

/// The model options' names, as `'static` strings.
pub fn model_option_name(name: &str) -> Option<&'static str> {
    model_options()
        .into_iter()
        .map(|(o, _)| o.name)
        .find(|n| *n == name)
}

/// The model named `name`, with its own options set.
pub fn model(name: &str, values: &[(&'static str, String)]) -> Result<ModelConfig, String> {
    let kind = ModelKind::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = ModelKind::ALL.iter().map(|k| k.name()).collect();
        format!("--model is '{name}', expected one of: {}", names.join(", "))
    })?;
    let mut config = kind.default_config();
    apply_options(&mut config, values).map_err(|e| e.to_string())?;
    Ok(config)
}

/// The configurations a decoder takes from the given model options (e.g. `weights`).
pub fn decode_models(values: &[(&'static str, String)]) -> Result<Vec<ModelConfig>, String> {
    decode_configs(values).map_err(|e| e.to_string())
}

/// The flag that sets a field.
fn flag(field: Field) -> String {
    match field {
        Field::BlockSize => "--block-size".into(),
        Field::ChunkSize => "--chunk-size".into(),
        Field::Iterations => "--iters".into(),
        Field::Samples => "--samples".into(),
        Field::LearningRate => "--lr".into(),
        Field::FitWork => "--iters/--samples/--block-size".into(),
        Field::Posterior | Field::Estimator => "--posterior/--estimator".into(),
        Field::ModelOption(name) => format!("--{name}"),
        _ => "options".into(),
    }
}

/// A validation error prefixed with the flag to fix.
pub fn explain(e: &FormatError) -> String {
    let f = match e {
        FormatError::Limit { field, .. }
        | FormatError::Invalid { field, .. }
        | FormatError::TooSmall { field, .. } => flag(*field),
        FormatError::Posterior { .. } => flag(Field::Posterior),
        _ => "options".into(),
    };
    format!("{f}: {e}")
}

/// Apply `--block-size` and `--chunk-size`; a chunk is never smaller than a block (a
/// chunk size given alone, below the model's block size, makes the block that size).
pub fn set_sizes(o: &mut EncodeOptions, block_size: Option<u32>, chunk_size: Option<u32>) {
    if let Some(v) = block_size {
        o.block_size = v;
    }
    if let Some(v) = chunk_size {
        o.chunk_size = v;
        if block_size.is_none() && v > 0 && v < o.block_size {
            o.block_size = v;
        }
    } else if o.chunk_size < o.block_size {
        o.chunk_size = o.block_size;
    }
}

impl Settings {
    /// The encoder's options, validated; the error names the flag to fix.
    pub fn encode_options(&self) -> Result<EncodeOptions, String> {
        let name = self.model.as_deref().unwrap_or("cm");
        let mut o = EncodeOptions::with_model(model(name, &self.model_options)?);
        o.threads = self.threads;
        let default_estimator = o
            .model
            .model()
            .posteriors()
            .iter()
            .find_map(|p| match p {
                PosteriorKind::Bbvi(e) => Some(e.name()),
                _ => None,
            })
            .unwrap_or("score");
        let given_estimator = self.estimator.as_deref().unwrap_or("auto");
        let estimator = match given_estimator {
            "auto" => default_estimator,
            e => e,
        };
        let wants_bbvi = given_estimator != "auto"
            || self.iters.is_some()
            || self.samples.is_some()
            || self.lr.is_some();
        let posterior = match self.posterior.as_deref() {
            Some(p) => p,
            None if wants_bbvi => "bbvi",
            None => o.fit.posterior.name(),
        };
        if self.particles.is_some() && !matches!(posterior, "iw" | "cis") {
            return Err(format!(
                "--particles sets the particles of --posterior iw and cis; it does not apply to --posterior {posterior}"
            ));
        }
        if wants_bbvi && matches!(posterior, "exact" | "map") {
            return Err(format!(
                "--estimator, --iters, --samples and --lr set the BBVI fit; they do not apply to --posterior {posterior}"
            ));
        }
        o.fit.posterior = posterior_from_names(posterior, estimator).ok_or_else(|| {
            if !["bbvi", "exact", "map", "iw", "cis"].contains(&posterior) {
                format!("--posterior is '{posterior}', expected one of: bbvi, exact, map, iw, cis")
            } else {
                format!(
                    "--estimator is '{given_estimator}', expected one of: auto, score, score-eq8, naive, gumbel, reparam"
                )
            }
        })?;
        if let Some(n) = self.particles {
            if !(1..=crate::inference::MAX_PARTICLES).contains(&n) {
                return Err(format!(
                    "--particles is {n}, expected 1..={}",
                    crate::inference::MAX_PARTICLES
                ));
            }
            o.fit.posterior = match o.fit.posterior {
                PosteriorKind::CoupledImportanceWeighted(_) => {
                    PosteriorKind::CoupledImportanceWeighted(n)
                }
                _ => PosteriorKind::ImportanceWeighted(n),
            };
        }
        if let Some(v) = self.iters {
            o.fit.iterations = v;
        }
        if let Some(v) = self.samples {
            o.fit.samples = v;
        }
        if let Some(v) = self.lr {
            o.fit.learning_rate = v;
        }
        if let Some(v) = self.seed {
            o.fit.seed = v;
        }
        if let Some(k) = self.iwae_samples {
            let max = crate::chain::continuous::MAX_IWAE_SAMPLES as u32;
            if !(1..=max).contains(&k) {
                return Err(format!("--iwae-samples is {k}, expected 1..={max}"));
            }
            o.iwae_samples = k;
        }
        set_sizes(&mut o, self.block_size, self.chunk_size);
        o.validate().map_err(|e| explain(&e))?;
        Ok(o)
    }
}
