//! A bitwise context-mixing predictor for byte streams: the likelihood of the default
//! file model, `--model cm` ([`CmConfig`]; its block latent is in [`latent`]).
//!
//! Bytes are predicted bit by bit, most significant first. For each bit, every context
//! (orders 1-4, 6, 8 and 12 of the preceding bytes, a word context, the word with the
//! one before it, with the one two before it, and with both, two sparse contexts, three
//! record contexts for tables of fixed-length rows and for the lines of text, order 0)
//! looks up an adaptive probability for its hash and the byte's bits so far (the mixer
//! sees it directly and through an adaptive map of its hit count, its probability and,
//! at levels 6 to 9, the context's run: the byte that followed it last and how many
//! times in a row, of which the longest run and the highest order's are inputs too),
//! and a match model
//! predicts the bit that followed the last occurrence of the recent bytes; two gated
//! mixers combine their logits (weights chosen by the partial byte and the match
//! length, and by the last byte with how many low orders are well seen), their outputs are averaged in the logistic domain,
//! and three APM stages (by the partial byte with the match's prediction, with the
//! last byte, and, fed by both before, with a hash of the last two) refine the mix.
//! In the entropy-coded data of a baseline JPEG image, the hashed contexts' tables
//! serve the contexts of the JPEG model (`jpeg.rs`) instead, which follows the Huffman
//! decoding bit by bit, and the mixers' weight sets and the last APM follow its state.
//! Everything is integer arithmetic, so every build computes the same
//! probabilities (DESIGN section 2): probabilities are 12-bit (`1..=4095` of 4096),
//! logits are the fixed-point `stretch` of them (`-2047..=2047`, 8 fractional bits).
//!
//! The design follows the public descriptions of lpaq1 and ZPAQ; no code of theirs is
//! used.
//!
//! Ideal code lengths today with the default level's tables (`BB_FILES="..." cargo
//! test --release --lib cm::measure::files -- --ignored --nocapture`), bits per byte:
//! alice29.txt 1.913, lcet10.txt 1.630, kppkn.gtb 1.068, geo.protodata 0.675, urls.10K
//! 1.442, fireworks.jpeg 6.394, mixed-1MiB 1.981 (level 5, without the runs and the two
//! word contexts: 1.927, 1.646, 1.093, 0.685, 1.475, 6.394, 2.005; zpaq -m5: 1.979,
//! 1.688, 1.250, 0.822, 1.541, 7.957, 2.238).
//! `cm::measure::corpus_bits_per_byte` also codes the bits on the history chain
//! without a latent and prints the words' size, within 0.03% of the ideal.

mod config;
mod jpeg;
pub mod latent;
mod logistic;
mod mixer;

pub use config::{CmConfig, CM_REVISION};
pub use jpeg::JPEG_CONTEXTS;
pub use logistic::{squash, stretch};
pub use mixer::{Apm, Mixer};

use std::convert::Infallible;

/// Bits of a probability: `p` in `1..=4095` stands for `p / 4096`.
pub const PROB_BITS: u32 = 12;

/// An adaptive bit probability with a hit count: `p` (22 bits, of `2^22`) moves toward
/// each observed bit by `1 / (n + 1.5)`, with `n` capped at [`COUNT_LIMIT`], so it starts
/// as a frequency count and ends as an exponential average.
///
/// Invariant: `p XOR 2^21 < 2^22` in the high 22 bits of the word (so that the word 0 is
/// `p = 1/2, n = 0`, and a table of fresh slots is zeroed memory, which the system hands
/// out without writing it), `n <= COUNT_LIMIT` in the low 10 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot(u32);

/// Largest hit count of a context slot of orders 3 and above (its adaptation rate
/// floor is `1 / (COUNT_LIMIT + 1.5)`): their statistics change as the text does.
pub const COUNT_LIMIT: u32 = 30;

/// Largest hit count of the slots of orders 1 and 2, the word, sparse and bigram
/// contexts, whose statistics are closer to stationary.
pub const STABLE_COUNT_LIMIT: u32 = 127;

/// The hit-count cap of hashed context `k` (an index into the full context list).
const fn count_limit(k: usize) -> u32 {
    if k < 2 || k >= ORDERS.len() {
        STABLE_COUNT_LIMIT
    } else {
        COUNT_LIMIT
    }
}

/// `2^16 / (n + 1.5)` for every count: the update step as a fixed-point reciprocal.
const fn reciprocals() -> [u32; 1024] {
    let mut t = [0u32; 1024];
    let mut n = 0;
    while n < 1024 {
        // 2^17 / (2n + 3), rounded down.
        t[n] = (1 << 17) / (2 * n as u32 + 3);
        n += 1;
    }
    t
}
const RECIPROCAL: [u32; 1024] = reciprocals();

impl Slot {
    const HALF: Slot = Slot(0);

    /// Its hit count `n`.
    #[inline]
    fn count(self) -> u32 {
        self.0 & 1023
    }

    /// The probability of a 1, 12-bit.
    #[inline]
    #[cfg(test)]
    fn p12(self) -> u32 {
        ((self.0 ^ (1 << 31)) >> 20).clamp(1, 4095)
    }

    /// `stretch` of [`Slot::p12`]: the top 12 bits index the table directly, since
    /// `stretch` is the same at 0 as at 1 (the clamp's only effect).
    #[inline]
    fn logit(self) -> i32 {
        const _: () = assert!(logistic::STRETCH[0] == logistic::STRETCH[1]);
        logistic::STRETCH[((self.0 ^ (1 << 31)) >> 20) as usize] as i32
    }

    #[inline]
    fn update(&mut self, bit: u32) {
        self.update_to(bit, COUNT_LIMIT)
    }

    /// [`Slot::update`] with the hit count capped at `limit` (at most 1023).
    #[inline]
    fn update_to(&mut self, bit: u32, limit: u32) {
        let n = self.0 & 1023;
        let p = ((self.0 ^ (1 << 31)) >> 10) as i32;
        let target = if bit == 1 { (1i32 << 22) - 1 } else { 0 };
        let p = p + (((target - p) as i64 * RECIPROCAL[n as usize] as i64) >> 16) as i32;
        self.0 = ((p as u32) << 10 ^ (1 << 31)) | (n + 1).min(limit);
    }
}

/// Ask the processor to bring `table[i]` into the cache: a hint with no effect on any
/// value, so the predictions are the same with or without it.
#[inline]
pub(crate) fn prefetch<T>(table: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(v) = table.get(i) {
        // SAFETY: `_mm_prefetch` only hints the cache; it reads nothing observable and
        // cannot fault, and the pointer is to a live element of `table`. SSE is part of
        // every x86_64 target.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                v as *const T as *const i8,
            )
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (table, i);
}

/// [`prefetch`] both places of the bucket at `base` (a hint only).
#[inline]
fn prefetch_pair(table: &[u32], base: usize) {
    prefetch(table, base);
    prefetch(table, base ^ 16);
}

/// Slot `i` of the context tables, `i` from `bases[k] | index` with `index < 16`:
/// inside them, since every base is a bucket's first slot, which
/// [`Predictor::bucket_of`] keeps 16 slots from the end of its context's table. (The
/// per-bit path reads and writes a slot of every context per bit; unchecked, it runs
/// in 2.5% fewer instructions at level 1 and 5% at level 6.)
#[inline(always)]
fn slot_mut(tables: &mut [u32], i: usize) -> &mut u32 {
    debug_assert!(i < tables.len());
    // SAFETY: `i < tables.len()`, as above (and checked in debug builds).
    unsafe { tables.get_unchecked_mut(i) }
}

/// A zeroed table of `n` words for random access: on Linux, the system is asked to back
/// it with huge pages, so that a lookup costs a cache miss but rarely a page-table walk
/// too. A hint only: the contents are the same either way.
fn large_table(n: usize) -> Vec<u32> {
    let v = vec![0u32; n];
    advise_huge_pages(&v);
    v
}

/// Ask the system to back `v` with huge pages where it can (a hint only, see
/// [`large_table`]).
pub(crate) fn advise_huge_pages<T>(v: &[T]) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = v.as_ptr() as usize;
        let end = start + std::mem::size_of_val(v);
        let (a, b) = (start.next_multiple_of(HUGE), end / HUGE * HUGE);
        if b > a {
            // SAFETY: `[a, b)` lies inside `v`'s allocation, which lives until `v` is
            // dropped; MADV_HUGEPAGE changes how the pages are backed, never their
            // contents, and a failure (e.g. no transparent huge pages) is harmless.
            unsafe {
                libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_HUGEPAGE);
            }
        }
    }
}

/// The word contexts: the hash of the current run of letters (lowercased; 0 outside a
/// word), of the last complete word and of the one before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Words {
    cur: u32,
    prev: u32,
    prev2: u32,
}

/// The word contexts after `byte`.
#[inline]
fn next_word(w: Words, byte: u8) -> Words {
    if byte.is_ascii_alphabetic() {
        Words {
            cur: (w.cur ^ byte.to_ascii_lowercase() as u32).wrapping_mul(0x0100_0193),
            ..w
        }
    } else if w.cur != 0 {
        Words {
            cur: 0,
            prev: w.cur,
            prev2: w.prev,
        }
    } else {
        w
    }
}

/// The start of an order's hash: it depends on the order.
#[inline]
fn order_seed(order: usize) -> u32 {
    0x811c_9dc5 ^ (order as u32).wrapping_mul(0x9E37_79B1)
}

/// One step of an FNV-style hash: `x` takes in `v`.
#[inline]
fn hash_step(x: u32, v: u32) -> u32 {
    (x ^ v).wrapping_mul(0x0100_0193)
}

/// The hash of hashed context `k` (an index into the full list) for the byte after
/// `history`, with the word contexts `words` and the record contexts' geometry `g`.
fn context_hash(k: usize, history: &[u8], words: Words, g: Geometry) -> u32 {
    let (word, prev_word) = (words.cur, words.prev);
    let n = history.len();
    // The byte `d` back (1: the newest), 0 before the start.
    let at = |d: usize| -> u32 {
        if d >= 1 && d <= n {
            history[n - d] as u32
        } else {
            0
        }
    };
    const WORD: usize = ORDERS.len();
    const SPARSE_0: usize = WORD + 1;
    const BIGRAM: usize = SPARSE_0 + SPARSE.len();
    const RECORD_0: usize = BIGRAM + 1;
    match k {
        SKIP => (word ^ words.prev2.rotate_left(11)).wrapping_mul(0x2545_F491) ^ 0x9e37_79b9,
        TRIGRAM => {
            (word ^ prev_word.rotate_left(16) ^ words.prev2.rotate_left(5))
                .wrapping_mul(0x6C8E_9CF5)
                ^ 0x7f4a_7c15
        }
        0..WORD => {
            // FNV-style hash of the last `order` bytes, oldest first, and the order.
            let order = ORDERS[k];
            history[n - order.min(n)..]
                .iter()
                .fold(order_seed(order), |x, &b| hash_step(x, b as u32))
        }
        WORD => word.wrapping_mul(0x2F0B_3A49) ^ 0x5bd1_e995,
        SPARSE_0..BIGRAM => {
            let j = k - SPARSE_0;
            let mut x: u32 = 0x3c6e_f372 ^ (j as u32 + 1).wrapping_mul(0x85EB_CA6B);
            for &d in SPARSE[j] {
                x = (x ^ at(d)).wrapping_mul(0x0100_0193);
            }
            x
        }
        BIGRAM => (word ^ prev_word.rotate_left(16)).wrapping_mul(0x27D4_EB2F) ^ 0x1656_67b1,
        _ => {
            // The record contexts: the byte a record above with the last byte, with
            // the byte two records above, and with the column.
            let r = g.above as usize;
            let j = (k - RECORD_0) as u32;
            let (a, c) = match j {
                0 => (at(r), at(1)),
                1 => (at(r), at(2 * r)),
                _ => (at(r), g.column.min(1023) << 8),
            };
            let x = (0x7F4A_7C15u32
                ^ (j + 1).wrapping_mul(0x9E37_79B1)
                ^ g.kind.key(g.above).wrapping_mul(0xC2B2_AE35))
            .wrapping_mul(0x0100_0193);
            ((x ^ a).wrapping_mul(0x0100_0193) ^ c).wrapping_mul(0x0100_0193)
        }
    }
}

/// Largest hit count of the JPEG model's slots.
const JPEG_COUNT_LIMIT: u32 = 255;

/// Context orders of the predictor (bytes of history), besides order 0 and the word.
pub const ORDERS: [usize; 7] = [1, 2, 3, 4, 6, 8, 12];

/// Sparse contexts (for tables and records): the bytes at these distances back (1 is
/// the last byte), skipping the ones between.
pub const SPARSE: [&[usize]; 2] = [&[2, 3], &[2, 4]];

/// Hashed contexts: the orders, the word, the sparse ones, the word with the word
/// before it, the record contexts, and the word with the one two before it and with
/// both.
pub const CONTEXTS: usize = RECORD_FIRST + RECORD_CONTEXTS + 2;

/// The first record context.
const RECORD_FIRST: usize = ORDERS.len() + 1 + SPARSE.len() + 1;

/// The word with the word two before it (from revision 5).
const SKIP: usize = RECORD_FIRST + RECORD_CONTEXTS;

/// The word with the two before it (from revision 5).
const TRIGRAM: usize = SKIP + 1;

/// Record contexts (for tables of fixed-length rows, the row length detected as the
/// byte stream goes; until one is, for lines of text, the byte above being the one in
/// the same column of the previous line): above and left, above and two above, above
/// and the column.
pub const RECORD_CONTEXTS: usize = 3;

/// Inputs to the mixer: order 0, the hashed contexts, the match model, a bias, each
/// hashed context's slot as an adaptive map of its hit count and probability sees it,
/// and the two runs' (the longest and the highest order's).
pub const INPUTS: usize = 1 + 2 * CONTEXTS + 2 + 2;

/// An indirect view of one context's slots: an adaptive probability for each (hit
/// count bucket, probability bucket) of the slot read, i.e. what a slot like this one
/// has turned out to predict. A slot seen once at 0.8 may be worth 0.95 in text (where
/// such contexts are nearly deterministic) and 0.6 in noise; the mixer sees both.
#[derive(Clone, Debug)]
struct SlotWorth {
    /// 16-bit probabilities, [`WORTH_COUNTS`] rows of 64 logit buckets.
    t: Vec<u16>,
    /// The entry read for the current bit.
    at: usize,
}

/// Hit-count buckets of [`SlotWorth`]: 0, 1, 2, 3, 4-5, 6-9, 10-19, 20 and more.
const WORTH_COUNTS: usize = 8;

/// The [`SlotWorth`] row of each hit count up to 20 (the rest share the last row): a
/// lookup, not a chain of branches the counts would make unpredictable.
const WORTH_ROW: [u8; 21] = {
    let mut t = [0u8; 21];
    let mut n = 0;
    while n < 21 {
        t[n] = match n {
            0..=3 => n as u8,
            4..=5 => 4,
            6..=9 => 5,
            10..=19 => 6,
            _ => 7,
        };
        n += 1;
    }
    t
};

/// [`SlotWorth`]'s adaptation rate as a right shift.
const WORTH_SHIFT: u32 = 7;

impl SlotWorth {
    /// Every entry starts at the probability at its bucket's centre.
    fn new() -> Self {
        Self::with_states(1)
    }

    /// A map with rows for each of `states` run states.
    fn with_states(states: usize) -> Self {
        let row: Vec<u16> = (0..64)
            .map(|j| (squash(j * 64 - 2048 + 32) * 16) as u16)
            .collect();
        Self {
            t: row.repeat(WORTH_COUNTS * states),
            at: 0,
        }
    }

    /// The input (a logit) for a slot of hit count `n` and logit `a`.
    #[inline]
    fn input(&mut self, n: u32, a: i32) -> i32 {
        self.input_in(0, n, a)
    }

    /// [`SlotWorth::input`] in the rows of run state `state` (of [`SlotWorth::with_states`]).
    #[inline]
    fn input_in(&mut self, state: usize, n: u32, a: i32) -> i32 {
        let row = state * WORTH_COUNTS + WORTH_ROW[n.min(20) as usize] as usize;
        self.at = row * 64 + ((a + 2048) >> 6) as usize;
        stretch((self.t[self.at] as u32 >> 4).clamp(1, 4095))
    }

    /// Learn the coded bit at the entry last read.
    #[inline]
    fn learn(&mut self, bit: u32) {
        let v = self.t[self.at] as i32;
        let target = if bit == 1 { 65535 } else { 0 };
        self.t[self.at] = (v + ((target - v) >> WORTH_SHIFT)) as u16;
    }
}

/// What a predictor mixes: which of the [`CONTEXTS`] hashed contexts (by index: the
/// orders, the word, the sparse ones, the word bigram, the record contexts), whether a second mixer (weight
/// sets by the last byte and how many low orders are well seen) is averaged in, and whether the last APM (by the last two
/// bytes) refines the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Indices of the hashed contexts used, increasing.
    pub contexts: &'static [usize],
    /// Average a second mixer in.
    pub mixer2: bool,
    /// Refine the mixers' output with the APM over the partial byte and the match.
    pub apm0: bool,
    /// Refine with the APM over the last byte and the partial byte (its table is 4.3 MB
    /// of cache misses: the fastest level goes without it).
    pub apm1: bool,
    /// Refine with the APM over the last two bytes (with `apm1` only).
    pub apm2: bool,
    /// Give the mixer each context's slot also as an adaptive map of its hit count and
    /// probability sees it.
    pub worth: bool,
    /// In the entropy-coded data of baseline JPEG images, give the contexts' tables to
    /// the JPEG model's contexts (as many as there are tables, at most
    /// [`JPEG_CONTEXTS`]).
    pub jpeg: bool,
    /// In a JPEG scan, the JPEG contexts' buckets lie in the first `2^jpeg_bits` slots
    /// of their tables (0: anywhere in them). A level whose tables outgrow the cache
    /// trades a little of an image's size for look-ups that stay in it: those of the
    /// symbol starts wait on the symbol just read, so no hint can ask for them early.
    pub jpeg_bits: u8,
    /// Follow the run of each of the first `runs` byte contexts (from revision 5): the
    /// byte that last followed the context and how many times in a row. A run's state
    /// selects the rows of its context's slot map, and the longest run and the highest
    /// order's are mixer inputs.
    pub runs: u8,
    /// Order 1's table has at most `2^order1_bits` slots (0: as many as the others'):
    /// its 256 contexts fill at most 4,352 buckets of 16 slots. (Order 1 then comes
    /// after the JPEG model's contexts in the list, so that theirs stay full size.)
    pub order1_bits: u8,
}

/// Every context, both mixers, every APM, the runs (from revision 5), order 1 last
/// with a table of `2^17` slots (512 KiB instead of 8 MiB at the default level). The
/// second mixer's weight sets by how many of the first seven contexts are well seen
/// then count orders 2 to 12 and the word; with both, mixed-1MiB measured 1.9812 bits
/// per byte in ideal code length against 1.9819 with order 1 first and full size.
pub const FULL: Spec = Spec {
    contexts: &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0],
    mixer2: true,
    apm0: true,
    apm1: true,
    apm2: true,
    worth: true,
    jpeg: true,
    jpeg_bits: 0,
    runs: 16,
    order1_bits: 17,
};

/// The fast level's (from revision 4): orders 2 and 3, the word and the record
/// context of the byte above with the last one (the match model covers the long
/// contexts); one mixer and no APM (the first would cost 12-15% of its instructions
/// for 0.1-0.3% of the size, the one over the last byte a quarter of its time in cache
/// misses for 0.015 bits per byte). In a JPEG scan its four JPEG contexts keep to 2^16
/// slots each, 1 MiB in all: fireworks.jpeg 2.2% larger, its look-ups in the
/// processor's second-level cache.
pub const LEAN: Spec = Spec {
    contexts: &[1, 2, 7, 11],
    mixer2: false,
    apm0: false,
    apm1: false,
    apm2: false,
    worth: false,
    jpeg: true,
    jpeg_bits: 16,
    runs: 0,
    order1_bits: 0,
};

/// Level 2's: orders 1-4 and 6, the word and the first sparse context, with the slot
/// maps and the APMs.
pub const SPARSE_SPEC: Spec = Spec {
    contexts: &[0, 1, 2, 3, 4, 7, 8],
    mixer2: false,
    apm0: true,
    apm1: true,
    apm2: true,
    worth: true,
    jpeg: true,
    jpeg_bits: 0,
    runs: 0,
    order1_bits: 0,
};

/// Level 3's: [`SPARSE_SPEC`] and order 8, the second sparse context, the word bigram,
/// the record column and the second mixer.
pub const RECORD_SPEC: Spec = Spec {
    contexts: &[0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 13],
    mixer2: true,
    apm0: true,
    apm1: true,
    apm2: true,
    worth: true,
    jpeg: true,
    jpeg_bits: 0,
    runs: 0,
    order1_bits: 0,
};

/// The specs whose per-bit path has a build of its own (from index 1), where the
/// number of contexts and the stages are constants (index 0 stands for the build that
/// reads them from the predictor's spec; the last is levels 4 and 5's, which all of
/// levels 4 to 9 mixed before revision 5). Every build computes the same integers.
const SHAPES: [Spec; 6] = [
    FULL,
    LEAN,
    SPARSE_SPEC,
    RECORD_SPEC,
    FULL,
    config::FULL_REVISION_4,
];

/// Bytes the match model hashes to find an earlier occurrence of the recent history.
pub const MATCH_MIN: usize = 5;

/// Bits of a window's hash kept beside its position in the match table: a position
/// of a chunk (at most [`crate::container::MAX_CHUNK_SIZE`] = `2^26`) takes 27 bits.
const MATCH_CHECK_BITS: u32 = 5;

/// The check's bits of an entry (its lowest), and of a window's hash.
const MATCH_CHECK_MASK: u32 = (1 << MATCH_CHECK_BITS) - 1;

const _: () = assert!((crate::container::MAX_CHUNK_SIZE as u64) < 1 << (32 - MATCH_CHECK_BITS));

/// Longest match the model tracks (its length buckets saturate at 16).
const MATCH_MAX: u32 = 65_535;

/// The match model: the most recent earlier occurrence of the last [`MATCH_MIN`] bytes,
/// followed while it keeps agreeing; it predicts that the next bit is the one that came
/// next there, with a confidence learned per match length.
#[derive(Clone, Debug)]
struct MatchModel {
    /// Position after the last occurrence of each hashed `MATCH_MIN`-byte window, over
    /// [`MATCH_CHECK_BITS`] bits of the window's hash.
    table: Vec<u32>,
    /// Position in the history of the byte the match predicts (valid when `len > 0`).
    ptr: usize,
    /// Length of the current match in bytes (0: none).
    len: u32,
    /// `P(bit == predicted)` by length bucket.
    hits: [Slot; 16],
    /// The predicted bit for the current bit, if the match still agrees with it.
    expected: Option<u32>,
}

impl MatchModel {
    fn new(bits: u32) -> Self {
        Self {
            table: vec![0; 1 << bits],
            ptr: 0,
            len: 0,
            hits: [Slot::HALF; 16],
            expected: None,
        }
    }

    fn bucket(&self) -> usize {
        (self.len.min(16) as usize).saturating_sub(1)
    }

    /// The hash of a window of bytes, oldest first, as far as it goes.
    #[inline]
    fn window_hash(window: &[u8]) -> u32 {
        window.iter().fold(0, |h, &b| Self::hash_step(h, b))
    }

    #[inline]
    fn hash_step(h: u32, b: u8) -> u32 {
        (h ^ b as u32).wrapping_mul(0x2F0B_3A49).rotate_left(5)
    }

    /// The table slot of a window's hash.
    #[inline]
    fn slot(&self, h: u32) -> usize {
        (h >> (32 - self.table.len().trailing_zeros())) as usize
    }

    /// With `left` bits of a byte to come (the partial byte `c0` with its leading 1,
    /// after `history`): ask for the slots the byte may read, whichever it is (a cache
    /// hint only).
    fn prefetch_next(&self, history: &[u8], c0: u32, left: u32) {
        let n = history.len();
        if n + 1 < MATCH_MIN {
            return;
        }
        let h = Self::window_hash(&history[n + 1 - MATCH_MIN..]);
        for b in 0..1 << left {
            let byte = ((c0 << left | b) & 0xFF) as u8;
            prefetch(&self.table, self.slot(Self::hash_step(h, byte)));
        }
    }

    /// After a byte: extend the match, or look for a new one.
    fn byte(&mut self, history: &[u8]) {
        let n = history.len();
        if self.len > 0 && self.ptr < n && history[self.ptr] == history[n - 1] {
            self.len = (self.len + 1).min(MATCH_MAX);
            self.ptr += 1;
        } else {
            self.len = 0;
        }
        if n < MATCH_MIN {
            return;
        }
        let h = Self::window_hash(&history[n - MATCH_MIN..]);
        let (slot, check) = (self.slot(h), h & MATCH_CHECK_MASK);
        if self.len == 0 && self.table[slot] & MATCH_CHECK_MASK == check {
            // A window with another check is another window: no match there (and no
            // cache miss to read its history).
            let cand = (self.table[slot] >> MATCH_CHECK_BITS) as usize;
            if cand > 0 && cand < n {
                let mut l = 0;
                while l < 32 && l < cand && history[cand - 1 - l] == history[n - 1 - l] {
                    l += 1;
                }
                if l >= MATCH_MIN {
                    self.len = l as u32;
                    self.ptr = cand;
                }
            }
        }
        self.table[slot] = (n as u32) << MATCH_CHECK_BITS | check;
    }

    /// The input for the bit after the partial byte `c0` (with `bits` bits known).
    fn input(&mut self, history: &[u8], c0: u32, bits: u32) -> i32 {
        self.expected = None;
        if self.len == 0 || self.ptr >= history.len() {
            return 0;
        }
        let predicted = history[self.ptr] as u32 | 0x100;
        // The match holds only while the byte so far agrees with it.
        if predicted >> (8 - bits) != c0 {
            self.len = 0;
            return 0;
        }
        let bit = (predicted >> (7 - bits)) & 1;
        self.expected = Some(bit);
        let st = self.hits[self.bucket()].logit();
        if bit == 1 {
            st
        } else {
            -st
        }
    }

    fn update(&mut self, bit: u32) {
        if let Some(e) = self.expected {
            let b = self.bucket();
            self.hits[b].update((bit == e) as u32);
        }
    }
}

/// Detects a record length: the distance at which byte values keep recurring. A byte
/// that comes back at the same distance three times in a row votes for that distance;
/// a distance that wins enough votes in a row becomes the record length.
#[derive(Clone, Debug)]
struct RecordModel {
    /// Position (1-based, after the byte) of each byte value's last occurrence.
    last: [u32; 256],
    /// The last two distances between occurrences of each byte value.
    dist: [[u32; 2]; 256],
    /// The distance being voted on, and its votes.
    candidate: u32,
    votes: u32,
    /// The record length in use (0: none yet).
    len: u32,
    /// Position after the last newline, and after the one before (0: the start).
    line: Option<u32>,
    prev_line: u32,
}

/// Shortest and longest record length detected.
const RECORD_MIN: u32 = 8;
const RECORD_MAX: u32 = 4096;

/// What the record contexts take for rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rows {
    /// Nothing yet (no record length, no newline).
    None,
    /// Records of a detected length.
    Records,
    /// Lines of text.
    Lines,
}

impl Rows {
    /// What the record contexts' hashes are keyed by: records of one length share
    /// statistics, and lines all do.
    fn key(self, above: u32) -> u32 {
        match self {
            Rows::None => 0,
            Rows::Records => above,
            Rows::Lines => 2u32.wrapping_neg(),
        }
    }
}

/// Where the byte "above" the next one is, for the record contexts: a record length's
/// distance back in a table, or the previous line's length in text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Geometry {
    /// What the rows are.
    kind: Rows,
    /// Distance back to the byte above (0: none).
    above: u32,
    /// The next byte's column.
    column: u32,
}

impl Geometry {
    /// No rows.
    const NONE: Self = Self {
        kind: Rows::None,
        above: 0,
        column: 0,
    };
}

impl RecordModel {
    fn new() -> Self {
        Self {
            last: [0; 256],
            dist: [[0; 2]; 256],
            candidate: 0,
            votes: 0,
            len: 0,
            line: None,
            prev_line: 0,
        }
    }

    /// The geometry of the byte after `n` bytes.
    fn geometry(&self, n: u32) -> Geometry {
        match (self.len, self.line) {
            (0, None) => Geometry::NONE,
            (0, Some(start)) => Geometry {
                kind: Rows::Lines,
                above: start - self.prev_line,
                column: n - start,
            },
            (r, _) => Geometry {
                kind: Rows::Records,
                above: r,
                column: n % r,
            },
        }
    }

    /// After `byte`, now at position `n` (1-based).
    fn byte(&mut self, byte: u8, n: u32) {
        let c = byte as usize;
        if self.last[c] > 0 {
            let d = n - self.last[c];
            let [d1, d2] = self.dist[c];
            if d == d1 && d == d2 && (RECORD_MIN..=RECORD_MAX).contains(&d) {
                if d == self.candidate {
                    self.votes = (self.votes + 1).min(64);
                    if self.votes >= 16 {
                        self.len = d;
                    }
                } else if self.votes > 0 {
                    self.votes -= 1;
                } else {
                    self.candidate = d;
                    self.votes = 1;
                }
            }
            self.dist[c] = [d, d1];
        }
        self.last[c] = n;
        if byte == b'\n' {
            self.prev_line = self.line.unwrap_or(0);
            self.line = Some(n);
        }
    }
}

/// The byte contexts' runs (from revision 5): for each context, the byte that followed
/// it last and how many times in a row, kept beside the check in slot 0 of the
/// context's bucket for a byte's first nibble (bits 9-16 the byte, 17-26 the count).
/// While the byte so far agrees with a run's, the run predicts the next bit: a context
/// that has only ever seen one byte is near deterministic, which its slots, each
/// learning one bit at its own pace, say less sharply. Each context's run state (none,
/// or the bit it predicts with its length in four buckets) selects the rows of the
/// context's slot map, and two inputs give the mixers the longest run and the run of
/// the highest order that has one, with a confidence learned per context, run length,
/// predicted bit and bit position.
#[derive(Clone, Debug)]
struct Runs {
    /// Per context with runs: slot 0 of its bucket for the current byte's first nibble.
    slot: [usize; CONTEXTS],
    /// That bucket's check.
    check: [u32; CONTEXTS],
    /// The run read at the byte's start: its byte and its count above (0: none).
    run: [u32; CONTEXTS],
    /// Each context's run state for the current bit: 0 (no run, or one the byte so
    /// far left), else `1 + 4 * predicted bit + length bucket`.
    state: [u8; CONTEXTS],
    /// The entries of the two maps the two inputs read for the current bit (`NONE`:
    /// no input), and the bits they predicted.
    at: [usize; 2],
    expected: [u32; 2],
    /// `P(bit == predicted)` of the longest run and of the highest order's, per
    /// context, run length bucket (16), predicted bit and bit position:
    /// [`RUN_ENTRIES`] per context.
    maps: [Vec<Slot>; 2],
}

/// Entries per context of each of [`Runs::maps`].
const RUN_ENTRIES: usize = 16 * 2 * 8;

/// Largest run count kept.
const RUN_MAX: u32 = 1023;

/// Run states: none, and each predicted bit with 4 length buckets.
const RUN_STATES: usize = 9;

/// The contexts, among the first ones, whose run may be the highest order's (levels 6
/// to 9 list orders 2 to 12 first).
const RUN_ORDERS: usize = 6;

impl Runs {
    const NONE: usize = usize::MAX;

    /// The runs of `n` contexts.
    fn new(n: usize) -> Self {
        Self {
            slot: [Self::NONE; CONTEXTS],
            check: [0; CONTEXTS],
            run: [0; CONTEXTS],
            state: [0; CONTEXTS],
            at: [Self::NONE; 2],
            expected: [0; 2],
            maps: [
                vec![Slot::HALF; n * RUN_ENTRIES],
                vec![Slot::HALF; n * RUN_ENTRIES],
            ],
        }
    }

    /// At a byte's start: context `k`'s first bucket is at `base` with `check`, and
    /// its slot 0 holds `word`.
    #[inline(always)]
    fn start(&mut self, k: usize, base: usize, check: u32, word: u32) {
        self.slot[k] = base;
        self.check[k] = check;
        self.run[k] = word >> 9;
    }

    /// The run states of the first `n` contexts for the bit after the partial byte
    /// `c0` (`bits` bits known), and the two inputs, `st`.
    #[inline(always)]
    fn predict(&mut self, n: usize, c0: u32, bits: u32, st: &mut [i32]) {
        // (count, context, predicted bit) of the longest run and the highest order's.
        let mut longest = (0, Self::NONE, 0);
        let mut highest = (0, Self::NONE, 0);
        for k in 0..n {
            let r = self.run[k];
            let predicted = (r & 0xFF) | 0x100;
            if r == 0 || predicted >> (8 - bits) != c0 {
                self.state[k] = 0;
                continue;
            }
            let bit = (predicted >> (7 - bits)) & 1;
            let count = r >> 8;
            if count >= longest.0 {
                longest = (count, k, bit);
            }
            if k < RUN_ORDERS {
                highest = (count, k, bit);
            }
            let bucket = match count {
                0..=1 => 0,
                2..=3 => 1,
                4..=7 => 2,
                _ => 3,
            };
            self.state[k] = (1 + 4 * bit + bucket) as u8;
        }
        for (j, (count, k, bit)) in [longest, highest].into_iter().enumerate() {
            if k == Self::NONE {
                self.at[j] = Self::NONE;
                st[j] = 0;
                continue;
            }
            let at = k * RUN_ENTRIES + (count.min(15) as usize * 2 + bit as usize) * 8;
            let at = at + bits as usize;
            self.at[j] = at;
            self.expected[j] = bit;
            let a = self.maps[j][at].logit();
            st[j] = if bit == 1 { a } else { -a };
        }
    }

    /// No runs for the current bit (in a JPEG scan's bytes).
    #[inline]
    fn idle(&mut self, n: usize) {
        self.state[..n].fill(0);
        self.at = [Self::NONE; 2];
    }

    /// Learn the coded bit where a run input predicted it.
    #[inline(always)]
    fn learn(&mut self, bit: u32) {
        for j in 0..2 {
            let at = self.at[j];
            if at != Self::NONE {
                self.maps[j][at].update_to((bit == self.expected[j]) as u32, 255);
            }
        }
    }

    /// After `byte`: each context's run takes it in, where its bucket still holds the
    /// context (the second nibble's may have taken its place).
    #[inline(always)]
    fn byte(&mut self, n: usize, tables: &mut [u32], byte: u8) {
        for k in 0..n {
            let i = self.slot[k];
            if i == Self::NONE {
                continue;
            }
            let w = slot_mut(tables, i);
            if *w & 0x1FF != self.check[k] {
                continue;
            }
            let (b, count) = ((*w >> 9) & 0xFF, *w >> 17);
            let count = if count > 0 && b == byte as u32 {
                (count + 1).min(RUN_MAX)
            } else {
                1
            };
            *w = self.check[k] | (byte as u32) << 9 | count << 17;
        }
    }
}

/// The predictor's state: its tables and the history it hashes.
#[derive(Clone, Debug)]
pub struct Predictor {
    /// What it mixes.
    spec: Spec,
    order0: [Slot; 256],
    /// Each used context's table: its first slot and its size less 1 (a power of 2).
    table_at: [(usize, u32); CONTEXTS],
    /// The context tables, `2^bits` slots each, one after the other, as the words of
    /// their [`Slot`]s: fresh slots are zeroed memory, which the system maps lazily, so
    /// a table costs only the pages an input touches.
    tables: Vec<u32>,
    /// The hash of each context for the current byte (set at each byte boundary).
    hashes: [u32; CONTEXTS],
    /// At a byte's last bit: the record contexts' geometry assumed and the hashes
    /// after either value of the bit.
    next_hashes: Option<(Geometry, [[u32; CONTEXTS]; 2])>,
    /// The slot each context reads for the current bit.
    current: [usize; CONTEXTS],
    /// The hit-count cap of each used context's slots.
    limits: [u32; CONTEXTS],
    /// Whether the processor has AVX2 (asked once, at construction): the per-bit path
    /// then runs its AVX2 build, which computes the same integers.
    avx2: bool,
    /// The index in [`SHAPES`] of the spec when the per-bit path has a build of its
    /// own for it, else 0 (the build that reads `spec`).
    shape: usize,
    /// The first slot of each context's bucket for the current nibble.
    bases: [usize; CONTEXTS],
    history: Vec<u8>,
    words: Words,
    matcher: MatchModel,
    record: RecordModel,
    /// The model of JPEG scans, and whether the current byte is one it follows.
    jpeg: jpeg::JpegModel,
    jpeg_byte: bool,
    /// Whether the byte before was one the JPEG model followed.
    jpeg_last: bool,
    /// How many of the used contexts' positions the JPEG model's contexts take in its
    /// bytes (the rest are idle there).
    jpeg_contexts: usize,
    /// The slots of its tables the JPEG contexts' buckets keep to (of `2^bits`).
    jpeg_mask: usize,
    /// What the JPEG model's contexts' slots are worth.
    jpeg_worth: Vec<SlotWorth>,
    /// Bits of the current byte known so far (0..=7).
    bit_count: u32,
    /// The partial byte with a leading 1 (1..=255).
    c0: u32,
    mixer: Mixer,
    /// A second mixer whose weight sets follow the last byte.
    mixer2: Mixer,
    /// The two mixers' outputs for the current bit.
    mixed2: [u32; 2],
    apm0: Apm,
    apm1: Apm,
    /// An APM over the partial byte and a hash of the last two bytes.
    apm2: Apm,
    /// The mixer's inputs for the current bit.
    st: [i32; INPUTS],
    /// Per context, what its slots are worth by their hit count and probability.
    worth: Vec<SlotWorth>,
    /// The mixer's and the first APM's outputs for the current bit.
    mixed: u32,
    /// The mixer's weight set for the current bit.
    set: usize,
    /// The second mixer's.
    set2: usize,
    stage: u32,
    p: u32,
    /// The byte contexts' runs (with [`Spec::runs`]).
    runs: Runs,
}

impl Predictor {
    /// A predictor of every context ([`FULL`]) with `2^bits` slots per context table
    /// (`10..=24`).
    pub fn new(bits: u32) -> Self {
        Self::with_spec(bits, FULL)
    }

    /// A predictor of what `spec` names, with `2^bits` slots per context table.
    pub fn with_spec(bits: u32, mut spec: Spec) -> Self {
        spec.apm2 &= spec.apm1;
        let bits = bits.clamp(10, 24);
        let n = spec.contexts.len();
        let inputs = Self::inputs_of(&spec);
        // The runs' inputs are 0 until a run is seen: the weights start as an average
        // of the others.
        let start = inputs - Self::run_inputs(&spec);
        let runs = Self::runs_of(&spec);
        let jpeg_contexts = if spec.jpeg { JPEG_CONTEXTS.min(n) } else { 0 };
        // Each used context's table, one after the other (order 1's may be smaller,
        // and comes last where it is).
        let mut table_at = [(0usize, 0u32); CONTEXTS];
        let mut next = 0;
        for (at, &c) in table_at.iter_mut().zip(spec.contexts) {
            let b = match (c, spec.order1_bits) {
                (0, b) if b > 0 => bits.min(b as u32),
                _ => bits,
            };
            *at = (next, (1u32 << b) - 1);
            next += 1 << b;
        }
        let mut p = Self {
            spec,
            order0: [Slot::HALF; 256],
            tables: large_table(table_at.iter().map(|&(_, m)| m as usize + 1).sum()),
            table_at,
            hashes: [0; CONTEXTS],
            next_hashes: None,
            current: [0; CONTEXTS],
            limits: std::array::from_fn(|k| spec.contexts.get(k).map_or(0, |&c| count_limit(c))),
            #[cfg(target_arch = "x86_64")]
            avx2: std::is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            avx2: false,
            shape: Self::shape_of(&spec),
            bases: [0; CONTEXTS],
            history: Vec::new(),
            words: Words::default(),
            matcher: MatchModel::new(bits.saturating_sub(2)),
            record: RecordModel::new(),
            jpeg: jpeg::JpegModel::with_contexts(jpeg_contexts),
            jpeg_byte: false,
            jpeg_last: false,
            jpeg_contexts,
            jpeg_mask: (1
                << match spec.jpeg_bits as u32 {
                    0 => bits,
                    b => b.min(bits),
                })
                - 1,
            jpeg_worth: vec![SlotWorth::new(); jpeg_contexts],
            bit_count: 0,
            c0: 1,
            mixer: Mixer::with_start(inputs, 256 * 4 + 256, start),
            mixer2: Mixer::with_start(inputs, if spec.mixer2 { 256 * 8 + 256 } else { 1 }, start),
            set2: 0,
            mixed2: [2048; 2],
            apm0: Apm::new(if spec.apm0 { 256 * 9 } else { 1 }),
            apm1: Apm::new(if spec.apm1 { 1 << 16 } else { 1 }),
            apm2: Apm::new(if spec.apm2 { 1 << 16 } else { 1 }),
            st: [0; INPUTS],
            worth: (0..n)
                .map(|k| SlotWorth::with_states(if k < runs { RUN_STATES } else { 1 }))
                .collect(),
            mixed: 2048,
            set: 0,
            stage: 2048,
            p: 2048,
            runs: Runs::new(runs),
        };
        p.start_byte::<0>();
        p.predict_bit::<0>();
        p
    }

    /// The index of `spec` in [`SHAPES`] (its JPEG model aside), or 0.
    fn shape_of(spec: &Spec) -> usize {
        (1..SHAPES.len())
            .find(|&s| {
                Spec {
                    jpeg: spec.jpeg,
                    jpeg_bits: spec.jpeg_bits,
                    ..SHAPES[s]
                } == *spec
            })
            .unwrap_or(0)
    }

    /// The spec, as a constant (but for the JPEG model) in the builds of a shape.
    #[inline(always)]
    fn shaped<const S: usize>(&self) -> Spec {
        if S > 0 {
            Spec {
                jpeg: self.spec.jpeg,
                jpeg_bits: self.spec.jpeg_bits,
                ..SHAPES[S]
            }
        } else {
            self.spec
        }
    }

    /// The number of contexts used, a constant in the builds of a shape.
    #[inline(always)]
    fn used<const S: usize>(&self) -> usize {
        self.shaped::<S>().contexts.len()
    }

    /// How many contexts have runs, a constant in the builds of a shape.
    #[inline(always)]
    fn runs<const S: usize>(&self) -> usize {
        Self::runs_of(&self.shaped::<S>())
    }

    /// The mixers' inputs in use, a constant in the builds of a shape.
    #[inline(always)]
    fn inputs<const S: usize>(&self) -> usize {
        Self::inputs_of(&self.shaped::<S>())
    }

    /// The mixers' inputs of `spec`: order 0, a logit per context, the match model and
    /// the bias, then what each context's slot map makes of its slot (with
    /// [`Spec::worth`]), then each context's run (with [`Spec::runs`]).
    #[inline(always)]
    const fn inputs_of(spec: &Spec) -> usize {
        let n = spec.contexts.len();
        n + 3 + if spec.worth { n } else { 0 } + Self::run_inputs(spec)
    }

    /// The run inputs of `spec`: the longest run and the highest order's, where some
    /// context has runs.
    #[inline(always)]
    const fn run_inputs(spec: &Spec) -> usize {
        if Self::runs_of(spec) > 0 {
            2
        } else {
            0
        }
    }

    /// How many of `spec`'s contexts have runs (the first ones).
    #[inline(always)]
    const fn runs_of(spec: &Spec) -> usize {
        let (r, n) = (spec.runs as usize, spec.contexts.len());
        if r < n {
            r
        } else {
            n
        }
    }

    /// Where the run inputs start among the mixers' inputs.
    #[inline(always)]
    fn runs_offset<const S: usize>(&self) -> usize {
        let spec = self.shaped::<S>();
        let n = spec.contexts.len();
        n + 3 + if spec.worth { n } else { 0 }
    }

    /// Table size for an input of `len` bytes: about 2 slots per bit, at most `max_bits`.
    pub fn bits_for(len: usize, max_bits: u32) -> u32 {
        let want = (16 * len.max(1)).next_power_of_two().trailing_zeros();
        want.clamp(10, max_bits)
    }

    /// The probability (12-bit, `1..=4095`) that the next bit is 1.
    #[inline]
    pub fn p(&self) -> u32 {
        self.p
    }

    fn start_byte<const S: usize>(&mut self) {
        let contexts = self.shaped::<S>().contexts;
        self.jpeg_last = self.jpeg_byte;
        self.jpeg_byte = self.jpeg_contexts > 0 && self.jpeg.active();
        if self.jpeg_byte {
            // The byte contexts' hashes serve no JPEG byte; a byte after one computes
            // its own.
            self.next_hashes = None;
            return;
        }
        let g = self.geometry::<S>(self.history.len() as u32);
        self.hashes = match (self.next_hashes.take(), self.history.last()) {
            (Some((guess, next)), Some(&byte)) if guess == g => next[(byte & 1) as usize],
            _ => {
                let mut hashes = [0; CONTEXTS];
                for &c in contexts {
                    hashes[c] = context_hash(c, &self.history, self.words, g);
                }
                hashes
            }
        };
    }

    /// At a byte's last bit: the context hashes after each of the two bytes it may
    /// become (with the record contexts' geometry as it is), kept for
    /// [`Predictor::start_byte`] (which recomputes them if the byte changed it),
    /// and their first buckets asked for (a cache hint), so that the next byte does not
    /// start with a cache miss per context.
    fn prepare_next_byte<const S: usize>(&mut self) {
        let contexts = self.shaped::<S>().contexts;
        let mut next = [[0u32; CONTEXTS]; 2];
        // As it will be unless the byte changes the record length or ends a line.
        let g = self.geometry::<S>(self.history.len() as u32 + 1);
        // An order's hash takes the newest byte last: hash the bytes before it once.
        let n = self.history.len();
        let mut prefix = [0u32; CONTEXTS];
        for &c in contexts.iter().filter(|&&c| c < ORDERS.len()) {
            let order = ORDERS[c];
            prefix[c] = self.history[n + 1 - order.min(n + 1)..]
                .iter()
                .fold(order_seed(order), |x, &b| hash_step(x, b as u32));
        }
        // Whether a context reads more than the orders' prefixes and the byte.
        let more = Self::reads_more(contexts);
        for (b, hashes) in next.iter_mut().enumerate() {
            let byte = ((self.c0 << 1 | b as u32) & 0xFF) as u8;
            let words = next_word(self.words, byte);
            if more {
                self.history.push(byte);
            }
            for (k, &c) in contexts.iter().enumerate() {
                hashes[c] = if c < ORDERS.len() {
                    hash_step(prefix[c], byte as u32)
                } else {
                    context_hash(c, &self.history, words, g)
                };
                prefetch_pair(&self.tables, self.bucket_of(k, hashes[c], 1).0);
            }
            if more {
                self.history.pop();
            }
        }
        self.next_hashes = Some((g, next));
    }

    /// Whether some of `contexts` is not an order.
    #[inline(always)]
    fn reads_more(contexts: &[usize]) -> bool {
        contexts.iter().any(|&c| c >= ORDERS.len())
    }

    /// Whether some of `contexts` is a record context (the only readers of the record
    /// model).
    #[inline(always)]
    fn reads_records(contexts: &[usize]) -> bool {
        contexts
            .iter()
            .any(|&c| (RECORD_FIRST..RECORD_FIRST + RECORD_CONTEXTS).contains(&c))
    }

    /// The record contexts' geometry of the byte after `n` bytes (a constant where the
    /// spec has no record context).
    #[inline(always)]
    fn geometry<const S: usize>(&self, n: u32) -> Geometry {
        if Self::reads_records(self.shaped::<S>().contexts) {
            self.record.geometry(n)
        } else {
            Geometry::NONE
        }
    }

    /// The first slot of the `j`-th used context's bucket for the nibble starting at
    /// partial byte `c0`, and the bucket's check.
    #[inline]
    fn bucket<const S: usize>(&self, j: usize, c0: u32) -> (usize, u32) {
        self.bucket_of(j, self.hashes[self.shaped::<S>().contexts[j]], c0)
    }

    /// [`Predictor::bucket`] for the context hash `hash`.
    #[inline]
    fn bucket_of(&self, j: usize, hash: u32, c0: u32) -> (usize, u32) {
        let (base, mask) = self.table_at[j];
        let h = (hash ^ c0.wrapping_mul(0x9E37_79B1)).rotate_left(7);
        (base | (h & mask & !15) as usize, (h >> 24) | 0x100)
    }

    /// The bucket whose first slot is `first` or its pair's, whichever holds `check`,
    /// or else the one whose first slot has seen fewer bits, taken over: its check set
    /// and its slots restarted.
    #[inline]
    fn find_bucket(&mut self, first: usize, check: u32) -> usize {
        // Two places for the bucket, in the same 128 bytes.
        let other = first ^ 16;
        if self.tables[first] & 0x1FF == check {
            first
        } else if self.tables[other] & 0x1FF == check {
            other
        } else {
            let base =
                if Slot(self.tables[other + 1]).count() < Slot(self.tables[first + 1]).count() {
                    other
                } else {
                    first
                };
            let bucket = &mut self.tables[base..base + 16];
            bucket[0] = check;
            bucket[1..].fill(Slot::HALF.0);
            base
        }
    }

    /// The last two bytes (0 before the start).
    #[inline]
    fn last_two(&self) -> (u32, u32) {
        let n = self.history.len();
        let at = |d: usize| {
            if n >= d {
                self.history[n - d] as u32
            } else {
                0
            }
        };
        (at(1), at(2))
    }

    /// The row of the last APM for partial byte `c0` after the bytes `last`, `last2`.
    #[inline]
    fn apm2_context(last: u32, last2: u32, c0: u32) -> usize {
        ((last.wrapping_mul(0x9E37_79B1)
            ^ last2.wrapping_mul(0x85EB_CA6B)
            ^ c0.wrapping_mul(0xC2B2_AE35))
            >> 16) as usize
    }

    /// Ask for the rows the APMs over the last bytes read at the next bit, whichever
    /// this bit is: they are cache misses, and a bit's work hides them (a hint only).
    #[inline]
    fn prefetch_next_apm_rows<const S: usize>(&self, last: u32, last2: u32) {
        let Spec { apm1, apm2, .. } = self.shaped::<S>();
        if !apm1 {
            return;
        }
        for b in 0..2 {
            let child = self.c0 << 1 | b;
            let (c0, last, last2) = if child >= 256 {
                (1, child & 255, last)
            } else {
                (child, last, last2)
            };
            self.apm1.prefetch((c0 | last << 8) as usize);
            if apm2 {
                self.apm2.prefetch(Self::apm2_context(last, last2, c0));
            }
        }
    }

    #[inline(always)]
    fn predict_bit<const S: usize>(&mut self) {
        let c0 = self.c0;
        let (last, last2) = self.last_two();
        let Spec {
            mixer2,
            apm0,
            apm1,
            apm2,
            ..
        } = self.shaped::<S>();
        let runs = self.runs::<S>();
        let h2 = if apm2 && self.jpeg_byte {
            (self.jpeg.state_hash() >> 16) as usize
        } else if apm2 {
            Self::apm2_context(last, last2, c0)
        } else {
            0
        };
        self.prefetch_next_apm_rows::<S>(last, last2);
        let n = self.used::<S>();
        if self.bit_count == 6 {
            // Two bits before the byte's end (a JPEG byte's too): the match table's
            // slots of its 4 possible values, so that they are in cache when it ends.
            self.matcher.prefetch_next(&self.history, c0, 2);
        }
        if self.bit_count == 7 && !self.jpeg_byte {
            self.prepare_next_byte::<S>();
        }
        if self.bit_count == 3 && !self.jpeg_byte {
            // The second nibble's buckets are known up to the next bit: ask for both.
            for k in 0..n {
                prefetch_pair(&self.tables, self.bucket::<S>(k, c0 << 1).0);
                prefetch_pair(&self.tables, self.bucket::<S>(k, c0 << 1 | 1).0);
            }
        }
        self.st[0] = self.order0[c0 as usize & 0xFF].logit();
        // Each context's slots for one nibble share a 16-slot bucket (one cache line),
        // chosen at the nibble's start by the context and the byte's bits so far; the
        // partial nibble (with a leading 1, 1..=15) picks the slot in it.
        // Slot 0 of a bucket (no partial nibble uses it) holds a check of the context's
        // hash: a bucket found holding another context's check is taken over, its
        // statistics restarted, rather than mixed with this context's.
        // In the entropy-coded data of a JPEG scan, the last contexts are the JPEG
        // model's, whose buckets hold the slots of up to 4 bits of a symbol.
        if self.jpeg_byte {
            self.jpeg_inputs::<S>();
        } else {
            if self.bit_count == 0 || self.bit_count == 4 {
                for k in 0..n {
                    let (first, check) = self.bucket::<S>(k, c0);
                    self.bases[k] = self.find_bucket(first, check);
                    if k < runs && self.bit_count == 0 {
                        self.runs
                            .start(k, self.bases[k], check, self.tables[self.bases[k]]);
                    }
                }
            }
            if runs > 0 {
                let off = self.runs_offset::<S>();
                self.runs
                    .predict(runs, c0, self.bit_count, &mut self.st[off..off + 2]);
            }
            let nibble = if self.bit_count < 4 {
                c0 as usize
            } else {
                let b = self.bit_count - 4;
                (1 << b) | (c0 as usize & ((1 << b) - 1))
            };
            self.read_slots::<S>(n, nibble, false);
        }
        self.st[n + 1] = self.matcher.input(&self.history, c0, self.bit_count);
        self.st[n + 2] = 256;
        let st = &self.st[..self.inputs::<S>()];
        // Weight sets by the partial byte and how long the match is (none, short,
        // medium, long).
        let m = match self.matcher.expected.map(|_| self.matcher.len) {
            None => 0,
            Some(0..=15) => 1,
            Some(16..=31) => 2,
            Some(_) => 3,
        };
        let jpeg_sets = (self.jpeg_byte && self.jpeg.active()).then(|| self.jpeg.sets());
        self.set = match jpeg_sets {
            Some((s, _)) => 1024 + s,
            None => c0 as usize | m << 8,
        };
        self.mixed2[0] = self.mixer.mix(st, self.set);
        self.mixed = if mixer2 {
            // Weight sets by the last byte and how many of the first seven contexts (the
            // low orders and, at levels 6 to 9, the word) have seen their current slot
            // more than 5 times: how far up the orders the statistics are worth trusting.
            self.set2 = match jpeg_sets {
                Some((_, s)) => 2048 + s,
                None => {
                    let known = self.current[..n.min(7)]
                        .iter()
                        .filter(|&&i| Slot(self.tables[i]).count() > 5)
                        .count();
                    known << 8 | last as usize
                }
            };
            self.mixed2[1] = self.mixer2.mix(st, self.set2);
            // The two mixers averaged in the logistic domain.
            squash((stretch(self.mixed2[0]) + stretch(self.mixed2[1])) / 2).clamp(1, 4095)
        } else {
            self.mixed2[0]
        };
        // The first APM by the partial byte and the match: none, or the bit it
        // predicts with its length in four buckets.
        let ms = match self.matcher.expected {
            None => 0,
            Some(b) => 1 + b as usize * 4 + (self.matcher.len.min(31) as usize >> 3),
        };
        self.stage = if apm0 {
            let a0 = self.apm0.refine(self.mixed, c0 as usize | ms << 8);
            (self.mixed + a0) / 2
        } else {
            self.mixed
        };
        self.p = if !apm1 {
            self.stage
        } else {
            let a1 = self.apm1.refine(self.stage, (c0 | last << 8) as usize);
            if apm2 {
                let a2 = self.apm2.refine((self.stage + a1) / 2, h2);
                (2 * self.stage + 3 * a1 + 3 * a2) / 8
            } else {
                (self.stage + 3 * a1) / 4
            }
        }
        .clamp(1, 4095);
    }

    /// The inputs of the hashed contexts' positions in the entropy-coded data of a JPEG
    /// scan: the JPEG model's contexts in the first ones, whose buckets hold the slots of
    /// a group of up to 4 bits of a symbol; the rest idle (their input 0).
    fn jpeg_inputs<const S: usize>(&mut self) {
        let (n, jn) = (self.used::<S>(), self.jpeg_contexts);
        let worth = self.shaped::<S>().worth;
        // A byte before that was not the JPEG model's used these positions for byte
        // contexts: look the buckets up again then.
        if self.jpeg.group_start() || (self.bit_count == 0 && !self.jpeg_last) {
            for k in 0..jn {
                let (first, check) = self.jpeg_bucket(k);
                self.bases[k] = self.find_bucket(first, check);
            }
        }
        self.read_slots::<S>(jn, self.jpeg.index(), true);
        for k in jn..n {
            self.st[1 + k] = 0;
            if worth {
                self.st[n + 3 + k] = 0;
            }
        }
        let runs = self.runs::<S>();
        if runs > 0 {
            let off = self.runs_offset::<S>();
            self.st[off..off + 2].fill(0);
            self.runs.idle(runs);
        }
    }

    /// JPEG context `k`'s bucket for the group of bits the next one is in, and its
    /// check: in the first `2^jpeg_bits` slots of its table.
    #[inline]
    fn jpeg_bucket(&self, k: usize) -> (usize, u32) {
        let (first, check) = self.bucket_of(k, self.jpeg.hash(k), 0);
        let base = self.table_at[k].0;
        (base | ((first - base) & self.jpeg_mask), check)
    }

    /// Read slot `bases[k] | index` of the first `count` positions: its logit is the
    /// mixer's input, and (with slot maps) so is what the byte contexts' or the JPEG
    /// contexts' maps make of it.
    #[inline]
    fn read_slots<const S: usize>(&mut self, count: usize, index: usize, jpeg: bool) {
        let n = self.used::<S>();
        let runs = self.runs::<S>();
        let worth = self.shaped::<S>().worth;
        for k in 0..count {
            let i = self.bases[k] | index;
            self.current[k] = i;
            let slot = Slot(*slot_mut(&mut self.tables, i));
            let a = slot.logit();
            self.st[1 + k] = a;
            if worth {
                let w = if jpeg {
                    &mut self.jpeg_worth[k]
                } else {
                    &mut self.worth[k]
                };
                self.st[n + 3 + k] = if jpeg || k >= runs {
                    w.input(slot.count(), a)
                } else {
                    w.input_in(self.runs.state[k] as usize, slot.count(), a)
                };
            }
        }
    }

    /// Learn the coded bit (0 or 1) and predict the next one.
    #[inline]
    pub fn update(&mut self, bit: u32) {
        let _ = self.run::<Infallible>(1, |_| Ok(bit));
    }

    /// Run `bits` bits: for each, `next` gets the probability (12-bit) that it is 1 and
    /// says what it is (or fails, which ends the run), and the predictor learns it.
    /// The same as [`Predictor::p`] and [`Predictor::update`] per bit, with the build
    /// of the spec's shape chosen once.
    #[inline]
    pub fn run<E>(
        &mut self,
        bits: usize,
        next: impl FnMut(u32) -> Result<u32, E>,
    ) -> Result<(), E> {
        match self.shape {
            1 => self.run_shaped::<1, E>(bits, next),
            2 => self.run_shaped::<2, E>(bits, next),
            3 => self.run_shaped::<3, E>(bits, next),
            4 => self.run_shaped::<4, E>(bits, next),
            5 => self.run_shaped::<5, E>(bits, next),
            _ => self.run_shaped::<0, E>(bits, next),
        }
    }

    /// [`Predictor::run`] in the build of shape `S`, the AVX2 one where the processor
    /// has it.
    #[inline(always)]
    fn run_shaped<const S: usize, E>(
        &mut self,
        bits: usize,
        next: impl FnMut(u32) -> Result<u32, E>,
    ) -> Result<(), E> {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: the processor has the features the function is compiled for.
            return unsafe { self.run_avx2::<S, E>(bits, next) };
        }
        self.run_impl::<S, E>(bits, next)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
    unsafe fn run_avx2<const S: usize, E>(
        &mut self,
        bits: usize,
        next: impl FnMut(u32) -> Result<u32, E>,
    ) -> Result<(), E> {
        self.run_impl::<S, E>(bits, next)
    }

    #[inline(always)]
    fn run_impl<const S: usize, E>(
        &mut self,
        bits: usize,
        mut next: impl FnMut(u32) -> Result<u32, E>,
    ) -> Result<(), E> {
        for _ in 0..bits {
            let bit = next(self.p)?;
            self.update_impl::<S>(bit);
        }
        Ok(())
    }

    #[inline(always)]
    fn update_impl<const S: usize>(&mut self, bit: u32) {
        // The JPEG model reads the bit first: where the next bit starts a group, its
        // buckets are asked for now (a cache hint), and the rest of this bit's learning
        // hides the wait, which no earlier hint can (a symbol's start depends on the
        // symbol just read).
        if self.jpeg_byte && self.jpeg.active() {
            self.jpeg.bit(bit);
            if self.jpeg.group_start() {
                for k in 0..self.jpeg_contexts {
                    prefetch_pair(&self.tables, self.jpeg_bucket(k).0);
                }
            }
        }
        let c0 = self.c0 as usize;
        self.order0[c0 & 0xFF].update(bit);
        if self.jpeg_byte {
            for &i in &self.current[..self.jpeg_contexts] {
                let t = slot_mut(&mut self.tables, i);
                let mut slot = Slot(*t);
                slot.update_to(bit, JPEG_COUNT_LIMIT);
                *t = slot.0;
            }
        } else {
            let n = self.used::<S>();
            for (&i, &limit) in self.current[..n].iter().zip(&self.limits[..n]) {
                let t = slot_mut(&mut self.tables, i);
                let mut slot = Slot(*t);
                slot.update_to(bit, limit);
                *t = slot.0;
            }
        }
        self.matcher.update(bit);
        if self.runs::<S>() > 0 {
            self.runs.learn(bit);
        }
        if self.shaped::<S>().worth {
            let worth = if self.jpeg_byte {
                &mut self.jpeg_worth[..]
            } else {
                let n = self.used::<S>();
                &mut self.worth[..n]
            };
            for w in worth {
                w.learn(bit);
            }
        }
        let st = &self.st[..self.inputs::<S>()];
        self.mixer.learn(st, self.mixed2[0], bit, self.set);
        if self.shaped::<S>().mixer2 {
            self.mixer2.learn(st, self.mixed2[1], bit, self.set2);
        }
        if self.shaped::<S>().apm0 {
            self.apm0.learn(bit);
        }
        if self.shaped::<S>().apm1 {
            self.apm1.learn(bit);
        }
        if self.shaped::<S>().apm2 {
            self.apm2.learn(bit);
        }
        self.c0 = (self.c0 << 1) | bit;
        self.bit_count += 1;
        if self.c0 >= 256 {
            let byte = (self.c0 & 0xFF) as u8;
            let runs = self.runs::<S>();
            if runs > 0 && !self.jpeg_byte {
                self.runs.byte(runs, &mut self.tables, byte);
            }
            self.jpeg.byte(byte);
            self.history.push(byte);
            self.matcher.byte(&self.history);
            if Self::reads_records(self.shaped::<S>().contexts) {
                self.record.byte(byte, self.history.len() as u32);
            }
            self.bit_count = 0;
            self.words = next_word(self.words, byte);
            self.c0 = 1;
            self.start_byte::<S>();
        }
        self.predict_bit::<S>();
    }

    /// Ideal code length of `data` in bits (`sum -log2 p` of every bit), learning as it
    /// goes: what an exact coder of these predictions would spend.
    pub fn code_length_bits(&mut self, data: &[u8]) -> f64 {
        let mut bits = 0.0;
        let mut t = 0;
        let _ = self.run::<Infallible>(8 * data.len(), |p| {
            let bit = (data[t >> 3] >> (7 - (t & 7))) as u32 & 1;
            t += 1;
            let p1 = p as f64 / 4096.0;
            bits -= crate::math::log2(if bit == 1 { p1 } else { 1.0 - p1 });
            Ok(bit)
        });
        bits
    }
}

/// A file of `../shared/corpus`, for the unit tests that need one (they skip, saying
/// so, where it is absent, unless `BBCODEC_REQUIRE_CORPUS` is set, as CI sets it there).
#[cfg(test)]
pub(crate) fn corpus_file(name: &str) -> Option<Vec<u8>> {
    let path = format!("{}/../shared/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
    let data = std::fs::read(&path).ok();
    assert!(
        data.is_some() || std::env::var_os("BBCODEC_REQUIRE_CORPUS").is_none(),
        "BBCODEC_REQUIRE_CORPUS is set but {path} is absent"
    );
    if data.is_none() {
        eprintln!("SKIPPED: {path} absent");
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/alice29-excerpt.txt"
        ))
        .unwrap()
    }

    #[test]
    fn slots_move_toward_the_observed_bits() {
        let mut s = Slot::HALF;
        for _ in 0..10 {
            s.update(1);
        }
        assert!(s.p12() > 3500, "{}", s.p12());
        // A count while n is below the limit: 10 ones and 10 zeros is about 1/2.
        for _ in 0..10 {
            s.update(0);
        }
        assert!((1700..2400).contains(&s.p12()), "{}", s.p12());
        // Then an exponential average at rate 1 / (COUNT_LIMIT + 1.5).
        for _ in 0..200 {
            s.update(0);
        }
        assert!(s.p12() < 100, "{}", s.p12());
        assert!(s.0 & 1023 <= COUNT_LIMIT);
    }

    #[test]
    fn predictions_are_deterministic_and_in_range() {
        let data = text();
        let run = || {
            let mut p = Predictor::new(18);
            let mut trace = Vec::new();
            for &b in &data[..5000] {
                for i in (0..8).rev() {
                    trace.push(p.p());
                    p.update((b >> i) as u32 & 1);
                }
            }
            trace
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.iter().all(|&p| (1..=4095).contains(&p)));
    }

    /// The builds of a fixed shape compute what the build that reads the spec does: the
    /// same prediction for every bit of text, a table and an image's scan, for every
    /// spec of [`SHAPES`], with the JPEG model and without.
    #[test]
    fn every_shape_predicts_as_the_spec_reading_build() {
        let mut data = text()[..6000].to_vec();
        data.extend_from_slice(
            &std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/testdata/golden/kppkn3k.bin"
            ))
            .unwrap(),
        );
        data.extend_from_slice(
            &std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/testdata/golden/jpeg1500.bin"
            ))
            .unwrap(),
        );
        let trace = |spec: Spec, generic: bool| {
            // 2^17 slots per table: level 1's JPEG contexts keep to 2^16 of them.
            let mut p = Predictor::with_spec(17, spec);
            if generic {
                p.shape = 0;
            }
            let mut trace = Vec::with_capacity(8 * data.len());
            let mut t = 0;
            let _ = p.run::<Infallible>(8 * data.len(), |p1| {
                trace.push(p1 as u16);
                let bit = (data[t >> 3] >> (7 - (t & 7))) as u32 & 1;
                t += 1;
                Ok(bit)
            });
            trace
        };
        // Every level of today's revision runs in a build of its own.
        for level in config::LEVELS {
            assert_ne!(Predictor::shape_of(&level.spec), 0, "{level:?}");
        }
        for (s, &spec) in SHAPES.iter().enumerate().skip(1) {
            for jpeg in [true, false] {
                let spec = Spec { jpeg, ..spec };
                assert_eq!(Predictor::with_spec(17, spec).shape, s);
                assert!(
                    trace(spec, false) == trace(spec, true),
                    "shape {s}, jpeg {jpeg}"
                );
            }
        }
    }

    /// The first 30,000 bytes of fireworks.jpeg (its headers and the first quarter of its
    /// scan) in ideal bits per byte, with the JPEG model and without: the contexts of
    /// what the Huffman codes mean must beat the byte contexts, which see noise there,
    /// by far (they measure 6.33 and 7.76 bits per byte).
    #[test]
    fn jpeg_model_codes_images_well_below_byte_contexts() {
        let Some(data) = corpus_file("fireworks.jpeg") else {
            return;
        };
        let data = &data[..30_000];
        let bpb = |jpeg| {
            let mut p = Predictor::with_spec(18, Spec { jpeg, ..FULL });
            p.code_length_bits(data) / data.len() as f64
        };
        let (with, without) = (bpb(true), bpb(false));
        eprintln!("fireworks.jpeg, 30,000 bytes: {with:.4} bits/byte with the JPEG model, {without:.4} without");
        assert!(with < 0.9 * without, "{with} against {without}");
    }

    /// The excerpt (40,000 bytes of alice29.txt) in ideal bits per byte: gzip -9 takes
    /// 3.13 on it and the mixture 4.47, so context mixing must be far below both (it
    /// measures 2.33).
    #[test]
    fn text_codes_well_below_gzip() {
        let data = text();
        let mut p = Predictor::new(Predictor::bits_for(data.len(), 22));
        let bpb = p.code_length_bits(&data) / data.len() as f64;
        eprintln!("alice29 excerpt: {bpb:.4} bits/byte");
        assert!(bpb < 2.6, "{bpb}");
    }
}

#[cfg(test)]
mod measure {
    use super::*;

    /// Ideal bits per byte of the files `BB_FILES` names (space-separated paths) with
    /// the default level's tables, two at a time (`cargo test --release --lib
    /// cm::measure::files -- --ignored --nocapture`). `BB_DROP` lists context indices
    /// to leave out, `BB_BITS` the largest table size (default 21).
    #[test]
    #[ignore]
    fn files() {
        let names = std::env::var("BB_FILES").unwrap_or_default();
        let names: Vec<String> = names.split_whitespace().map(String::from).collect();
        let drop: Vec<usize> = std::env::var("BB_DROP")
            .unwrap_or_default()
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        let contexts: Vec<usize> = FULL
            .contexts
            .iter()
            .copied()
            .filter(|k| !drop.contains(k))
            .collect();
        let spec = match std::env::var("BB_LEVEL") {
            Ok(l) if l.starts_with('c') => Spec {
                contexts: Box::leak(
                    l[1..]
                        .split(',')
                        .map(|c| c.parse().unwrap())
                        .collect::<Vec<usize>>()
                        .into_boxed_slice(),
                ),
                apm1: std::env::var_os("BB_NO_APM1").is_none(),
                ..config::LEVELS[0].spec
            },
            Ok(l) => config::LEVELS[l.parse::<usize>().unwrap() - 1].spec,
            Err(_) => Spec {
                contexts: Box::leak(contexts.into_boxed_slice()),
                ..FULL
            },
        };
        let max_bits = std::env::var("BB_BITS").map_or(21, |b| b.parse().unwrap());
        let results = std::sync::Mutex::new(Vec::new());
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            let threads = std::env::var("BB_THREADS").map_or(2, |t| t.parse().unwrap());
            for _ in 0..threads {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(name) = names.get(i) else { break };
                    let data = std::fs::read(name).unwrap();
                    let t = std::time::Instant::now();
                    let mut p =
                        Predictor::with_spec(Predictor::bits_for(data.len(), max_bits), spec);
                    // A fingerprint of every prediction, to tell a faster predictor
                    // that predicts the same from one that does not.
                    let mut print: u64 = 0;
                    let mut bits = 0.0;
                    let cost: Vec<f64> = (0..4096)
                        .map(|p| -crate::math::log2(p.max(1) as f64 / 4096.0))
                        .collect();
                    let mut at = 0;
                    let _ = p.run::<Infallible>(8 * data.len(), |p1| {
                        let bit = (data[at >> 3] >> (7 - (at & 7))) as u32 & 1;
                        at += 1;
                        print = (print ^ p1 as u64).wrapping_mul(0x100_0000_01b3);
                        bits += cost[if bit == 1 { p1 } else { 4096 - p1 } as usize];
                        Ok(bit)
                    });
                    let bpb = bits / data.len() as f64;
                    let mbs = data.len() as f64 / 1e6 / t.elapsed().as_secs_f64();
                    results.lock().unwrap().push((
                        i,
                        format!("{name}: {bpb:.4} bpb {mbs:.2} MB/s, predictions {print:016x}"),
                    ));
                });
            }
        });
        let mut r = results.into_inner().unwrap();
        r.sort();
        for (_, line) in r {
            eprintln!("{line}");
        }
    }

    /// Ideal bits per byte on the corpus (`cargo test --lib cm::measure -- --ignored
    /// --nocapture`).
    #[test]
    #[ignore]
    fn corpus_bits_per_byte() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus");
        for name in [
            "alice29.txt",
            "kppkn.gtb",
            "geo.protodata",
            "urls.10K",
            "fireworks.jpeg",
        ] {
            let Ok(data) = std::fs::read(format!("{dir}/{name}")) else {
                eprintln!("SKIPPED: {name} absent");
                continue;
            };
            let bits = Predictor::bits_for(data.len(), 22);
            let mut p = Predictor::new(bits);
            let bpb = p.code_length_bits(&data) / data.len() as f64;
            let chain = crate::chain::HistoryBitsBackCoder::new(
                4096,
                crate::chain::ContinuousConfig::default(),
            )
            .unwrap();
            let mut m = latent::CmChain::new(bits, 0);
            let coded = chain.encode(&mut m, &data, 0, 1 << 20).unwrap();
            let mut m = latent::CmChain::with_spec(bits, FULL, 0, vec![Vec::new()]);
            let back = chain
                .decode(&mut m, &coded.segments, data.len(), 0)
                .unwrap();
            assert_eq!(back.data, data);
            let words = &coded.segments[0].words;
            eprintln!(
                "{name}: {bpb:.4} bits/byte ideal, {} bytes of ANS words ({:.4} bits/byte)",
                4 * words.len(),
                32.0 * words.len() as f64 / data.len() as f64
            );
        }
    }
}
