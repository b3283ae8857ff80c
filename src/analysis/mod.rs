//! Where the bits go: one input coded with every posterior and estimator its model
//! allows, side by side, with ELBO-versus-iteration traces of the fits
//! (`bbcodec analyze`); [`plot`] draws them (`bbcodec inspect --plot` too).

pub mod plot;

use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use crate::inference::trace::Trace;
pub use plot::plot_svg;

use crate::codec::{compress, decode_stream, DecodeOptions, EncodeOptions};
use crate::error::Error;
use crate::report::{BlockRecord, RateReport};

/// One way of coding the input, with what it measured and predicted (bits).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalysisRow {
    /// `map`, `naive`, `score`, `score-eq8`, `gumbel`, `exact`, `reparam`.
    pub posterior: String,
    /// Measured stack growth over the bits-back blocks.
    pub net_bits: f64,
    /// Predicted standard deviation of `net_bits` around `neg_elbo_bits`.
    pub net_stderr_bits: f64,
    /// `sum -ELBO`.
    pub neg_elbo_bits: f64,
    /// `sum -log2 P(x)` (exact or IWAE).
    pub neg_log_px_bits: f64,
    /// What `net_bits` is expected at: the `N`-particle bound under importance
    /// weighting, `neg_elbo_bits` otherwise (the report's key of the same name).
    #[serde(default)]
    pub neg_iwae_bits: f64,
    /// Standard error of `neg_iwae_bits`.
    #[serde(default)]
    pub neg_iwae_stderr_bits: f64,
    /// Predicted overhead `neg_iwae_bits - neg_log_px_bits` (the KL, except under
    /// importance weighting).
    pub kl_bits: f64,
    /// Measured overhead `net_bits - neg_log_px_bits`.
    pub overhead_bits: f64,
    /// Whole file, all-in.
    pub compressed_bytes: u64,
    /// `8 * compressed_bytes / input_bytes`.
    pub bits_per_byte: f64,
    /// Encode time (seconds, this machine).
    pub seconds: f64,
    /// Share of the bits-back blocks coded with their latent (not flagged off).
    pub latent_on_share: f64,
}

impl AnalysisRow {
    fn from_report(name: &str, r: &RateReport, seconds: f64) -> Self {
        Self {
            posterior: name.into(),
            net_bits: r.net_bits,
            net_stderr_bits: r.net_stderr_bits,
            neg_elbo_bits: r.neg_elbo_bits,
            neg_log_px_bits: r.neg_log_px_bits,
            neg_iwae_bits: r.neg_iwae_bits,
            neg_iwae_stderr_bits: r.neg_iwae_stderr_bits,
            kl_bits: r.kl_bits,
            overhead_bits: r.overhead_bits,
            compressed_bytes: r.compressed_bytes,
            bits_per_byte: r.bits_per_byte,
            seconds,
            latent_on_share: if r.blocks == 0 {
                0.0
            } else {
                1.0 - r.latent_off_blocks as f64 / r.blocks as f64
            },
        }
    }
}

/// The result of `analyze`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Input size.
    pub input_bytes: u64,
    /// Model name.
    pub model: String,
    /// One row per posterior / estimator.
    pub rows: Vec<AnalysisRow>,
    /// Fit traces per estimator.
    pub traces: Vec<Trace>,
    /// Per-block records of the default row (for plots and CSV).
    #[serde(skip)]
    pub blocks: Vec<BlockRecord>,
}

/// Code `data` with every posterior and estimator the model allows and trace the fits.
pub fn analyze(data: &[u8], base: &EncodeOptions) -> Result<Analysis, Error> {
    let model = base.model.model();
    let (variants, default_name) = model.analysis_rows();
    let mut rows = Vec::new();
    let mut blocks = Vec::new();
    // With importance-weighted rows, every row estimates -log P(x) with 16 times the
    // most particles (unless the options ask for more), so that the rows share one
    // reference as closely as their posteriors allow.
    let most = variants.iter().map(|a| a.posterior.particles()).max();
    let iwae_samples = match most {
        Some(n) if n > 1 => base.iwae_samples.max(16 * n),
        _ => base.iwae_samples,
    };
    for arm in variants {
        let name = arm.name;
        let mut o = base.clone();
        o.iwae_samples = iwae_samples;
        o.fit.posterior = arm.posterior;
        if let Some(n) = arm.iterations {
            o.fit.iterations = n;
        }
        if let Some(n) = arm.samples {
            o.fit.samples = n;
        }
        for (k, v) in arm.options {
            o.model.model_mut().set_option(k, v)?;
        }
        o.raw_fallback = false;
        let t = Instant::now();
        let (file, report) = compress(data, &o)?;
        let seconds = t.elapsed().as_secs_f64();
        rows.push(AnalysisRow::from_report(name, &report, seconds));
        if name == default_name {
            let opts = DecodeOptions {
                threads: base.threads,
                keep_blocks: true,
                skip_accounting: false,
                models: vec![base.model.clone()],
                iwae_samples: base.iwae_samples,
            };
            blocks = decode_stream(&file[..], std::io::sink(), &opts, |_| {})?.1;
        }
    }
    let prefix = model
        .framing()
        .map_or(0, |f| f.prefix_len())
        .min(data.len());
    let body = &data[prefix..];
    let first = &body[..body.len().min(base.chunk_size as usize)];
    let traces = model.traces(first, &base.coding())?;
    Ok(Analysis {
        input_bytes: data.len() as u64,
        model: model.name().into(),
        rows,
        traces,
        blocks,
    })
}
