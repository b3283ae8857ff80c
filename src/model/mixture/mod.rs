//! Mixture of K categoricals over blocks of symbols (`--model mixture`).
//!
//! Generative process for one block: `z ~ Categorical(pi)`, then every symbol of the
//! block `x_j ~ Categorical(theta_z)` independently. The latent is discrete and small, so
//! the posterior `P(z | x)` and the evidence `P(x)` are exact by enumeration: this is the
//! oracle model of the discrete path, and with `K = 1` it is a plain order-0 coder.
//!
//! Parameters are fitted per chunk on the encoder (deterministic EM from a farthest-first
//! start), quantized to quarter-bit log-levels, and stored in the file (counted in
//! `header_bits`). The number of components is chosen by the total size it produces:
//! header plus `sum_blocks -log2 P(x_b)`, so K > 1 is only used where it pays.

use constriction::stream::queue::{DefaultRangeDecoder, DefaultRangeEncoder};
use constriction::stream::{Decode, Encode};

use crate::categorical::{AnsModel, QuantizedCategorical, SymbolModel, PRECISION, TOTAL};
use crate::chain::DiscreteLatentModel;
use crate::error::{Field, FormatError};
use crate::math;

mod config;
mod traces;
pub use config::MixtureConfig;

/// Largest log-level: probability ratio to the component's most likely symbol of
/// `2^{-(MAX_LEVEL - 1) / 4}`, about `2^-24.75`.
pub const MAX_LEVEL: u8 = 100;

/// Largest number of components a file may declare.
pub const MAX_COMPONENTS: usize = 64;

/// Mantissas `round(2^16 * 2^{-j/4})` for `j = 0..4`: level weights are integers.
const MANTISSA: [u64; 4] = [65536, 55109, 46341, 38968];

/// Integer weight of a log-level (`0` for level 0 = absent symbol).
fn level_weight(level: u8) -> u64 {
    if level == 0 {
        return 0;
    }
    let l = (level - 1) as u64;
    MANTISSA[(l % 4) as usize] << (40 - l / 4)
}

/// Log-level of a probability relative to the largest one: `1 + round(-4 log2(p / max))`.
fn level_of(p: f64, max: f64) -> u8 {
    if p.is_nan() || max.is_nan() || p <= 0.0 || max <= 0.0 {
        return MAX_LEVEL;
    }
    let l = 1.0 - 4.0 * math::log2(p / max);
    let l = (l + 0.5).floor();
    l.clamp(1.0, MAX_LEVEL as f64) as u8
}

/// The stored parameters of a mixture: quantized log-levels.
///
/// Invariant: `weight_levels.len() == component_levels.len() = K >= 1`; every entry of
/// `weight_levels` is in `1..=MAX_LEVEL`; each `component_levels[k]` has `alphabet`
/// entries, `0` exactly for the symbols outside `support` (the same set for every k).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MixtureParams {
    /// Alphabet size `n`.
    pub alphabet: usize,
    /// Log-levels of the mixing weights `pi`.
    pub weight_levels: Vec<u8>,
    /// Log-levels of each component's symbol distribution `theta_k`.
    pub component_levels: Vec<Vec<u8>>,
}

/// A mixture model ready to code: fixed-point prior and component distributions.
#[derive(Clone, Debug)]
pub struct MixtureModel {
    params: MixtureParams,
    prior: QuantizedCategorical,
    components: Vec<QuantizedCategorical>,
    /// `log2 theta_z[c]` symbol-major (`[c * K + z]`), so that the log-likelihoods of
    /// all components accumulate together, each in symbol order.
    log2_by_symbol: Vec<f64>,
}

impl MixtureModel {
    /// Build the coding distributions from stored parameters.
    pub fn from_params(params: MixtureParams) -> Result<Self, FormatError> {
        Self::build(params, true)
    }

    /// [`MixtureModel::from_params`] without the components' decoding lookup tables
    /// (for scoring candidate fits: log-probabilities only).
    fn from_params_lean(params: MixtureParams) -> Result<Self, FormatError> {
        Self::build(params, false)
    }

    fn build(params: MixtureParams, lookup: bool) -> Result<Self, FormatError> {
        let k = params.weight_levels.len();
        if k == 0 || k > MAX_COMPONENTS || params.component_levels.len() != k {
            return Err(FormatError::Invalid {
                field: Field::Parameters,
                got: k as u64,
            });
        }
        let w: Vec<u64> = params
            .weight_levels
            .iter()
            .map(|&l| level_weight(l))
            .collect();
        let prior =
            QuantizedCategorical::from_int_weights(&w).map_err(|_| FormatError::Invalid {
                field: Field::Parameters,
                got: 0,
            })?;
        let mut components = Vec::with_capacity(k);
        for levels in &params.component_levels {
            let w: Vec<u64> = levels.iter().map(|&l| level_weight(l)).collect();
            components.push(
                QuantizedCategorical::from_int_weights(&w)
                    .map(|c| if lookup { c.with_lookup() } else { c })
                    .map_err(|_| FormatError::Invalid {
                        field: Field::Parameters,
                        got: 0,
                    })?,
            );
        }
        let n = params.alphabet;
        let mut log2_by_symbol = vec![0.0; n * k];
        for (z, comp) in components.iter().enumerate() {
            for (c, &l) in comp.log2_probs().iter().enumerate().take(n) {
                log2_by_symbol[c * k + z] = l;
            }
        }
        Ok(Self {
            params,
            prior,
            components,
            log2_by_symbol,
        })
    }

    /// Fit a mixture to the blocks of one chunk (encoder side) and build it.
    pub fn fit(blocks: &[&[u16]], alphabet: usize, options: &MixtureFitOptions) -> Self {
        let params = fit_params(blocks, alphabet, options);
        Self::from_params(params).expect("fitted parameters are valid by construction")
    }

    /// The stored parameters.
    pub fn params(&self) -> &MixtureParams {
        &self.params
    }

    /// Component `k`'s distribution `theta_k`.
    pub fn component(&self, k: usize) -> &QuantizedCategorical {
        &self.components[k]
    }
}

impl DiscreteLatentModel for MixtureModel {
    fn num_latents(&self) -> usize {
        self.components.len()
    }
    fn alphabet_size(&self) -> usize {
        self.params.alphabet
    }
    fn prior(&self) -> &QuantizedCategorical {
        &self.prior
    }
    fn likelihood(&self, z: usize, _position: usize) -> &QuantizedCategorical {
        &self.components[z]
    }
    fn same_likelihood_at_every_position(&self) -> bool {
        true
    }
    /// Histogram form: `log2 P(x | z) = sum_c n_c log2 theta_z[c]` over the distinct
    /// symbols `c` of the block, in increasing symbol order.
    fn log2_likelihoods(&self, x: &[u16], out: &mut [f64]) {
        thread_local! {
            // One histogram buffer per thread, reused block after block.
            static HIST: std::cell::RefCell<SparseHistogram> = Default::default();
        }
        HIST.with_borrow_mut(|hist| {
            hist.fill(x, self.params.alphabet);
            hist.log2_likelihoods(&self.log2_by_symbol, out);
        });
    }
}

/// Symbol counts of one block, sorted by symbol.
#[derive(Clone, Debug, Default)]
pub struct SparseHistogram {
    /// `(symbol, count)` pairs with `count > 0`, in increasing symbol order.
    pub entries: Vec<(u16, u32)>,
    /// Number of symbols in the block.
    pub total: u32,
}

impl SparseHistogram {
    /// Count the symbols of `x` (all must be `< alphabet`; others are ignored).
    pub fn of(x: &[u16], alphabet: usize) -> Self {
        let mut h = Self::default();
        h.fill(x, alphabet);
        h
    }

    /// [`SparseHistogram::of`] into this histogram, reusing its buffer.
    pub fn fill(&mut self, x: &[u16], alphabet: usize) {
        let mut entries = std::mem::take(&mut self.entries);
        entries.clear();
        if alphabet <= 256 {
            // Counts plus a bitmap of the symbols present: the entries come out in
            // increasing symbol order at a cost of the distinct symbols, not 256.
            let mut dense = [0u32; 256];
            let mut present = [0u64; 4];
            for &s in x {
                if (s as usize) < alphabet {
                    dense[s as usize] += 1;
                    present[s as usize >> 6] |= 1 << (s & 63);
                }
            }
            entries.reserve(present.iter().map(|w| w.count_ones() as usize).sum());
            for (wi, &word) in present.iter().enumerate() {
                let mut w = word;
                while w != 0 {
                    let s = wi * 64 + w.trailing_zeros() as usize;
                    entries.push((s as u16, dense[s]));
                    w &= w - 1;
                }
            }
        } else if alphabet <= 4096 || x.len() * 8 >= alphabet {
            let mut dense = vec![0u32; alphabet];
            for &s in x {
                if let Some(c) = dense.get_mut(s as usize) {
                    *c += 1;
                }
            }
            for (s, &c) in dense.iter().enumerate() {
                if c > 0 {
                    entries.push((s as u16, c));
                }
            }
        } else {
            let mut sorted: Vec<u16> = x
                .iter()
                .copied()
                .filter(|&s| (s as usize) < alphabet)
                .collect();
            sorted.sort_unstable();
            for s in sorted {
                match entries.last_mut() {
                    Some((last, c)) if *last == s => *c += 1,
                    _ => entries.push((s, 1)),
                }
            }
        }
        self.total = entries.iter().map(|e| e.1).sum();
        self.entries = entries;
    }

    /// `sum_c n_c * table[c]` in symbol order.
    #[inline]
    pub fn log2_likelihood(&self, log_table: &[f64]) -> f64 {
        let mut s = 0.0;
        for &(c, n) in &self.entries {
            s += n as f64 * log_table[c as usize];
        }
        s
    }

    /// [`SparseHistogram::log2_likelihood`] for `K = out.len()` tables at once, given
    /// symbol-major (`by_symbol[c * K + z]`): each `out[z]` is accumulated in the same
    /// order with the same operations (so the same bits), and the inner loop over `z`
    /// vectorizes.
    #[inline]
    pub fn log2_likelihoods(&self, by_symbol: &[f64], out: &mut [f64]) {
        accumulate_rows(&self.entries, by_symbol, out);
    }
}

/// Element types of the per-block log-likelihood tables: `f64` for coding, `f32` for
/// the encoder's EM.
trait RowValue: Copy + Default + std::ops::Mul<Output = Self> + std::ops::AddAssign {
    fn of_count(n: u32) -> Self;
}

impl RowValue for f64 {
    fn of_count(n: u32) -> Self {
        n as f64
    }
}

impl RowValue for f32 {
    fn of_count(n: u32) -> Self {
        n as f32
    }
}

/// `out[z] = sum_c n_c rows[c * K + z]` over the histogram `entries` in their order,
/// `K = out.len()`. For the component counts the encoder tries (powers of two up to 32)
/// the accumulators stay in registers; the operations and their order are the same.
///
/// On x86-64 CPUs with AVX2 the same loops run with 256-bit vectors: the lanes are the
/// same independent sums of products (no fused multiply-add), so the results are bit
/// for bit those of the portable build.
#[inline]
fn accumulate_rows<T: RowValue>(entries: &[(u16, u32)], rows: &[T], out: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, the only requirement of this function.
            return unsafe { accumulate_rows_avx2(entries, rows, out) };
        }
    }
    accumulate_rows_portable(entries, rows, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn accumulate_rows_avx2<T: RowValue>(entries: &[(u16, u32)], rows: &[T], out: &mut [T]) {
    accumulate_rows_portable(entries, rows, out)
}

#[inline(always)]
fn accumulate_rows_portable<T: RowValue>(entries: &[(u16, u32)], rows: &[T], out: &mut [T]) {
    match out.len() {
        2 => accumulate_rows_fixed::<T, 2>(entries, rows, out),
        4 => accumulate_rows_fixed::<T, 4>(entries, rows, out),
        8 => accumulate_rows_fixed::<T, 8>(entries, rows, out),
        16 => accumulate_rows_fixed::<T, 16>(entries, rows, out),
        32 => accumulate_rows_fixed::<T, 32>(entries, rows, out),
        k => {
            out.iter_mut().for_each(|o| *o = T::default());
            for &(c, n) in entries {
                let nf = T::of_count(n);
                let row = &rows[c as usize * k..(c as usize + 1) * k];
                for (o, &l) in out.iter_mut().zip(row) {
                    *o += nf * l;
                }
            }
        }
    }
}

#[inline(always)]
fn accumulate_rows_fixed<T: RowValue, const K: usize>(
    entries: &[(u16, u32)],
    rows: &[T],
    out: &mut [T],
) {
    let mut acc = [T::default(); K];
    for &(c, n) in entries {
        let nf = T::of_count(n);
        let at = c as usize * K;
        let row: &[T; K] = rows[at..at + K].try_into().expect("row of K entries");
        for (a, &l) in acc.iter_mut().zip(row) {
            *a += nf * l;
        }
    }
    out.copy_from_slice(&acc);
}

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

const LEVEL_SYMBOLS: usize = MAX_LEVEL as usize + 1;
const DELTA_SYMBOLS: usize = 2 * MAX_LEVEL as usize + 1;
const BUCKETS: usize = 14;

fn bucket(level: u8) -> usize {
    if level == 0 {
        0
    } else {
        1 + ((level as usize - 1) / 8).min(BUCKETS - 2)
    }
}

/// Largest alphabet of an [`Adaptive`] model (the level deltas).
const MAX_ADAPTIVE: usize = DELTA_SYMBOLS;

/// `2^52`: adding it to a double in `[0, 2^52)` rounds that double to an integer held in
/// the low bits of the sum's representation.
const ROUNDER: f64 = (1u64 << 52) as f64;

/// `g = fl(free fl(1 / total))` of [`floor_times`].
#[inline]
fn ratio(free: u64, total: u64) -> f64 {
    free as f64 * (1.0 / total as f64)
}

/// `floor(c free / total)` from `g = ratio(free, total)`, exact for the counts of an
/// [`Adaptive`] model (proof there).
#[inline]
fn floor_times(c: f64, g: f64) -> u32 {
    const H: f64 = 1.0 / (1u64 << 20) as f64 - 0.5;
    ((c * g + H + ROUNDER).to_bits() - ROUNDER.to_bits()) as u32
}

/// Adaptive frequency model: counts start at 1 and grow by `STEP` per occurrence.
///
/// The probabilities are those of [`QuantizedCategorical::from_int_weights_lean`] of the
/// counts: `1 + floor(c * free / total)` per symbol (`free = TOTAL - n`), the rounding
/// leftover added to the first largest count. The floors are computed in doubles, in
/// fixed-order element-wise operations, and are exact:
///
/// `u = fl(fl(c g) + h)` with `g = fl(free fl(1 / total))` and `h = 2^-20 - 1/2`
/// (exact), then `floor(v) = fl(u + 2^52) - 2^52` for `v = c free / total`. Here
/// `128 <= v < 2^24` (`1 <= c <= total < 2^17`, `free > 2^23`), and four roundings put
/// `u` within `v 2^-51.4 + 2^-29 < 2^-26.9` of `v - 1/2 + 2^-20`. If `v` is an integer
/// `m`, `u` lies in `(m - 1/2, m - 1/2 + 2^-19)` and rounds to `m`. Otherwise `v` is at
/// least `1 / total > 2^-17` from the integers around it, so `u` lies strictly between
/// `floor(v) - 1/2` and `floor(v) + 1/2` and rounds to `floor(v)`. Adding `2^52` rounds
/// to nearest at unit spacing, with no ties, so the low bits of the sum are `floor(v)`.
///
/// Counts start at 1 and a symbol's count changes only when it is coded, so the symbols
/// never coded (usually most of them) share one probability: the cumulative table is
/// computed in sparse form, at a cost of the symbols coded so far rather than of the
/// alphabet (with the same integers).
struct Adaptive {
    /// Counts as doubles (integers below `2^17`, exact).
    counts: Vec<f64>,
    total: u64,
    /// The first index of the largest count (it takes the rounding leftover).
    best: usize,
    /// The symbols coded so far, in increasing order: every other count is 1.
    touched: Vec<u16>,
}

impl Adaptive {
    const STEP: u64 = 24;
    const LIMIT: u64 = 1 << 16;
    fn new(n: usize) -> Self {
        debug_assert!(n <= MAX_ADAPTIVE);
        Self {
            counts: vec![1.0; n],
            total: n as u64,
            best: 0,
            touched: Vec::new(),
        }
    }
    fn model(&self) -> AnsModel<'_, Self> {
        AnsModel(self)
    }

    /// The cumulative table of the probabilities, in sparse form (see the type's
    /// comment).
    fn cdf(&self) -> AdaptiveCdf<'_> {
        let n = self.counts.len();
        let g = ratio(TOTAL as u64 - n as u64, self.total);
        // Every symbol outside `touched` has count 1 and probability 1 + floor(g).
        let f1 = floor_times(1.0, g);
        let excess: u32 = self
            .touched
            .iter()
            .map(|&t| floor_times(self.counts[t as usize], g) - f1)
            .sum();
        let step = 1 + f1;
        AdaptiveCdf {
            model: self,
            g,
            f1,
            step,
            leftover: TOTAL - (n as u32 * step + excess),
        }
    }

    /// Symbol `s`'s probability without the rounding leftover.
    fn approx_fixed_prob(&self, s: usize) -> u64 {
        let free = TOTAL as u64 - self.counts.len() as u64;
        1 + self.counts[s] as u64 * free / self.total
    }

    fn update(&mut self, s: usize) {
        if let Err(at) = self.touched.binary_search(&(s as u16)) {
            self.touched.insert(at, s as u16);
        }
        self.counts[s] += Self::STEP as f64;
        self.total += Self::STEP;
        // Only counts[s] grew: the first largest is the old one or s.
        let (c, b) = (self.counts[s], self.counts[self.best]);
        if c > b || (c == b && s < self.best) {
            self.best = s;
        }
        if self.total > Self::LIMIT {
            self.total = 0;
            for c in &mut self.counts {
                let h = (*c as u64).div_ceil(2);
                *c = h as f64;
                self.total += h;
            }
            // Halving can tie counts: find the first largest again.
            self.best = 0;
            for (i, &c) in self.counts.iter().enumerate() {
                if c > self.counts[self.best] {
                    self.best = i;
                }
            }
        }
    }
}

impl SymbolModel for Adaptive {
    fn alphabet_size(&self) -> usize {
        self.counts.len()
    }

    fn interval(&self, s: usize) -> Option<(u32, u32)> {
        if s >= self.counts.len() {
            return None;
        }
        let cdf = self.cdf();
        Some((cdf.left(s), cdf.prob(s)))
    }

    fn quantile(&self, q: u32) -> (usize, u32, u32) {
        let cdf = self.cdf();
        let n = self.counts.len();
        // The last i < n with left(i) <= q, segment by segment: between two coded
        // symbols the cumulative table grows by `step` per symbol.
        let (mut lo, mut excess) = (0usize, 0u32);
        let mut touched = self.touched.iter();
        loop {
            // Positions lo..hi all have `excess` below them; hi has `next` below it.
            let (hi, next) = match touched.next() {
                Some(&t) => (t as usize + 1, excess + cdf.excess(t as usize)),
                None => (n, excess),
            };
            if hi < n && cdf.left_with(hi, next) <= q {
                (lo, excess) = (hi, next);
                continue;
            }
            let (mut a, mut b) = (lo, hi);
            while b - a > 1 {
                let mid = (a + b) / 2;
                if cdf.left_with(mid, excess) <= q {
                    a = mid;
                } else {
                    b = mid;
                }
            }
            return (a, cdf.left_with(a, excess), cdf.prob(a));
        }
    }
}

/// An [`Adaptive`] model's cumulative table in sparse form: below symbol `i` lie `i`
/// probabilities of `step` (the symbols' share at count 1), what the floors of the coded
/// symbols below `i` exceed that of count 1, and the rounding leftover if `i` is above
/// the first largest count.
struct AdaptiveCdf<'a> {
    model: &'a Adaptive,
    /// `g` of [`floor_times`].
    g: f64,
    /// The floor of count 1.
    f1: u32,
    /// `1 + f1`.
    step: u32,
    leftover: u32,
}

impl AdaptiveCdf<'_> {
    /// What symbol `s`'s floor exceeds that of count 1.
    fn excess(&self, s: usize) -> u32 {
        floor_times(self.model.counts[s], self.g) - self.f1
    }

    /// The probability of symbol `s`.
    fn prob(&self, s: usize) -> u32 {
        let leftover = if s == self.model.best {
            self.leftover
        } else {
            0
        };
        1 + floor_times(self.model.counts[s], self.g) + leftover
    }

    /// [`AdaptiveCdf::left`] given the coded symbols' `excess` below `i`.
    fn left_with(&self, i: usize, excess: u32) -> u32 {
        let leftover = if i > self.model.best {
            self.leftover
        } else {
            0
        };
        i as u32 * self.step + excess + leftover
    }

    /// The probability mass below symbol `i` (`TOTAL` for `i = n`).
    fn left(&self, i: usize) -> u32 {
        debug_assert!(i <= self.model.counts.len());
        let excess = self
            .model
            .touched
            .iter()
            .take_while(|&&t| (t as usize) < i)
            .map(|&t| self.excess(t as usize))
            .sum();
        self.left_with(i, excess)
    }
}

/// Visit every coded symbol of the parameter layout (table above) in order, with the
/// adaptive model it is coded with; the model is updated after `code` returns.
fn walk_params(params: &MixtureParams, mut code: impl FnMut(&Adaptive, usize)) {
    let n = params.alphabet;
    let mut put = |model: &mut Adaptive, s: usize| {
        code(model, s);
        model.update(s);
    };
    let support: Vec<bool> = params.component_levels[0].iter().map(|&l| l > 0).collect();
    let mut bit_models = [Adaptive::new(2), Adaptive::new(2)];
    let mut prev = 1usize;
    for &s in &support {
        let b = s as usize;
        put(&mut bit_models[prev], b);
        prev = b;
    }
    let mut weight_model = Adaptive::new(LEVEL_SYMBOLS);
    for &l in &params.weight_levels {
        put(&mut weight_model, l as usize);
    }
    let mut first: Vec<Adaptive> = (0..BUCKETS).map(|_| Adaptive::new(LEVEL_SYMBOLS)).collect();
    let mut delta: Vec<Adaptive> = (0..BUCKETS).map(|_| Adaptive::new(DELTA_SYMBOLS)).collect();
    let base = &params.component_levels[0];
    let mut prev_level = 0u8;
    for c in (0..n).filter(|&c| support[c]) {
        put(&mut first[bucket(prev_level)], base[c] as usize);
        prev_level = base[c];
    }
    for levels in &params.component_levels[1..] {
        for c in (0..n).filter(|&c| support[c]) {
            let d = levels[c] as usize + MAX_LEVEL as usize - base[c] as usize;
            put(&mut delta[bucket(base[c])], d);
        }
    }
}

/// The size in bits of [`encode_params`]' output, estimated without coding: the count
/// byte plus the ideal code length of every symbol under its adaptive model (the
/// range coder adds at most a word, and the rounding leftover of the largest count is
/// ignored). The encoder compares candidate fits with it.
fn params_cost_bits(params: &MixtureParams) -> f64 {
    let mut bits = 8.0;
    walk_params(params, |model, s| {
        bits += PRECISION as f64 - math::log2(model.approx_fixed_prob(s) as f64);
    });
    bits
}

/// Serialize mixture parameters (the bytes counted in `header_bits`).
pub fn encode_params(params: &MixtureParams) -> Vec<u8> {
    let k = params.weight_levels.len();
    let mut enc = DefaultRangeEncoder::new();
    walk_params(params, |model, s| {
        enc.encode_symbol(s, model.model())
            .expect("symbol in range");
    });
    let words = enc.into_compressed().expect("vec backend is infallible");
    let mut out = Vec::with_capacity(1 + 4 * words.len());
    out.push((k - 1) as u8);
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

/// Parse mixture parameters over an alphabet of `alphabet` symbols.
pub fn decode_params(bytes: &[u8], alphabet: usize) -> Result<MixtureParams, FormatError> {
    let corrupt = || FormatError::Corrupt(Field::Parameters);
    let (&k1, rest) = bytes.split_first().ok_or_else(corrupt)?;
    let k = k1 as usize + 1;
    if k > MAX_COMPONENTS {
        return Err(FormatError::Invalid {
            field: Field::Parameters,
            got: k as u64,
        });
    }
    if rest.len() % 4 != 0 {
        return Err(corrupt());
    }
    let words: Vec<u32> = rest
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let mut dec = DefaultRangeDecoder::from_compressed(words).map_err(|_| corrupt())?;
    let get = |dec: &mut DefaultRangeDecoder, model: &mut Adaptive| -> Result<usize, FormatError> {
        let s = dec.decode_symbol(&model.model()).map_err(|_| corrupt())?;
        model.update(s);
        Ok(s)
    };
    let mut bit_models = [Adaptive::new(2), Adaptive::new(2)];
    let mut prev = 1usize;
    let mut support = Vec::with_capacity(alphabet);
    for _ in 0..alphabet {
        let b = get(&mut dec, &mut bit_models[prev])?;
        support.push(b == 1);
        prev = b;
    }
    let mut weight_model = Adaptive::new(LEVEL_SYMBOLS);
    let mut weight_levels = Vec::with_capacity(k);
    for _ in 0..k {
        let l = get(&mut dec, &mut weight_model)? as u8;
        if l == 0 {
            return Err(corrupt());
        }
        weight_levels.push(l);
    }
    let mut first: Vec<Adaptive> = (0..BUCKETS).map(|_| Adaptive::new(LEVEL_SYMBOLS)).collect();
    let mut delta: Vec<Adaptive> = (0..BUCKETS).map(|_| Adaptive::new(DELTA_SYMBOLS)).collect();
    let mut base = vec![0u8; alphabet];
    let mut prev_level = 0u8;
    for c in 0..alphabet {
        if support[c] {
            let l = get(&mut dec, &mut first[bucket(prev_level)])? as u8;
            if l == 0 {
                return Err(corrupt());
            }
            base[c] = l;
            prev_level = l;
        }
    }
    if !support.iter().any(|&s| s) {
        return Err(corrupt());
    }
    let mut component_levels = vec![base.clone()];
    for _ in 1..k {
        let mut levels = vec![0u8; alphabet];
        for c in 0..alphabet {
            if support[c] {
                let d = get(&mut dec, &mut delta[bucket(base[c])])? as i32;
                let l = d - MAX_LEVEL as i32 + base[c] as i32;
                if !(1..=MAX_LEVEL as i32).contains(&l) {
                    return Err(corrupt());
                }
                levels[c] = l as u8;
            }
        }
        component_levels.push(levels);
    }
    Ok(MixtureParams {
        alphabet,
        weight_levels,
        component_levels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_model_matches_the_table_it_stands_for() {
        use constriction::stream::model::{DecoderModel, EncoderModel};
        let mut a = Adaptive::new(LEVEL_SYMBOLS);
        let mut x = 12345u64;
        for step in 0..3000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Skewed updates, so the largest count moves around and halvings happen.
            let s = ((x >> 33) % 7 + (x >> 40) % 3 * (step % 5)) as usize % LEVEL_SYMBOLS;
            if step % 97 == 0 {
                let counts: Vec<u64> = a.counts.iter().map(|&c| c as u64).collect();
                let table = QuantizedCategorical::from_int_weights_lean(&counts).unwrap();
                for t in 0..LEVEL_SYMBOLS {
                    let (l, p) = table.left_cumulative_and_probability(t).unwrap();
                    assert_eq!(a.interval(t), Some((l, p.get())), "symbol {t}");
                    for q in [l, l + p.get() - 1] {
                        assert_eq!(a.quantile(q), (t, l, p.get()));
                        assert_eq!(table.quantile_function(q).0, t);
                    }
                }
            }
            a.update(s);
        }
    }

    /// The adaptive model's probabilities as first defined: a plain scan for the first
    /// largest count and integer division.
    fn reference_probs(m: &Adaptive) -> Vec<u32> {
        let free = TOTAL as u64 - m.counts.len() as u64;
        let mut best = 0;
        let mut out: Vec<u32> = m
            .counts
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                if c > m.counts[best] {
                    best = i;
                }
                (1 + c as u64 * free / m.total) as u32
            })
            .collect();
        let sum: u64 = out.iter().map(|&q| q as u64).sum();
        out[best] += (TOTAL as u64 - sum) as u32;
        out
    }

    #[test]
    fn adaptive_model_keeps_its_probabilities_through_updates_and_halvings() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for n in [2usize, 3, LEVEL_SYMBOLS, DELTA_SYMBOLS] {
            let mut m = Adaptive::new(n);
            // Enough updates for several halvings, skewed toward a few symbols so that
            // ties appear and the largest count moves.
            for step in 0..20_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let s = if x % 3 == 0 {
                    (x >> 8) as usize % n
                } else {
                    (x >> 8) as usize % 3.min(n)
                };
                if step % 97 == 0 || m.total > Adaptive::LIMIT - 2 * Adaptive::STEP {
                    let want = reference_probs(&m);
                    let mut left = 0;
                    for (i, &p) in want.iter().enumerate() {
                        assert_eq!(m.interval(i), Some((left, p)));
                        assert_eq!(m.quantile(left), (i, left, p));
                        assert_eq!(m.quantile(left + p - 1), (i, left, p));
                        left += p;
                    }
                }
                m.update(s);
            }
        }
    }

    #[test]
    fn floor_times_is_exact_for_every_total() {
        // Every total an adaptive model can reach, for each alphabet size: counts at the
        // ends, counts whose quotient is an exact integer (multiples of total / gcd) and
        // the counts next to them, and a pseudo-random count.
        let gcd = |mut a: u64, mut b: u64| {
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        };
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for n in [2u64, 3, LEVEL_SYMBOLS as u64, DELTA_SYMBOLS as u64] {
            let free = TOTAL as u64 - n;
            for total in n..=Adaptive::LIMIT + Adaptive::STEP {
                let g = ratio(free, total);
                let step = total / gcd(total, free);
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let mut cs = vec![1, 2, total - 1, total, 1 + x % total];
                for c in [step, 2 * step, total / 2 / step * step] {
                    if c >= 2 && c <= total {
                        cs.extend([c - 1, c, (c + 1).min(total)]);
                    }
                }
                for c in cs {
                    assert_eq!(
                        floor_times(c as f64, g) as u64,
                        c * free / total,
                        "{c} * {free} / {total}"
                    );
                }
            }
        }
    }

    #[test]
    fn adaptive_model_matches_its_table_when_coded_symbols_fall_back_to_count_one() {
        // Symbols 3 and 90 are coded once, then symbol 7 some 12,000 times: the halvings
        // bring 3 and 90 back to count 1 while they stay among the coded symbols of the
        // sparse table.
        use constriction::stream::model::{DecoderModel, EncoderModel};
        let mut a = Adaptive::new(DELTA_SYMBOLS);
        a.update(3);
        a.update(90);
        let mut checked_at_one = 0;
        for step in 0..12_000 {
            a.update(if step % 1000 == 999 { 150 } else { 7 });
            if step % 500 != 0 {
                continue;
            }
            if a.counts[3] == 1.0 && a.counts[90] == 1.0 {
                checked_at_one += 1;
            }
            let counts: Vec<u64> = a.counts.iter().map(|&c| c as u64).collect();
            let table = QuantizedCategorical::from_int_weights_lean(&counts).unwrap();
            for t in 0..DELTA_SYMBOLS {
                let (l, p) = table.left_cumulative_and_probability(t).unwrap();
                assert_eq!(a.interval(t), Some((l, p.get())), "step {step}, symbol {t}");
                for q in [l, l + p.get() / 2, l + p.get() - 1] {
                    assert_eq!(a.quantile(q), (t, l, p.get()));
                    assert_eq!(table.quantile_function(q).0, t);
                }
            }
        }
        assert!(
            checked_at_one > 0,
            "no check with coded symbols back at count 1"
        );
    }

    #[test]
    fn level_weights_are_monotone_and_positive() {
        for l in 1..MAX_LEVEL {
            assert!(level_weight(l) > level_weight(l + 1));
        }
        assert!(level_weight(MAX_LEVEL) > 0);
        assert_eq!(level_weight(0), 0);
        assert_eq!(level_of(1.0, 1.0), 1);
        assert_eq!(level_of(0.5, 1.0), 5);
    }

    #[test]
    fn params_roundtrip() {
        let x: Vec<u16> = (0..4000u32)
            .map(|i| ((i * i) % 97 + if i > 2000 { 100 } else { 0 }) as u16)
            .collect();
        let blocks: Vec<&[u16]> = x.chunks(250).collect();
        let opts = MixtureFitOptions {
            fixed_components: Some(3),
            ..Default::default()
        };
        let params = fit_params(&blocks, 256, &opts);
        assert_eq!(params.weight_levels.len(), 3);
        let bytes = encode_params(&params);
        assert_eq!(decode_params(&bytes, 256).unwrap(), params);
    }

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

    /// The dispatching and the portable row sums, compared bit for bit.
    fn same_row_sums<T: RowValue + std::fmt::Debug>(
        entries: &[(u16, u32)],
        rows: &[T],
        k: usize,
        bits: impl Fn(T) -> u64,
    ) {
        let (mut a, mut b) = (vec![T::default(); k], vec![T::default(); k]);
        accumulate_rows(entries, rows, &mut a);
        accumulate_rows_portable(entries, rows, &mut b);
        let (a, b): (Vec<u64>, Vec<u64>) = (
            a.into_iter().map(&bits).collect(),
            b.into_iter().map(&bits).collect(),
        );
        assert_eq!(a, b, "K = {k}");
    }

    #[test]
    fn vector_and_portable_row_sums_agree_bit_for_bit() {
        // The dispatching `accumulate_rows` (AVX2 where the CPU has it) against the
        // portable loops, for every K the encoder tries and one it does not, in f64 (the
        // coding path the decoder recomputes) and f32 (the encoder's E-step).
        let mut r = 0x2545_f491u64;
        let mut next = move || {
            r = r
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (r >> 11) as f64 / (1u64 << 53) as f64
        };
        for k in [1usize, 2, 3, 4, 8, 16, 32, 64] {
            let n = 200;
            let rows: Vec<f64> = (0..n * k).map(|_| -30.0 * next() - 1e-3).collect();
            let rows32: Vec<f32> = rows.iter().map(|&v| v as f32).collect();
            for trial in 0..20 {
                let mut entries: Vec<(u16, u32)> = Vec::new();
                for c in 0..n as u16 {
                    if next() < 0.2 + 0.03 * trial as f64 {
                        entries.push((c, 1 + (next() * 64.0) as u32));
                    }
                }
                same_row_sums(&entries, &rows, k, f64::to_bits);
                same_row_sums(&entries, &rows32, k, |v| v.to_bits() as u64);
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
