//! The stored parameters: log-levels coded with adaptive models on a range coder, and
//! their exact cost (what the choice of K weighs).

use constriction::stream::queue::{DefaultRangeDecoder, DefaultRangeEncoder};
use constriction::stream::{Decode, Encode};

use super::{MixtureParams, MAX_COMPONENTS, MAX_LEVEL};
use crate::categorical::{AnsModel, SymbolModel, PRECISION, TOTAL};
use crate::error::{Field, FormatError};
use crate::math;

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
pub(super) fn params_cost_bits(params: &MixtureParams) -> f64 {
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
    use crate::categorical::QuantizedCategorical;
    use crate::model::mixture::{fit_params, MixtureFitOptions};

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
}
