//! The mixer and the APM (adaptive probability map) stages, in integers.

use super::logistic::{squash, squash_interpolated, stretch};

/// A gated linear mixer in the logistic domain: `p = squash(sum_i w_i st_i)`, with the
/// weight set chosen by a small context, trained online to reduce coding cost (its
/// gradient is `(bit - p) st_i`).
///
/// Weights are 16.16 fixed point; inputs are logits (`stretch`, 8 fractional bits).
#[derive(Clone, Debug)]
pub struct Mixer {
    n: usize,
    weights: Vec<i32>,
    /// Bits each weight set has learned (saturating where its rate stops falling).
    counts: Vec<u16>,
}

/// The learning rate as a right shift of `st * err` (with `err` in 12-bit units).
const LEARNING_SHIFT: u32 = 11;

/// The learning rate of a weight set that has learned `n` bits is `(RATE_FLOOR +
/// RATE_BOOST * RATE_HALF / (RATE_HALF + n)) / 16` times `2^-LEARNING_SHIFT`: four
/// times the base rate for a fresh set, falling to half of it, so that rarely chosen
/// sets learn fast and well-trained ones settle.
const RATE_FLOOR: u32 = 8;
const RATE_BOOST: u32 = 56;
const RATE_HALF: u32 = 64;

/// Counts with a rate of their own: from `RATE_COUNTS - 1` on (and well before) the
/// rate is `RATE_FLOOR / 16`.
const RATE_COUNTS: usize = 4096;

/// The rate of each count, in sixteenths.
const RATES: [u8; RATE_COUNTS] = {
    let mut t = [0u8; RATE_COUNTS];
    let mut n = 0;
    while n < RATE_COUNTS {
        t[n] = (RATE_FLOOR + RATE_BOOST * RATE_HALF / (RATE_HALF + n as u32)) as u8;
        n += 1;
    }
    t
};

impl Mixer {
    /// A mixer of `n` inputs with `sets` weight sets.
    pub fn new(n: usize, sets: usize) -> Self {
        Self::with_start(n, sets, n)
    }

    /// A mixer of `n` inputs with `sets` weight sets whose weights start at `2 / m`
    /// (16.16): near an average of `m` inputs, a little sharpened.
    pub fn with_start(n: usize, sets: usize, m: usize) -> Self {
        let w0 = (2 << 16) / m.max(1) as i32;
        Self {
            n,
            weights: vec![w0; n * sets.max(1)],
            counts: vec![0; sets.max(1)],
        }
    }

    /// The mixed probability (12-bit) of inputs `st` with weight set `set`.
    /// `st` holds as many inputs as the mixer has.
    #[inline(always)]
    pub fn mix(&self, st: &[i32], set: usize) -> u32 {
        debug_assert_eq!(st.len(), self.n);
        // Sliced by `st`'s length, which the builds of a fixed shape know.
        let w = &self.weights[set * self.n..][..st.len()];
        let mut dot: i64 = 0;
        for (a, b) in w.iter().zip(st) {
            dot += *a as i64 * *b as i64;
        }
        squash((dot >> 16) as i32).clamp(1, 4095)
    }

    /// Learn from the coded bit: the inputs and output of the last `mix` of `set`.
    #[inline(always)]
    pub fn learn(&mut self, st: &[i32], p: u32, bit: u32, set: usize) {
        debug_assert_eq!(st.len(), self.n);
        let c = self.counts[set];
        self.counts[set] = (c + 1).min(RATE_COUNTS as u16 - 1);
        let err = (((bit as i32) << 12) - p as i32) * RATES[c as usize] as i32 / 16;
        let w = &mut self.weights[set * self.n..][..st.len()];
        for (a, b) in w.iter_mut().zip(st) {
            *a += (b * err) >> LEARNING_SHIFT;
        }
    }
}

/// An APM: for each context, 33 probabilities over the input's logit (every 128),
/// interpolated; it learns how far to trust and how to correct its input there.
#[derive(Clone, Debug)]
pub struct Apm {
    /// 16-bit probabilities, `33` per context, each stored XOR the identity's value at
    /// its position ([`IDENTITY`]): a fresh table is zeroed memory, which the system
    /// maps lazily, so the contexts an input never meets cost nothing.
    t: Vec<u16>,
    /// The bucket the last refinement leaned on most, and its position in its row.
    last: usize,
    last_column: usize,
}

/// The APM's adaptation rate as a right shift.
const APM_SHIFT: u32 = 7;

/// The identity row: `squash` at each of the 33 logits, as 16-bit probabilities.
const IDENTITY: [u16; 33] = {
    let mut row = [0u16; 33];
    let mut i = 0;
    while i < 33 {
        row[i] = (squash_interpolated((i as i32 - 16) * 128) * 16) as u16;
        i += 1;
    }
    row
};

impl Apm {
    /// An APM over `contexts` contexts, starting as the identity.
    pub fn new(contexts: usize) -> Self {
        let t = vec![0; 33 * contexts];
        super::advise_huge_pages(&t);
        Self {
            t,
            last: 0,
            last_column: 0,
        }
    }

    /// The refined probability (12-bit) of `p` in context `cx`.
    #[inline]
    pub fn refine(&mut self, p: u32, cx: usize) -> u32 {
        let s = stretch(p) + 2048;
        let (lo, w) = ((s >> 7) as usize, (s & 127) as u32);
        let i = cx * 33 + lo;
        let near = (w >= 64) as usize;
        (self.last, self.last_column) = (i + near, lo + near);
        let (a, b) = (IDENTITY[lo], IDENTITY[(lo + 1).min(32)]);
        let v = ((self.t[i] ^ a) as u32 * (128 - w) + (self.t[i + 1] ^ b) as u32 * w) >> 11;
        v.clamp(1, 4095)
    }

    /// Ask for context `cx`'s row ahead of [`Apm::refine`] (a cache hint only).
    #[inline]
    pub fn prefetch(&self, cx: usize) {
        super::prefetch(&self.t, cx * 33);
        super::prefetch(&self.t, cx * 33 + 32);
    }

    /// Learn the coded bit at the bucket of the last refinement.
    #[inline]
    pub fn learn(&mut self, bit: u32) {
        let (i, identity) = (self.last, IDENTITY[self.last_column]);
        let v = (self.t[i] ^ identity) as i32;
        let target = if bit == 1 { 65535i32 } else { 0 };
        self.t[i] = (v + ((target - v) >> APM_SHIFT)) as u16 ^ identity;
    }
}
