//! Turns parsed arguments into library options, with messages that name the flag.

use bbcodec::codec::posterior_from_names;
use bbcodec::model::{apply_options, decode_configs};
use bbcodec::{EncodeOptions, Field, FormatError, ModelConfig, ModelKind, PosteriorKind};

use crate::cli::EncodeArgs;

/// The model named by `--model`, with its own options set.
pub fn model(name: &str, values: &[(&'static str, String)]) -> Result<ModelConfig, String> {
    let kind = ModelKind::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = ModelKind::ALL.iter().map(|k| k.name()).collect();
        format!("--model is '{name}', expected one of: {}", names.join(", "))
    })?;
    let mut config = kind.default_config();
    apply_options(&mut config, values).map_err(|e| e.to_string())?;
    Ok(config)
}

/// The configurations a decoder takes from the command line (e.g. `--weights`).
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

/// Prefix a validation error with the flag to fix.
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

/// Build and validate encode options.
pub fn encode_options(
    a: &EncodeArgs,
    values: &[(&'static str, String)],
) -> Result<EncodeOptions, String> {
    let mut o = EncodeOptions::with_model(model(&a.model, values)?);
    o.threads = a.io.threads;
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
    let estimator = match a.estimator.as_str() {
        "auto" => default_estimator,
        e => e,
    };
    let wants_bbvi =
        a.estimator != "auto" || a.iters.is_some() || a.samples.is_some() || a.lr.is_some();
    let posterior = match a.posterior.as_deref() {
        Some(p) => p,
        None if wants_bbvi => "bbvi",
        None => o.fit.posterior.name(),
    };
    if wants_bbvi && matches!(posterior, "exact" | "map") {
        return Err(format!(
            "--estimator, --iters, --samples and --lr set the BBVI fit; they do not apply to --posterior {posterior}"
        ));
    }
    o.fit.posterior = posterior_from_names(posterior, estimator).ok_or_else(|| {
        if !["bbvi", "exact", "map"].contains(&posterior) {
            format!("--posterior is '{posterior}', expected one of: bbvi, exact, map")
        } else {
            format!(
                "--estimator is '{}', expected one of: auto, score, score-eq8, naive, gumbel, reparam",
                a.estimator
            )
        }
    })?;
    if let Some(v) = a.iters {
        o.fit.iterations = v;
    }
    if let Some(v) = a.samples {
        o.fit.samples = v;
    }
    if let Some(v) = a.lr {
        o.fit.learning_rate = v;
    }
    if let Some(v) = a.seed {
        o.fit.seed = v;
    }
    set_sizes(&mut o, a.block_size, a.chunk_size);
    o.validate().map_err(|e| explain(&e))?;
    Ok(o)
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
