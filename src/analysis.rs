//! Where the bits go: one input coded with every posterior and estimator side by side,
//! ELBO-versus-iteration traces of the fits, and SVG plots (`bbcodec analyze`,
//! `bbcodec inspect --plot`).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::codec::{compress, EncodeOptions};
use crate::container::ModelKind;
use crate::error::Error;
use crate::inference::gaussian::{reparam_fit, ReparamConfig};
use crate::inference::{
    estimate_gradient, posterior_fit, CategoricalQ, Estimator, FitConfig, GradientScratch,
    PosteriorKind,
};
use crate::math;
use crate::model::mixture::{MixtureFitOptions, MixtureModel};
use crate::model::{ContinuousLatentModel, DiscreteLatentModel, LogisticModel};
use crate::report::{BlockRecord, RateReport};
use crate::rng::BlockRng;

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
    /// Predicted overhead `neg_elbo_bits - neg_log_px_bits`.
    pub kl_bits: f64,
    /// Measured overhead `net_bits - neg_log_px_bits`.
    pub overhead_bits: f64,
    /// Whole file, all-in.
    pub compressed_bytes: u64,
    /// `8 * compressed_bytes / input_bytes`.
    pub bits_per_byte: f64,
    /// Encode time (seconds, this machine).
    pub seconds: f64,
}

impl AnalysisRow {
    fn from_report(name: &str, r: &RateReport, seconds: f64) -> Self {
        Self {
            posterior: name.into(),
            net_bits: r.net_bits,
            net_stderr_bits: r.net_stderr_bits,
            neg_elbo_bits: r.neg_elbo_bits,
            neg_log_px_bits: r.neg_log_px_bits,
            kl_bits: r.kl_bits,
            overhead_bits: r.overhead_bits,
            compressed_bytes: r.compressed_bytes,
            bits_per_byte: r.bits_per_byte,
            seconds,
        }
    }
}

/// ELBO-versus-iteration trace of one estimator over a sample of blocks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// Estimator name.
    pub estimator: String,
    /// `kl_bits` (discrete latents: `KL(Q_t || P(z|x))` by enumeration) or `neg_elbo_bits`
    /// (continuous latents: the fit's own Monte Carlo estimate of `-ELBO`).
    pub metric: String,
    /// Blocks averaged.
    pub blocks: usize,
    /// Mean over blocks, per iteration (index 0: before the first step).
    pub mean: Vec<f64>,
    /// 10th percentile over blocks, per iteration.
    pub p10: Vec<f64>,
    /// 90th percentile over blocks, per iteration.
    pub p90: Vec<f64>,
    /// Mean over blocks of the total variance of one gradient estimate at the starting
    /// point (bits^2 per logit^2): what the control variate reduces.
    pub initial_gradient_variance: f64,
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

/// Blocks sampled for the traces.
const TRACE_BLOCKS: usize = 200;

/// Code `data` with every posterior and estimator the model allows and trace the fits.
pub fn analyze(data: &[u8], base: &EncodeOptions) -> Result<Analysis, Error> {
    let variants: Vec<(&str, PosteriorKind)> = match base.model {
        ModelKind::Mixture => vec![
            ("map", PosteriorKind::Map),
            ("naive", PosteriorKind::Bbvi(Estimator::Naive)),
            (
                "score-eq8",
                PosteriorKind::Bbvi(Estimator::ScoreFunctionEq8),
            ),
            ("gumbel", PosteriorKind::Bbvi(Estimator::GumbelSoftmax)),
            ("score", PosteriorKind::Bbvi(Estimator::ScoreFunction)),
            ("exact", PosteriorKind::Exact),
        ],
        ModelKind::Logistic | ModelKind::Mnist => vec![
            ("map", PosteriorKind::Map),
            (
                "reparam",
                PosteriorKind::Bbvi(Estimator::Reparameterization),
            ),
        ],
    };
    let default_name = if base.model != ModelKind::Mixture {
        "reparam"
    } else {
        "score"
    };
    let mut rows = Vec::new();
    let mut blocks = Vec::new();
    for (name, posterior) in variants {
        let mut o = base.clone();
        o.fit.posterior = posterior;
        o.raw_fallback = false;
        let t = Instant::now();
        let (file, report) = compress(data, &o)?;
        let seconds = t.elapsed().as_secs_f64();
        rows.push(AnalysisRow::from_report(name, &report, seconds));
        if name == default_name {
            let opts = crate::codec::DecodeOptions {
                threads: base.threads,
                keep_blocks: true,
                skip_accounting: false,
                image_model: base.image_model.clone(),
            };
            blocks = crate::codec::decode_stream(&file[..], std::io::sink(), &opts, |_| {})?.1;
        }
    }
    let traces = match base.model {
        ModelKind::Mixture => mixture_traces(data, base),
        ModelKind::Logistic => logistic_traces(data, base),
        ModelKind::Mnist => image_traces(data, base)?,
    };
    Ok(Analysis {
        input_bytes: data.len() as u64,
        model: base.model.name().into(),
        rows,
        traces,
        blocks,
    })
}

fn first_chunk_blocks(data: &[u8], o: &EncodeOptions) -> Vec<Vec<u16>> {
    let chunk = &data[..data.len().min(o.chunk_size as usize)];
    chunk
        .chunks(o.block_size as usize)
        .map(|b| b.iter().map(|&v| v as u16).collect())
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn summarize(estimator: &str, metric: &str, per_block: Vec<Vec<f64>>, grad_var: f64) -> Trace {
    let n = per_block.iter().map(|t| t.len()).max().unwrap_or(0);
    let (mut mean, mut p10, mut p90) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        // A fit that stopped early keeps its last value.
        let mut v: Vec<f64> = per_block.iter().map(|t| t[i.min(t.len() - 1)]).collect();
        v.sort_by(f64::total_cmp);
        mean.push(v.iter().sum::<f64>() / v.len() as f64);
        p10.push(percentile(&v, 0.1));
        p90.push(percentile(&v, 0.9));
    }
    Trace {
        estimator: estimator.into(),
        metric: metric.into(),
        blocks: per_block.len(),
        mean,
        p10,
        p90,
        initial_gradient_variance: grad_var,
    }
}

fn mixture_traces(data: &[u8], base: &EncodeOptions) -> Vec<Trace> {
    let blocks = first_chunk_blocks(data, base);
    if blocks.len() < 2 {
        return Vec::new();
    }
    let refs: Vec<&[u16]> = blocks.iter().map(|b| b.as_slice()).collect();
    let model = MixtureModel::fit(
        &refs,
        256,
        &MixtureFitOptions {
            max_components: base.max_components as usize,
            fixed_components: base.fixed_components.map(|k| k as usize),
            ..Default::default()
        },
    );
    let k = model.num_latents();
    let stride = blocks.len().div_ceil(TRACE_BLOCKS).max(1);
    let mut out = Vec::new();
    for est in [
        Estimator::Naive,
        Estimator::ScoreFunctionEq8,
        Estimator::GumbelSoftmax,
        Estimator::ScoreFunction,
    ] {
        let cfg = FitConfig {
            posterior: PosteriorKind::Bbvi(est),
            ..base.fit
        };
        let mut per_block = Vec::new();
        let mut grad_var = 0.0;
        for (i, x) in blocks.iter().enumerate().step_by(stride) {
            let mut lik = vec![0.0; k];
            model.log2_likelihoods(x, &mut lik);
            let lj: Vec<f64> = (0..k)
                .map(|z| lik[z] + model.prior().log2_prob(z))
                .collect();
            let log_px = math::log2_sum_exp2(&lj);
            let mut trace = Vec::new();
            posterior_fit(
                &lj,
                &cfg,
                &mut BlockRng::for_block(base.fit.seed, 0, i as u64),
                Some(&mut trace),
            );
            per_block.push(trace.iter().map(|e| log_px - e).collect());
            grad_var += gradient_variance(est, &lj, cfg.samples as usize, i as u64)
                / blocks.len().div_ceil(stride) as f64;
        }
        if k > 1 {
            out.push(summarize(est.name(), "kl_bits", per_block, grad_var));
        }
    }
    out
}

/// Total variance of one gradient estimate at the uniform starting point.
fn gradient_variance(est: Estimator, lj: &[f64], samples: usize, seed: u64) -> f64 {
    let k = lj.len();
    let q = CategoricalQ::from_logits(&vec![0.0; k]);
    let mut rng = BlockRng::for_block(0x7661_7269_616e_6365, seed, 0);
    let mut scratch = GradientScratch::default();
    let mut g = vec![0.0; k];
    let n = 32;
    let (mut sum, mut sq) = (vec![0.0; k], vec![0.0; k]);
    for _ in 0..n {
        estimate_gradient(est, lj, &q, samples, &mut rng, &mut scratch, &mut g);
        for j in 0..k {
            sum[j] += g[j];
            sq[j] += g[j] * g[j];
        }
    }
    (0..k)
        .map(|j| {
            let m = sum[j] / n as f64;
            sq[j] / n as f64 - m * m
        })
        .sum()
}

fn logistic_traces(data: &[u8], base: &EncodeOptions) -> Vec<Trace> {
    let blocks = first_chunk_blocks(data, base);
    if blocks.is_empty() {
        return Vec::new();
    }
    let refs: Vec<&[u16]> = blocks.iter().map(|b| b.as_slice()).collect();
    let model = LogisticModel::fit(&refs, base.latent_dim as usize);
    vec![reparam_traces(&model, &blocks, base, false, TRACE_BLOCKS)]
}

/// Traces of the image model's per-image fits: from the amortized encoder's posterior
/// (what the coder does) and from the prior, on up to 50 images of the first chunk.
fn image_traces(data: &[u8], base: &EncodeOptions) -> Result<Vec<Trace>, Error> {
    let model = base.image_model()?;
    let pixels = data.get(crate::idx::IDX_HEADER_BYTES..).unwrap_or(&[]);
    let blocks = first_chunk_blocks(pixels, base);
    Ok(vec![
        reparam_traces(model, &blocks, base, true, 50),
        reparam_traces(model, &blocks, base, false, 50),
    ])
}

/// `-ELBO` (bits) per iteration of the reparameterization fits of up to `max_blocks`
/// blocks, starting from the model's initial posterior (`amortized`) or the prior.
fn reparam_traces<M: ContinuousLatentModel>(
    model: &M,
    blocks: &[Vec<u16>],
    base: &EncodeOptions,
    amortized: bool,
    max_blocks: usize,
) -> Trace {
    let d = model.latent_dim();
    let cfg = ReparamConfig {
        iterations: base.fit.iterations,
        samples: base.fit.samples.max(1),
        learning_rate: base.fit.learning_rate as f64,
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
            init.unwrap_or_else(|| crate::inference::gaussian::DiagGaussian::standard(d)),
            &cfg,
            &mut BlockRng::for_block(base.fit.seed, 0, i as u64),
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

/// A named, colored line of points.
type Series<'a> = (&'a str, plotters::style::RGBColor, Vec<(f64, f64)>);

/// Plot per-block net bits against `-ELBO` and `-log2 P(x)` (and, if given, the fit
/// traces) into an SVG file.
pub fn plot_svg(
    path: &std::path::Path,
    blocks: &[BlockRecord],
    traces: &[Trace],
    title: &str,
) -> Result<(), String> {
    use plotters::prelude::*;
    let panels = if traces.is_empty() { 1 } else { 2 };
    let root = SVGBackend::new(path, (1000, 420 * panels as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let areas = root.split_evenly((panels, 1));
    let bb: Vec<&BlockRecord> = blocks.iter().filter(|b| !b.bootstrap).collect();
    let series: [Series; 3] = [
        (
            "net bits (measured)",
            RGBColor(31, 119, 180),
            bb.iter()
                .enumerate()
                .map(|(i, b)| (i as f64, b.net_bits))
                .collect(),
        ),
        (
            "-ELBO (predicted)",
            RGBColor(255, 127, 14),
            bb.iter()
                .enumerate()
                .map(|(i, b)| (i as f64, -b.terms.elbo_joint_entropy()))
                .collect(),
        ),
        (
            "-log2 P(x)",
            RGBColor(44, 160, 44),
            bb.iter()
                .enumerate()
                .map(|(i, b)| (i as f64, -b.terms.log_evidence))
                .collect(),
        ),
    ];
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for (_, _, s) in &series {
        for &(_, y) in s {
            if y.is_finite() {
                lo = lo.min(y);
                hi = hi.max(y);
            }
        }
    }
    if !lo.is_finite() {
        lo = 0.0;
        hi = 1.0;
    }
    let pad = (hi - lo).max(1.0) * 0.05;
    let mut chart = ChartBuilder::on(&areas[0])
        .caption(format!("{title}: bits per block"), ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..(bb.len().max(1) as f64), (lo - pad)..(hi + pad))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("block")
        .y_desc("bits")
        .draw()
        .map_err(|e| e.to_string())?;
    for (name, color, s) in series.iter() {
        let c = *color;
        if name.starts_with("net") {
            chart
                .draw_series(s.iter().map(|&(x, y)| Circle::new((x, y), 2, c.filled())))
                .map_err(|e| e.to_string())?
                .label(*name)
                .legend(move |(x, y)| Circle::new((x + 10, y), 3, c.filled()));
        } else {
            chart
                .draw_series(LineSeries::new(s.iter().copied(), c.stroke_width(1)))
                .map_err(|e| e.to_string())?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;

    if panels == 2 {
        let log = traces[0].metric == "kl_bits";
        let tr = |v: f64| {
            if log {
                math::log2(v.max(1e-6)) / math::log2(10.0)
            } else {
                v
            }
        };
        let n = traces.iter().map(|t| t.mean.len()).max().unwrap_or(1);
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for t in traces {
            for v in t.p10.iter().chain(&t.p90).chain(&t.mean) {
                lo = lo.min(tr(*v));
                hi = hi.max(tr(*v));
            }
        }
        let ylabel = if log {
            "log10 KL(Q || P(z|x)) per block, bits"
        } else {
            "-ELBO per block, bits"
        };
        let mut chart = ChartBuilder::on(&areas[1])
            .caption(
                "fit traces: mean over blocks, band = 10th..90th percentile",
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..(n as f64), (lo - 0.1)..(hi + 0.1))
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("iteration")
            .y_desc(ylabel)
            .draw()
            .map_err(|e| e.to_string())?;
        let colors = [
            RGBColor(214, 39, 40),
            RGBColor(148, 103, 189),
            RGBColor(140, 86, 75),
            RGBColor(31, 119, 180),
        ];
        for (t, c) in traces.iter().zip(colors.iter().cycle()) {
            let c = *c;
            let band: Vec<(f64, f64)> = t
                .p90
                .iter()
                .enumerate()
                .map(|(i, v)| (i as f64, tr(*v)))
                .chain(
                    t.p10
                        .iter()
                        .enumerate()
                        .rev()
                        .map(|(i, v)| (i as f64, tr(*v))),
                )
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(band, c.mix(0.15))))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(LineSeries::new(
                    t.mean.iter().enumerate().map(|(i, v)| (i as f64, tr(*v))),
                    c.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(t.estimator.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}
