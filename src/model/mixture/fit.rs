//! The encoder-side fit of a chunk's mixture: a farthest-first start, EM (incremental
//! E-step over fixed shards, in f32), the choice of K by total size, and quantization to
//! log-levels.

use super::histogram::{accumulate_rows, SparseHistogram};
use super::params::params_cost_bits;
use super::{level_of, MixtureModel, MixtureParams, MAX_COMPONENTS};
use crate::math;

/// Options of the encoder-side mixture fit.
#[derive(Clone, Debug)]
pub struct MixtureFitOptions {
    /// Largest number of components tried (`1..=MAX_COMPONENTS`).
    pub max_components: usize,
    /// Use exactly this many components instead of choosing by size.
    pub fixed_components: Option<usize>,
    /// Largest number of EM iterations per candidate K (each stops earlier once an
    /// iteration gains less than 3e-4 of the log-likelihood).
    pub em_iterations: usize,
    /// Fit the candidate K and run the E-step's fixed shards on the current rayon pool
    /// (default), or one after the other (then the search stops as soon as its rule
    /// says, without the candidates it would not look at). The fit is the same either
    /// way.
    pub parallel: bool,
}

impl Default for MixtureFitOptions {
    fn default() -> Self {
        Self {
            max_components: 32,
            fixed_components: None,
            em_iterations: 12,
            parallel: true,
        }
    }
}

/// Float parameters during EM.
struct FloatMixture {
    weights: Vec<f64>,
    /// Every component's symbol distribution over the support.
    theta: Vec<Vec<f64>>,
}

fn smoothed(counts: &[f64], pooled: &[f64], strength: f64) -> Vec<f64> {
    let total: f64 = counts.iter().sum::<f64>() + strength;
    counts
        .iter()
        .zip(pooled)
        .map(|(&c, &p)| (c + strength * p) / total)
        .collect()
}

fn log2_vec(p: &[f64]) -> Vec<f64> {
    p.iter()
        .map(|&v| {
            if v > 0.0 {
                math::log2(v)
            } else {
                f64::NEG_INFINITY
            }
        })
        .collect()
}

/// Fit the stored parameters: try K = 1, 2, 4, ... up to the largest allowed on a
/// subsample of the blocks, keep the K of the smallest total size (header plus data),
/// and refine that fit on every block.
pub fn fit_params(
    blocks: &[&[u16]],
    alphabet: usize,
    options: &MixtureFitOptions,
) -> MixtureParams {
    let mut hists: Vec<SparseHistogram> = blocks
        .iter()
        .map(|b| SparseHistogram::of(b, alphabet))
        .collect();
    let mut pooled_counts = vec![0.0f64; alphabet];
    for h in &hists {
        for &(c, n) in &h.entries {
            pooled_counts[c as usize] += n as f64;
        }
    }
    let total: f64 = pooled_counts.iter().sum();
    if total == 0.0 {
        // Nothing to model: one uniform component.
        return MixtureParams {
            alphabet,
            weight_levels: vec![1],
            component_levels: vec![vec![1; alphabet]],
        };
    }
    // The search runs over the chunk's support only: symbol `symbols[i]` becomes index
    // `i`. The order is kept, so every histogram stays sorted and every sum below adds
    // the same terms in the same order as over the whole alphabet (less exact zeros).
    let symbols: Vec<u16> = (0..alphabet)
        .filter(|&c| pooled_counts[c] > 0.0)
        .map(|c| c as u16)
        .collect();
    let mut dense_index = vec![0u16; alphabet];
    for (i, &c) in symbols.iter().enumerate() {
        dense_index[c as usize] = i as u16;
    }
    for h in &mut hists {
        for e in &mut h.entries {
            e.0 = dense_index[e.0 as usize];
        }
    }
    let pooled: Vec<f64> = symbols
        .iter()
        .map(|&c| pooled_counts[c as usize] / total)
        .collect();
    let support_size = symbols.len() as f64;

    let max_k = options
        .fixed_components
        .unwrap_or(options.max_components)
        .clamp(1, MAX_COMPONENTS)
        .min(blocks.len().max(1));

    // Choose K on an evenly strided subsample of at most SUBSAMPLE blocks (the data
    // term scaled up to the whole chunk), then refine the chosen fit on every block.
    let stride = hists.len().div_ceil(SUBSAMPLE).max(1);
    let sub: Vec<SparseHistogram> = hists.iter().step_by(stride).cloned().collect();
    let scale = hists.len() as f64 / sub.len().max(1) as f64;
    let centers = farthest_first(&sub, &pooled, support_size, max_k);

    // Candidate K: the powers of two below max_k, then max_k (each EM stops early once
    // it converges, and the search stops after two candidates in a row that cost more).
    let ladder: Vec<usize> = match options.fixed_components {
        Some(k) => vec![k.clamp(1, max_k)],
        None => (0..)
            .map(|e| 1usize << e)
            .take_while(|&k| k < max_k)
            .chain(std::iter::once(max_k))
            .collect(),
    };

    // Each candidate is fitted from its own prefix of the centers, so the candidates
    // are independent: with `parallel` they are all fitted at once on the pool, else
    // one after the other until the search stops. The choice is the same either way.
    let candidate = |k: usize| {
        let fm = em(
            &sub,
            &pooled,
            &centers[..k],
            support_size,
            options.em_iterations,
            options.parallel,
        );
        let params = quantize(&fm, &symbols, alphabet);
        (total_cost_bits(&params, &symbols, &sub, scale), fm)
    };
    let mut fitted: Vec<Option<(f64, FloatMixture)>> = if options.parallel {
        use rayon::prelude::*;
        ladder.par_iter().map(|&k| Some(candidate(k))).collect()
    } else {
        ladder.iter().map(|_| None).collect()
    };
    let mut best: Option<(f64, FloatMixture)> = None;
    let mut worse_in_a_row = 0;
    for (&k, slot) in ladder.iter().zip(&mut fitted) {
        let (cost, fm) = slot.take().unwrap_or_else(|| candidate(k));
        match &best {
            // One more doubling after the first that costs more (a 2 GiB stream of
            // the corpus files codes 0.1% larger when the search stops at the first).
            Some((b, _)) if cost >= *b => {
                worse_in_a_row += 1;
                if worse_in_a_row >= 2 {
                    break;
                }
            }
            _ => {
                worse_in_a_row = 0;
                best = Some((cost, fm));
            }
        }
    }
    let fm = best.expect("ladder is never empty").1;
    let fm = if stride > 1 {
        em(
            &hists,
            &pooled,
            &fm.theta,
            support_size,
            REFINE_ITERATIONS,
            options.parallel,
        )
    } else {
        fm
    };
    quantize(&fm, &symbols, alphabet)
}

/// Responsibilities of components more than this many bits below a block's best are
/// set to 0.
const SPARSE_BITS: f64 = 16.0;
/// Responsibilities below this add nothing to a component's expected counts (the
/// encoder's search; every block still counts through its larger responsibilities).
/// On the corpus files, 1e-2 instead of 1e-4 changes sizes by -0.03% to +0.01% and takes
/// a third of the expected-count updates away (urls.10K).
const RESP_FLOOR: f64 = 1e-2;

/// Blocks used to choose the number of components.
const SUBSAMPLE: usize = 1024;
/// EM iterations on all blocks after K is chosen on the subsample.
const REFINE_ITERATIONS: usize = 4;

/// Header bits plus exact `sum_b -log2 P(x_b)` under the quantized parameters, for
/// histograms over the support `symbols` (index `i` is symbol `symbols[i]`).
/// The data term is multiplied by `scale` (blocks represented per histogram).
fn total_cost_bits(
    params: &MixtureParams,
    symbols: &[u16],
    hists: &[SparseHistogram],
    scale: f64,
) -> f64 {
    let header = params_cost_bits(params);
    let model = MixtureModel::from_params_lean(params.clone()).expect("valid");
    let k = params.weight_levels.len();
    let log2_prior: Vec<f64> = (0..k).map(|z| model.prior.log2_prob(z)).collect();
    let rows: Vec<f64> = symbols
        .iter()
        .flat_map(|&c| &model.log2_by_symbol[c as usize * k..(c as usize + 1) * k])
        .copied()
        .collect();
    let mut lj = vec![0.0; k];
    let mut bits = 0.0;
    for h in hists {
        h.log2_likelihoods(&rows, &mut lj);
        for (v, &p) in lj.iter_mut().zip(&log2_prior) {
            *v += p;
        }
        bits -= log2_sum_exp2_near(&lj);
    }
    header + scale * bits
}

/// Deterministic farthest-first start: component 0 is the pooled distribution, and each
/// next center is the block worst explained (lowest best per-symbol log-likelihood)
/// by the centers so far, smoothed toward the pooled distribution.
fn farthest_first(
    hists: &[SparseHistogram],
    pooled: &[f64],
    support: f64,
    k: usize,
) -> Vec<Vec<f64>> {
    let mut centers = vec![pooled.to_vec()];
    let mut best_score: Vec<f64> = vec![f64::NEG_INFINITY; hists.len()];
    let mut chosen = vec![false; hists.len()];
    let mut lik = vec![0.0; hists.len()];
    while centers.len() < k {
        let last = log2_vec(centers.last().expect("nonempty"));
        log2_likelihoods_of_blocks(hists, &last, &mut lik);
        let mut worst = None;
        let mut worst_score = f64::INFINITY;
        for (b, h) in hists.iter().enumerate() {
            if h.total == 0 {
                continue;
            }
            let s = lik[b] / h.total as f64;
            if s > best_score[b] {
                best_score[b] = s;
            }
            if !chosen[b] && best_score[b] < worst_score {
                worst_score = best_score[b];
                worst = Some(b);
            }
        }
        let Some(b) = worst else { break };
        chosen[b] = true;
        let mut counts = vec![0.0; pooled.len()];
        for &(c, n) in &hists[b].entries {
            counts[c as usize] = n as f64;
        }
        centers.push(smoothed(&counts, pooled, support));
    }
    while centers.len() < k {
        centers.push(pooled.to_vec());
    }
    centers
}

/// [`SparseHistogram::log2_likelihood`] of every block under one table, four blocks at
/// a time: each block's sum runs in its own order, and the four independent chains of
/// additions overlap instead of waiting on one another.
fn log2_likelihoods_of_blocks(hists: &[SparseHistogram], table: &[f64], out: &mut [f64]) {
    let mut groups = hists.chunks_exact(4);
    let mut outs = out.chunks_exact_mut(4);
    for (g, o) in (&mut groups).zip(&mut outs) {
        let longest = g.iter().map(|h| h.entries.len()).max().unwrap_or(0);
        let mut s = [0.0f64; 4];
        for i in 0..longest {
            for j in 0..4 {
                if let Some(&(c, n)) = g[j].entries.get(i) {
                    s[j] += n as f64 * table[c as usize];
                }
            }
        }
        o.copy_from_slice(&s);
    }
    for (h, o) in groups.remainder().iter().zip(outs.into_remainder()) {
        *o = h.log2_likelihood(table);
    }
}

/// EM on block histograms from the given centers (weights start uniform).
///
/// Stops early once an E-step raises the total log-likelihood by less than
/// [`EM_TOLERANCE`] of its size. The E-step runs over [`EM_SHARDS`] fixed, contiguous
/// shards of blocks, on the current rayon pool if `parallel`, else one after the other;
/// their sums are added in shard order, so the result depends on neither.
fn em(
    hists: &[SparseHistogram],
    pooled: &[f64],
    centers: &[Vec<f64>],
    support: f64,
    iters: usize,
    parallel: bool,
) -> FloatMixture {
    use rayon::prelude::*;
    let k = centers.len();
    let n = pooled.len();
    let mut fm = FloatMixture {
        weights: vec![1.0 / k as f64; k],
        theta: centers.to_vec(),
    };
    if k == 1 {
        return fm;
    }
    let strength = 0.05 * support;
    let mut by_symbol = vec![0.0f32; n * k];
    let shard_len = hists.len().div_ceil(EM_SHARDS).max(1);
    let mut shards: Vec<EStep> = hists
        .chunks(shard_len)
        .map(|shard| EStep::new(k, n, shard.len()))
        .collect();
    let mut last_loglik = f64::NEG_INFINITY;
    let mut column = Vec::with_capacity(n);
    for it in 0..iters {
        let log2_w: Vec<f64> = log2_vec(&fm.weights);
        // The E-step's table in single precision (the encoder's search only).
        for (z, theta) in fm.theta.iter().enumerate() {
            for (c, &t) in theta.iter().enumerate() {
                by_symbol[c * k + z] = math::log2f(t as f32);
            }
        }
        if parallel {
            hists
                .par_chunks(shard_len)
                .zip(shards.par_iter_mut())
                .for_each(|(shard, st)| st.update(shard, &by_symbol, &log2_w));
        } else {
            hists
                .chunks(shard_len)
                .zip(shards.iter_mut())
                .for_each(|(shard, st)| st.update(shard, &by_symbol, &log2_w));
        }
        let mut loglik = 0.0;
        let mut mass = vec![0.0; k];
        let mut counts = vec![0.0; k * n];
        for sh in &shards {
            loglik += sh.loglik;
            for (a, &b) in mass.iter_mut().zip(&sh.mass) {
                *a += b;
            }
            for (a, &b) in counts.iter_mut().zip(&sh.counts) {
                *a += b;
            }
        }
        if it > 0 && loglik - last_loglik < EM_TOLERANCE * loglik.abs() {
            break;
        }
        last_loglik = loglik;
        let total_mass: f64 = mass.iter().sum();
        let components = fm.weights.iter_mut().zip(&mut fm.theta).zip(&mass);
        for (z, ((w, theta), &m)) in components.enumerate() {
            *w = (m + 0.5) / (total_mass + 0.5 * k as f64);
            column.clear();
            column.extend(counts.iter().skip(z).step_by(k));
            *theta = smoothed(&column, pooled, strength);
        }
    }
    fm
}

/// Shards of the E-step (a fixed count: the sums must not depend on the thread count).
const EM_SHARDS: usize = 8;
/// EM stops when an iteration gains less than this fraction of the log-likelihood.
const EM_TOLERANCE: f64 = 3e-4;
/// A block's expected counts are updated only where one of its responsibilities moved
/// by at least this much since they were last added (so that the counts stand for
/// responsibilities within this distance of the current ones).
const RESP_MOVE: f64 = 1e-2;

/// Expected sufficient statistics of one shard of blocks, kept from one EM iteration
/// to the next: `counts` and `mass` are the sums over the shard's blocks of the
/// responsibilities in `tracked`, which follow each block's current responsibilities to
/// within [`RESP_MOVE`] (incremental EM: a block whose responsibilities barely moved
/// costs no update).
struct EStep {
    /// Expected symbol counts, symbol-major (`[c * K + z]`).
    counts: Vec<f64>,
    /// Expected number of blocks of each component.
    mass: Vec<f64>,
    /// The responsibilities the sums stand for, block-major (`[b * K + z]`).
    tracked: Vec<f64>,
    /// Per block, the components whose entry of `tracked` is not 0 (bit `z`).
    counted: Vec<u64>,
    /// Log-likelihood of the shard's blocks in the last E-step.
    loglik: f64,
}

impl EStep {
    fn new(k: usize, n: usize, blocks: usize) -> Self {
        Self {
            counts: vec![0.0; k * n],
            mass: vec![0.0; k],
            tracked: vec![0.0; k * blocks],
            counted: vec![0; blocks],
            loglik: 0.0,
        }
    }

    /// The E-step over the shard's blocks `hists` with the component log-probabilities
    /// `by_symbol` (symbol-major, as f32: this is the encoder's search, not a coding
    /// distribution). Responsibilities below [`RESP_FLOOR`] count as 0.
    fn update(&mut self, hists: &[SparseHistogram], by_symbol: &[f32], log2_w: &[f64]) {
        let k = log2_w.len();
        let mut ll = vec![0.0f32; k];
        let mut lj = vec![0.0f64; k];
        let mut resp = vec![0.0f64; k];
        self.loglik = 0.0;
        let (mut product, mut in_product) = (1.0f64, 0);
        debug_assert!(k <= 64);
        let blocks = hists
            .iter()
            .zip(self.tracked.chunks_exact_mut(k))
            .zip(&mut self.counted);
        for ((h, tracked), counted) in blocks {
            if h.total == 0 {
                continue;
            }
            accumulate_rows(&h.entries, by_symbol, &mut ll);
            for ((j, &w), &l) in lj.iter_mut().zip(log2_w).zip(&ll) {
                *j = w + l as f64;
            }
            // The components within SPARSE_BITS of the best, and those the sums still
            // count for this block: the others have responsibility 0 both times.
            let mut near = 0u64;
            let (m, sum) = near_terms(&lj, |z, t| {
                near |= 1 << z;
                resp[z] = t;
            });
            // log2 of the sums sixteen at a time (each sum is in [1, K], K <= 64).
            self.loglik += m;
            product *= sum;
            in_product += 1;
            if in_product == 16 {
                self.loglik += math::log2(product);
                (product, in_product) = (1.0, 0);
            }
            let inv = 1.0 / sum;
            let mut visit = near | *counted;
            while visit != 0 {
                let z = visit.trailing_zeros() as usize;
                visit &= visit - 1;
                let r = if near >> z & 1 == 1 {
                    resp[z] * inv
                } else {
                    0.0
                };
                let r = if r < RESP_FLOOR { 0.0 } else { r };
                let t = &mut tracked[z];
                let d = r - *t;
                // A small move is skipped unless the component enters or leaves the
                // block's counts.
                if d.abs() < RESP_MOVE && (r == 0.0) == (*t == 0.0) {
                    continue;
                }
                *t = r;
                if r == 0.0 {
                    *counted &= !(1 << z);
                } else {
                    *counted |= 1 << z;
                }
                self.mass[z] += d;
                for &(c, cnt) in &h.entries {
                    self.counts[c as usize * k + z] += d * cnt as f64;
                }
            }
        }
        self.loglik += math::log2(product);
    }
}

/// The terms of `sum_z 2^(lj[z] - m)` within [`SPARSE_BITS`] of the largest `m`: calls
/// `each(z, term)` in increasing `z` and returns `(m, sum of those terms)`. The latents
/// in range are marked first, so the others cost no `exp2` call.
fn near_terms(lj: &[f64], mut each: impl FnMut(usize, f64)) -> (f64, f64) {
    debug_assert!(lj.len() <= 64);
    let m = lj.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut near = 0u64;
    for (z, &v) in lj.iter().enumerate() {
        near |= ((v - m >= -SPARSE_BITS) as u64) << z;
    }
    let mut s = 0.0;
    while near != 0 {
        let z = near.trailing_zeros() as usize;
        near &= near - 1;
        // 2^0 = 1 exactly: the largest term needs no call.
        let t = if lj[z] == m {
            1.0
        } else {
            math::exp2(lj[z] - m)
        };
        each(z, t);
        s += t;
    }
    (m, s)
}

/// `log2 sum_z 2^lj[z]` leaving out the terms more than [`SPARSE_BITS`] below the
/// largest (they change the encoder's size estimate by less than `K 2^-16` of a bit).
fn log2_sum_exp2_near(lj: &[f64]) -> f64 {
    let (m, s) = near_terms(lj, |_, _| {});
    m + math::log2(s)
}

/// Log-levels of the fitted float parameters over the support `symbols` (index `i`
/// of a component is symbol `symbols[i]`; the other symbols get level 0).
fn quantize(fm: &FloatMixture, symbols: &[u16], alphabet: usize) -> MixtureParams {
    let wmax = fm.weights.iter().copied().fold(0.0, f64::max);
    let weight_levels = fm.weights.iter().map(|&w| level_of(w, wmax)).collect();
    let component_levels = fm
        .theta
        .iter()
        .map(|theta| {
            let max = theta.iter().copied().fold(0.0, f64::max);
            let mut levels = vec![0u8; alphabet];
            for (&c, &t) in symbols.iter().zip(theta) {
                levels[c as usize] = level_of(t, max);
            }
            levels
        })
        .collect();
    MixtureParams {
        alphabet,
        weight_levels,
        component_levels,
    }
}

// ---------------------------------------------------------------------------------------
// Parameter serialization.
//
// Layout of the stored parameters (all inside the chunk payload):
//
// | bytes | field                                                             |
// |-------|-------------------------------------------------------------------|
// | 1     | K - 1                                                             |
// | rest  | range-coded stream of u32 words (little endian), adaptive models: |
// |       |   support bit of each symbol (context: previous bit)              |
// |       |   K weight levels (one adaptive model)                            |
// |       |   component 0: level of each supported symbol                     |
// |       |     (context: bucket of the previous supported symbol's level)    |
// |       |   component k >= 1: level minus component 0's level, shifted      |
// |       |     (context: bucket of component 0's level of that symbol)       |
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_and_sequential_em_fit_the_same_parameters() {
        // Several regimes and enough blocks for every shard and a subsample, on a pool
        // of 3 threads: the shards' sums are added in shard order either way.
        let mut x = Vec::new();
        let mut r = 0x1234_5678u64;
        for b in 0..3000u32 {
            for _ in 0..64 {
                r = r
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let span = 8 + (b % 5) * 40;
                x.push(((b % 5) * 30 + (r >> 33) as u32 % span) as u16 % 256);
            }
        }
        let blocks: Vec<&[u16]> = x.chunks(64).collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let fit = |parallel| {
            pool.install(|| {
                let opts = MixtureFitOptions {
                    parallel,
                    ..Default::default()
                };
                fit_params(&blocks, 256, &opts)
            })
        };
        let (a, b) = (fit(true), fit(false));
        assert!(a.weight_levels.len() >= 2);
        assert_eq!(a, b);
    }

    #[test]
    fn incremental_e_step_counts_stand_for_current_responsibilities() {
        // 300 blocks of 64 symbols over 40 symbols, 4 components, and three E-steps
        // under different tables: after each, the kept sums must be exactly the sums of
        // the tracked responsibilities (up to f64 rounding), every tracked value within
        // RESP_MOVE of the block's current responsibility (floored), and the
        // log-likelihood that of the current table.
        let (k, n) = (4usize, 40usize);
        let mut r = 0x9e37_79b9u64;
        let mut next = move || {
            r = r
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (r >> 33) as u32
        };
        let hists: Vec<SparseHistogram> = (0..300)
            .map(|b| {
                let x: Vec<u16> = (0..64)
                    .map(|_| ((b % 4) * 8 + next() % 16) as u16 % n as u16)
                    .collect();
                SparseHistogram::of(&x, n)
            })
            .collect();
        let mut st = EStep::new(k, n, hists.len());
        for step in 0..3 {
            let table: Vec<f32> = (0..n * k)
                .map(|i| -1.0 - ((i as u32 * 7 + step * 13 + next() % 5) % 23) as f32 / 4.0)
                .collect();
            let log2_w = vec![-2.0; k];
            st.update(&hists, &table, &log2_w);
            let mut counts = vec![0.0; n * k];
            let mut mass = vec![0.0; k];
            let mut loglik = 0.0;
            let (mut stale, mut soft) = (0, 0);
            for (b, h) in hists.iter().enumerate() {
                let mut ll = vec![0.0f32; k];
                accumulate_rows(&h.entries, &table, &mut ll);
                let lj: Vec<f64> = ll
                    .iter()
                    .zip(&log2_w)
                    .map(|(&l, &w)| w + l as f64)
                    .collect();
                let mut fresh = vec![0.0; k];
                let (m, sum) = near_terms(&lj, |z, t| fresh[z] = t);
                loglik += m + math::log2(sum);
                for z in 0..k {
                    let r = fresh[z] / sum;
                    let r = if r < RESP_FLOOR { 0.0 } else { r };
                    let t = st.tracked[b * k + z];
                    assert!((t - r).abs() < RESP_MOVE, "block {b} z {z}: {t} vs {r}");
                    stale += ((t - r).abs() > 1e-12) as usize;
                    soft += (r > 0.0 && r < 1.0) as usize;
                    assert_eq!(r == 0.0, t == 0.0, "block {b} z {z}");
                    assert_eq!(st.counted[b] >> z & 1 == 1, t != 0.0);
                    mass[z] += t;
                    for &(c, cnt) in &h.entries {
                        counts[c as usize * k + z] += t * cnt as f64;
                    }
                }
            }
            // The case must exercise soft responsibilities, and (after the first step,
            // which adds every block) updates that were skipped.
            assert!(soft > 0);
            assert!(step == 0 || stale > 0, "step {step}: no update was skipped");
            assert!((st.loglik - loglik).abs() <= 1e-9 * loglik.abs());
            for (a, b) in st.mass.iter().zip(&mass) {
                assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
            }
            for (a, b) in st.counts.iter().zip(&counts) {
                assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn two_regimes_choose_more_than_one_component() {
        let mut x = Vec::new();
        for b in 0..64u32 {
            for i in 0..256u32 {
                let s = if b % 2 == 0 {
                    (i * 31 + b) % 16
                } else {
                    200 + (i * 17 + b) % 40
                };
                x.push(s as u16);
            }
        }
        let blocks: Vec<&[u16]> = x.chunks(256).collect();
        let params = fit_params(&blocks, 256, &MixtureFitOptions::default());
        assert!(params.weight_levels.len() >= 2);
    }
}
