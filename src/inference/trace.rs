//! Fit traces: the ELBO (or KL) of a posterior fit, iteration by iteration, summarized
//! over a sample of blocks (what `bbcodec analyze` prints and plots).

use serde::{Deserialize, Serialize};

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

/// Blocks sampled for the traces.
pub const TRACE_BLOCKS: usize = 200;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Mean and 10th / 90th percentiles over blocks of per-block traces, per iteration (a
/// fit that stopped early keeps its last value).
pub fn summarize(estimator: &str, metric: &str, per_block: Vec<Vec<f64>>, grad_var: f64) -> Trace {
    let n = per_block.iter().map(|t| t.len()).max().unwrap_or(0);
    let (mut mean, mut p10, mut p90) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let mut v: Vec<f64> = per_block
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| t[i.min(t.len() - 1)])
            .collect();
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
