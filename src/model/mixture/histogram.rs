//! Sparse per-block symbol histograms, and the row sums that turn them into the
//! log-likelihoods of every component at once (AVX2 where the CPU has it, the same
//! lanes bit for bit).

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
pub(super) trait RowValue:
    Copy + Default + std::ops::Mul<Output = Self> + std::ops::AddAssign
{
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
pub(super) fn accumulate_rows<T: RowValue>(entries: &[(u16, u32)], rows: &[T], out: &mut [T]) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
