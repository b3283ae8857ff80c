//! Turns parsed arguments into library options, with messages that name the flag.

use bbcodec::codec::posterior_from_names;
use bbcodec::{EncodeOptions, ModelKind};

use crate::cli::EncodeArgs;

/// Build and validate encode options.
pub fn encode_options(a: &EncodeArgs) -> Result<EncodeOptions, String> {
    let model = ModelKind::from_name(&a.model).ok_or_else(|| {
        format!(
            "--model is '{}', expected one of: mixture, logistic, mnist",
            a.model
        )
    })?;
    let mut o = EncodeOptions::for_model(model);
    o.threads = a.io.threads;
    let estimator = match (a.estimator.as_str(), model) {
        ("auto", ModelKind::Logistic | ModelKind::Mnist) => "reparam",
        ("auto", _) => "score",
        (e, _) => e,
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
    if let Some(v) = a.latent_dim {
        if model == ModelKind::Mnist {
            return Err(
                "--latent-dim: the mnist model's latent dimension comes from its weights".into(),
            );
        }
        o.latent_dim = v;
    }
    o.image_model = image_model(a.io.weights.as_deref())?;
    if let Some(v) = a.bin_bits {
        o.bin_bits = v;
    }
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
    if let Some(k) = a.components {
        if k == 0 {
            return Err("--components is 0, expected 1..=64".into());
        }
        o.fixed_components = Some(k);
        o.max_components = o.max_components.max(k);
    }
    if let Some(k) = a.max_components {
        o.max_components = k;
    }
    o.validate().map_err(|e| {
        let flag = match &e {
            bbcodec::FormatError::Limit { what, .. }
            | bbcodec::FormatError::Invalid { what, .. } => {
                if what.starts_with("block") {
                    "--block-size"
                } else if what.starts_with("chunk") {
                    "--chunk-size"
                } else if what.starts_with("iter") || what.starts_with("BBVI") {
                    "--iters/--samples/--block-size"
                } else if what.starts_with("samples") {
                    "--samples"
                } else if what.starts_with("learning") {
                    "--lr"
                } else if what.starts_with("latent") {
                    "--latent-dim"
                } else if what.starts_with("bin") {
                    "--bin-bits"
                } else if what.starts_with("posterior") || what.starts_with("estimator") {
                    "--posterior/--estimator"
                } else {
                    "--components/--max-components"
                }
            }
            _ => "options",
        };
        format!("{flag}: {e}")
    })?;
    Ok(o)
}

/// Load `--weights` (None: the built-in model).
pub fn image_model(
    p: Option<&std::path::Path>,
) -> Result<Option<std::sync::Arc<bbcodec::model::image::ImageModel>>, String> {
    let Some(p) = p else { return Ok(None) };
    let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
    bbcodec::model::image::ImageModel::from_bytes(&bytes)
        .map(|m| Some(std::sync::Arc::new(m)))
        .map_err(|e| format!("{}: {e}", p.display()))
}

/// Apply `--block-size` and `--chunk-size`; a chunk is never smaller than a block.
pub fn set_sizes(o: &mut EncodeOptions, block_size: Option<u32>, chunk_size: Option<u32>) {
    if let Some(v) = block_size {
        o.block_size = v;
    }
    if let Some(v) = chunk_size {
        o.chunk_size = v;
    } else if o.chunk_size < o.block_size {
        o.chunk_size = o.block_size;
    }
}
