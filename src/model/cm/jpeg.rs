//! A model of baseline JPEG images inside the byte stream: it reads the headers as the
//! bytes go by (the frame, the Huffman tables, the scan, the restart interval), follows
//! the Huffman decoding of the entropy-coded data bit by bit, and gives the predictor
//! contexts made of what the bits mean (which coefficient of which component is being
//! coded, what is known of it so far, the same coefficient in the blocks above and to
//! the left) instead of the byte contexts, which see only noise there.
//!
//! Baseline and extended sequential Huffman frames (SOF0, SOF1) are modelled;
//! progressive, lossless and arithmetic-coded ones are coded with the byte contexts.
//! Anything the model does not understand (a bad table, a code no table holds, data past
//! the last block) turns it off until the next restart marker or scan: the model only
//! chooses contexts, so a wrong guess costs bits, never correctness. Its state is a
//! function of the bytes and bits so far, the same on every build (DESIGN section 2).
//!
//! The design follows the public descriptions of the JPEG standard (ITU T.81) and of
//! the JPEG models of the PAQ family; no code of theirs is used.

/// Contexts the model defines (the predictor uses as many as it has tables for).
pub const JPEG_CONTEXTS: usize = 11;

/// Natural (row-major) index of each zigzag position.
const ZIGZAG: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Zigzag position of each natural index.
const UNZIGZAG: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        t[ZIGZAG[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Zigzag positions of the coefficient above (one row lower in vertical frequency) and
/// to the left (one column lower) of each zigzag position in the same block, 64 for
/// none: both come earlier in zigzag order.
const FREQ_NEIGHBOURS: [[u8; 2]; 64] = {
    let mut t = [[64u8; 2]; 64];
    let mut z = 0;
    while z < 64 {
        let n = ZIGZAG[z] as usize;
        let (r, c) = (n / 8, n % 8);
        if r > 0 {
            t[z][0] = UNZIGZAG[n - 8];
        }
        if c > 0 {
            t[z][1] = UNZIGZAG[n - 1];
        }
        z += 1;
    }
    t
};

/// A canonical Huffman table as the decoder walks it.
#[derive(Clone, Debug)]
struct Huffman {
    /// Largest code of each length (`-1`: none).
    maxcode: [i32; 17],
    /// Smallest code of each length.
    mincode: [i32; 17],
    /// Index in `values` of the first code of each length.
    first: [u16; 17],
    values: [u8; 256],
}

impl Huffman {
    /// The table of a DHT entry (`counts[l - 1]` codes of length `l`, then the values), or
    /// `None` if its counts do not form a prefix code.
    fn new(counts: &[u8], values: &[u8]) -> Option<Self> {
        let mut t = Huffman {
            maxcode: [-1; 17],
            mincode: [0; 17],
            first: [0; 17],
            values: [0; 256],
        };
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        if total > 256 || values.len() < total {
            return None;
        }
        t.values[..total].copy_from_slice(&values[..total]);
        let (mut code, mut k) = (0i32, 0u16);
        for l in 1..=16 {
            let c = counts[l - 1] as i32;
            t.first[l] = k;
            t.mincode[l] = code;
            code += c;
            k += c as u16;
            if c > 0 {
                t.maxcode[l] = code - 1;
            }
            if code > 1 << l {
                return None;
            }
            code <<= 1;
        }
        Some(t)
    }

    /// The value of the `len`-bit code `code`, if it is one.
    fn lookup(&self, code: u32, len: u32) -> Option<u8> {
        let l = len as usize;
        let code = code as i32;
        if l == 0 || l > 16 || code > self.maxcode[l] || code < self.mincode[l] {
            return None;
        }
        self.values
            .get(self.first[l] as usize + (code - self.mincode[l]) as usize)
            .copied()
    }
}

/// A frame component: its id and sampling factors.
#[derive(Clone, Copy, Debug)]
struct Component {
    id: u8,
    h: u32,
    v: u32,
}

/// The last block seen in a column of a component's block grid.
#[derive(Clone, Copy, Debug)]
struct Column {
    /// The frame it belongs to (its number among the frames met), and its block row.
    frame: u32,
    row: u32,
    /// Its coefficients in zigzag order, the DC as its value (not its difference).
    coefficients: [i16; 64],
    /// Which of them are nonzero (bit `i` for position `i`), and the sum of their sizes.
    nonzero: u64,
    energy: u32,
}

impl Column {
    const EMPTY: Column = Column {
        frame: u32::MAX,
        row: 0,
        coefficients: [0; 64],
        nonzero: 0,
        energy: 0,
    };

    /// The block of coefficients `c` at `row` of `frame`, computed whole (the decode
    /// keeps it as the block grows; debug builds check the two agree).
    #[cfg(debug_assertions)]
    fn new(frame: u32, row: u32, c: [i16; 64]) -> Self {
        let mut nonzero = 0;
        let mut energy = 0;
        for (i, &v) in c.iter().enumerate() {
            nonzero |= ((v != 0) as u64) << i;
            energy += category(v as i32);
        }
        Column {
            frame,
            row,
            coefficients: c,
            nonzero,
            energy,
        }
    }
}

/// What the scan codes: for each block of an MCU, its component (an index into the
/// frame's) and its place in the MCU, with the Huffman tables it uses.
#[derive(Clone, Debug)]
struct Scan {
    /// `(component, h offset, v offset, DC table, AC table)` per block of an MCU.
    blocks: Vec<(usize, u32, u32, usize, usize)>,
    /// MCUs per row, and in all.
    mcus_per_row: u32,
    mcus: u64,
    /// Whether MCUs hold one block of one component (a non-interleaved scan).
    single: bool,
}

/// Where the byte parser is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Parse {
    /// Outside an image: waiting for the start-of-image marker.
    Outside,
    /// After `FF` outside an image.
    OutsideFf,
    /// Between segments: expecting `FF`.
    Marker,
    /// After `FF`: expecting a marker code.
    MarkerCode,
    /// A segment's length: its first byte read (or not).
    Length(u8, Option<u8>),
    /// A segment's payload: `left` bytes to go.
    Payload(u8, u32),
    /// Entropy-coded data.
    Data,
    /// After `FF` in entropy-coded data.
    DataFf,
}

/// The Huffman decoding of the entropy-coded data, one bit at a time.
#[derive(Clone, Debug)]
struct Decode {
    /// Reading a coefficient's extra bits (else a Huffman code).
    extra: bool,
    /// The bits of the current code or extra bits so far, and how many.
    code: u32,
    len: u32,
    /// The size (extra bits) of the coefficient whose value is being read.
    size: u32,
    /// The zigzag position the current symbol is about.
    zz: usize,
    /// The block of the MCU being coded, and the MCU.
    block: usize,
    mcu: u64,
    /// The MCU's column and row (`mcu` modulo and over the MCUs per row), kept as
    /// `mcu` moves so that a symbol costs no division.
    mcu_at: (u32, u32),
    /// Restart markers met in this scan.
    restarts: u64,
    /// The current block's coefficients so far (zigzag order), the sum of their sizes,
    /// and which are nonzero (bit `i` for position `i`): its [`Column`] as it grows.
    cur: [i16; 64],
    energy: u32,
    mask: u64,
    /// The blocks above and to the left of the current one ([`Column::EMPTY`] where the
    /// image has none), and whether it has them.
    above: Column,
    left: Column,
    neighbours: (bool, bool),
    /// Nonzero coefficients of the current block so far, and the size of the last.
    nonzero: u32,
    last_size: u32,
    /// The last AC symbol (run and size) of the block.
    last_rs: u32,
    /// Each component's DC prediction (the last DC value).
    dc: [i32; 4],
    /// Set when the data no longer makes sense: the model is off.
    lost: bool,
}

impl Decode {
    fn new() -> Self {
        Self {
            extra: false,
            code: 0,
            len: 0,
            size: 0,
            zz: 0,
            block: 0,
            mcu: 0,
            mcu_at: (0, 0),
            restarts: 0,
            cur: [0; 64],
            energy: 0,
            mask: 0,
            above: Column::EMPTY,
            left: Column::EMPTY,
            neighbours: (false, false),
            nonzero: 0,
            last_size: 0,
            last_rs: 0,
            dc: [0; 4],
            lost: false,
        }
    }
}

/// Longest segment payload kept for parsing (the largest a JPEG segment can be).
const SEGMENT_MAX: usize = 65_535;

/// Most block columns a component can have: an MCU row of a frame as wide as a JPEG
/// can say (65535 samples) holds at most `65535 / 8`, rounded up.
const COLUMNS_MAX: u32 = 8192;

/// The JPEG model's state.
#[derive(Clone, Debug)]
pub(super) struct JpegModel {
    parse: Parse,
    /// The payload of the segment being read, when it is one the model parses.
    segment: Vec<u8>,
    /// Huffman tables: DC 0..=3, then AC 0..=3.
    tables: [Option<Box<Huffman>>; 8],
    /// The frame's components and size in samples, when it is one the model follows.
    components: Vec<Component>,
    /// Per component, the last block of each block column. The vectors only grow (at
    /// most to [`COLUMNS_MAX`]), and a block of an earlier frame does not count, so a
    /// frame header costs no more than its bytes however large it claims the image is.
    columns: [Vec<Column>; 4],
    /// Frames met so far.
    frame_count: u32,
    width: u32,
    height: u32,
    frame_ok: bool,
    restart_interval: u32,
    scan: Option<Scan>,
    d: Decode,
    /// Context hashes of the current symbol (set when it starts; the first `used`).
    symbol: [u32; JPEG_CONTEXTS],
    /// How many of the contexts the predictor has tables for.
    used: usize,
    /// The current symbol's component, table, position and size, hashed.
    key: u32,
    /// Whether the current byte is entropy-coded data the model follows.
    active: bool,
}

/// The number of bits of `|v|`: the JPEG size category (0 for 0).
#[inline]
fn category(v: i32) -> u32 {
    32 - v.unsigned_abs().leading_zeros()
}

/// One step of the context hashes.
#[inline]
fn mix(h: u32, x: u32) -> u32 {
    (h ^ x).wrapping_mul(0x2F0B_3A49).rotate_left(11) ^ 0x9E37_79B1
}

/// The contexts every level that has the JPEG model uses (its fast level has tables
/// for these only).
const FIRST_CONTEXTS: usize = 4;

impl JpegModel {
    /// A model of which the predictor reads every context.
    #[cfg(test)]
    pub(super) fn new() -> Self {
        Self::with_contexts(JPEG_CONTEXTS)
    }

    /// A model of which the predictor reads the first `used` contexts (the others'
    /// hashes are not computed where `used` is at most [`FIRST_CONTEXTS`]).
    pub(super) fn with_contexts(used: usize) -> Self {
        Self {
            parse: Parse::Outside,
            segment: Vec::new(),
            tables: Default::default(),
            components: Vec::new(),
            columns: Default::default(),
            frame_count: 0,
            width: 0,
            height: 0,
            frame_ok: false,
            restart_interval: 0,
            scan: None,
            d: Decode::new(),
            symbol: [0; JPEG_CONTEXTS],
            used,
            key: 0,
            active: false,
        }
    }

    /// Whether the bits of the current byte are entropy-coded data the model follows.
    #[inline]
    pub(super) fn active(&self) -> bool {
        self.active
    }

    /// Whether the current bit starts a group of up to 4 bits of a symbol, which shares
    /// one bucket of slots per context.
    #[inline]
    pub(super) fn group_start(&self) -> bool {
        self.d.len % 4 == 0
    }

    /// Context `j`'s hash for the group of bits the current bit is in.
    #[inline]
    pub(super) fn hash(&self, j: usize) -> u32 {
        let g = self.d.len & !3;
        let prefix = if g == 0 {
            1
        } else {
            (1 << g) | (self.d.code >> (self.d.len - g))
        };
        mix(self.symbol[j], prefix << 5 | g)
    }

    /// The current bit's slot in its group's bucket (`1..=15`): the group's bits so far
    /// with a leading 1.
    #[inline]
    pub(super) fn index(&self) -> usize {
        let b = self.d.len % 4;
        ((1 << b) | (self.d.code & ((1 << b) - 1))) as usize
    }

    /// A small context for the mixers' weight sets (`0..256` each): the coefficient's
    /// position and what is being read, and how far into it with the component.
    #[inline]
    pub(super) fn sets(&self) -> (usize, usize) {
        let d = &self.d;
        let kind = match (d.extra, d.len) {
            (false, 0..=2) => 0,
            (false, _) => 1,
            (true, 0) => 2,
            (true, _) => 3,
        };
        let c = self.scan.as_ref().map_or(0, |s| s.blocks[d.block].0.min(3));
        (
            kind << 6 | d.zz.min(63),
            (d.len.min(15) as usize) << 4 | (d.extra as usize) << 3 | c << 1 | (d.zz == 0) as usize,
        )
    }

    /// A hash of the whole state of the current bit, for an APM.
    #[inline]
    pub(super) fn state_hash(&self) -> u32 {
        mix(self.key, (1 << self.d.len.min(20)) | self.d.code)
    }

    /// After a byte: follow the headers, or notice the end of the data.
    pub(super) fn byte(&mut self, b: u8) {
        self.parse = match self.parse {
            Parse::Outside => {
                if b == 0xFF {
                    Parse::OutsideFf
                } else {
                    Parse::Outside
                }
            }
            Parse::OutsideFf => match b {
                0xD8 => {
                    self.frame_ok = false;
                    self.scan = None;
                    self.restart_interval = 0;
                    Parse::Marker
                }
                0xFF => Parse::OutsideFf,
                _ => Parse::Outside,
            },
            Parse::Marker => {
                if b == 0xFF {
                    Parse::MarkerCode
                } else {
                    Parse::Outside
                }
            }
            Parse::MarkerCode => self.marker(b),
            Parse::Length(m, None) => Parse::Length(m, Some(b)),
            Parse::Length(m, Some(hi)) => {
                let len = (hi as u32) << 8 | b as u32;
                if len < 2 {
                    Parse::Outside
                } else {
                    self.segment.clear();
                    self.payload(m, len - 2)
                }
            }
            Parse::Payload(m, left) => {
                if Self::parsed(m) && self.segment.len() < SEGMENT_MAX {
                    self.segment.push(b);
                }
                self.payload(m, left - 1)
            }
            Parse::Data => {
                if b == 0xFF {
                    Parse::DataFf
                } else {
                    Parse::Data
                }
            }
            Parse::DataFf => match b {
                0x00 => Parse::Data,
                0xFF => Parse::DataFf,
                0xD0..=0xD7 => {
                    self.restart();
                    Parse::Data
                }
                _ => {
                    self.scan = None;
                    self.marker(b)
                }
            },
        };
        self.active = self.parse == Parse::Data && self.scan.is_some() && !self.d.lost;
    }

    /// Whether the model reads the payload of marker `m`.
    fn parsed(m: u8) -> bool {
        matches!(m, 0xC0..=0xCF | 0xDA | 0xDD)
    }

    /// After a marker code `m`.
    fn marker(&mut self, m: u8) -> Parse {
        match m {
            0xFF => Parse::MarkerCode,
            0xD9 => Parse::Outside,
            0x01 | 0xD0..=0xD8 => Parse::Marker,
            _ => Parse::Length(m, None),
        }
    }

    /// `left` payload bytes of marker `m` to go: when none are, act on the segment.
    fn payload(&mut self, m: u8, left: u32) -> Parse {
        if left > 0 {
            return Parse::Payload(m, left);
        }
        let seg = std::mem::take(&mut self.segment);
        let next = match m {
            0xC4 => {
                self.huffman_tables(&seg);
                Parse::Marker
            }
            0xC0 | 0xC1 => {
                self.frame_ok = self.frame(&seg).is_some();
                Parse::Marker
            }
            0xC2..=0xCF => {
                // Progressive, lossless or arithmetic-coded: not followed (DHT is C4,
                // handled above; JPG and DAC are harmless to skip).
                if !matches!(m, 0xC8 | 0xCC) {
                    self.frame_ok = false;
                }
                Parse::Marker
            }
            0xDD => {
                if seg.len() >= 2 {
                    self.restart_interval = (seg[0] as u32) << 8 | seg[1] as u32;
                }
                Parse::Marker
            }
            0xDA => {
                self.scan = if self.frame_ok {
                    self.scan_header(&seg)
                } else {
                    None
                };
                self.d = Decode::new();
                if self.scan.is_some() {
                    self.start_symbol();
                }
                Parse::Data
            }
            _ => Parse::Marker,
        };
        self.segment = seg;
        next
    }

    fn huffman_tables(&mut self, mut seg: &[u8]) {
        while seg.len() >= 17 {
            let (class, id) = (seg[0] >> 4, seg[0] & 15);
            let counts = &seg[1..17];
            let total: usize = counts.iter().map(|&c| c as usize).sum();
            let Some(values) = seg.get(17..17 + total) else {
                return;
            };
            if class <= 1 && id <= 3 {
                self.tables[class as usize * 4 + id as usize] =
                    Huffman::new(counts, values).map(Box::new);
            }
            seg = &seg[17 + total..];
        }
    }

    fn frame(&mut self, seg: &[u8]) -> Option<()> {
        self.components.clear();
        self.frame_count = self.frame_count.wrapping_add(1);
        let n = *seg.get(5)? as usize;
        self.height = (*seg.get(1)? as u32) << 8 | *seg.get(2)? as u32;
        self.width = (*seg.get(3)? as u32) << 8 | *seg.get(4)? as u32;
        if !(1..=4).contains(&n) || seg.len() < 6 + 3 * n || self.width == 0 || self.height == 0 {
            return None;
        }
        for i in 0..n {
            let c = &seg[6 + 3 * i..9 + 3 * i];
            let (h, v) = ((c[1] >> 4) as u32, (c[1] & 15) as u32);
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
                return None;
            }
            self.components.push(Component { id: c[0], h, v });
        }
        let hmax = self.components.iter().map(|c| c.h).max()?;
        let mcus_per_row = self.width.div_ceil(8 * hmax);
        for (c, columns) in self.components.iter().zip(&mut self.columns) {
            let need = (mcus_per_row * c.h).min(COLUMNS_MAX) as usize;
            if columns.len() < need {
                columns.resize(need, Column::EMPTY);
            }
        }
        Some(())
    }

    fn scan_header(&self, seg: &[u8]) -> Option<Scan> {
        let n = *seg.first()? as usize;
        if !(1..=4).contains(&n) || seg.len() < 1 + 2 * n {
            return None;
        }
        let hmax = self.components.iter().map(|c| c.h).max()?;
        let vmax = self.components.iter().map(|c| c.v).max()?;
        let mut blocks = Vec::new();
        for i in 0..n {
            let (id, t) = (seg[1 + 2 * i], seg[2 + 2 * i]);
            let c = self.components.iter().position(|c| c.id == id)?;
            let (dc, ac) = ((t >> 4) as usize, 4 + (t & 15) as usize);
            if dc > 3 || ac > 7 || self.tables[dc].is_none() || self.tables[ac].is_none() {
                return None;
            }
            let comp = &self.components[c];
            let (h, v) = if n == 1 { (1, 1) } else { (comp.h, comp.v) };
            for dv in 0..v {
                for dh in 0..h {
                    blocks.push((c, dh, dv, dc, ac));
                }
            }
        }
        if blocks.len() > 10 {
            return None;
        }
        let (mcus_per_row, rows) = if n == 1 {
            let c = &self.components[blocks[0].0];
            (
                (self.width * c.h).div_ceil(hmax).div_ceil(8),
                (self.height * c.v).div_ceil(vmax).div_ceil(8),
            )
        } else {
            (
                self.width.div_ceil(8 * hmax),
                self.height.div_ceil(8 * vmax),
            )
        };
        Some(Scan {
            blocks,
            mcus_per_row,
            mcus: mcus_per_row as u64 * rows as u64,
            single: n == 1,
        })
    }

    /// At a restart marker: the DC predictions restart, and the next MCU is the one
    /// after the interval's.
    fn restart(&mut self) {
        if self.scan.is_none() {
            return;
        }
        let d = &mut self.d;
        d.restarts += 1;
        d.dc = [0; 4];
        if self.restart_interval > 0 {
            d.mcu = d.restarts * self.restart_interval as u64;
            let per_row = self.scan.as_ref().map_or(1, |s| s.mcus_per_row.max(1)) as u64;
            d.mcu_at = ((d.mcu % per_row) as u32, (d.mcu / per_row) as u32);
            d.lost = false;
        } else {
            d.lost = true;
        }
        d.block = 0;
        self.start_block();
    }

    /// The block column and row of the MCU's current block, and its component.
    fn place(&self) -> (usize, u32, u32) {
        let s = self.scan.as_ref().expect("a scan");
        let (c, dh, dv, _, _) = s.blocks[self.d.block];
        let (mx, my) = self.d.mcu_at;
        if s.single {
            (c, mx, my)
        } else {
            let comp = &self.components[c];
            (c, mx * comp.h + dh, my * comp.v + dv)
        }
    }

    fn start_block(&mut self) {
        let d = &mut self.d;
        d.extra = false;
        d.code = 0;
        d.len = 0;
        d.zz = 0;
        d.cur = [0; 64];
        d.energy = 0;
        d.mask = 0;
        d.nonzero = 0;
        d.last_size = 0;
        d.last_rs = 0;
        if !self.scan.as_ref().is_some_and(|s| d.mcu < s.mcus) {
            d.lost = true;
        }
        if !d.lost {
            let (above, left) = self.neighbours();
            let (above, left) = (above.copied(), left.copied());
            let d = &mut self.d;
            d.neighbours = (above.is_some(), left.is_some());
            d.above = above.unwrap_or(Column::EMPTY);
            d.left = left.unwrap_or(Column::EMPTY);
            self.start_symbol();
        }
    }

    /// The blocks above and to the left of the current one, if the image has them.
    fn neighbours(&self) -> (Option<&Column>, Option<&Column>) {
        let (c, x, y) = self.place();
        let frame = self.frame_count;
        let get = |x: u32, y: u32| {
            self.columns[c]
                .get(x as usize)
                .filter(|b| b.frame == frame && b.row == y)
        };
        (
            y.checked_sub(1).and_then(|y| get(x, y)),
            x.checked_sub(1).and_then(|x| get(x, y)),
        )
    }

    /// Set the context hashes of the symbol about to be read.
    fn start_symbol(&mut self) {
        let (c, _, _) = self.place();
        let s = self.scan.as_ref().expect("a scan");
        let (_, _, _, dc_table, ac_table) = s.blocks[self.d.block];
        let d = &self.d;
        let (above, left) = (&d.above, &d.left);
        let (ab, lf) = (&above.coefficients, &left.coefficients);
        let z = d.zz;
        let table = if z == 0 { dc_table } else { ac_table };
        let key = mix(
            mix(0x5bd1_e995, (c as u32) << 8 | table as u32),
            (z as u32) << 8 | (d.extra as u32) << 7 | d.size,
        );
        let (a, l) = (ab[z] as i32, lf[z] as i32);
        // The expected value: for the DC, the neighbours' mean less the prediction it is
        // coded against; for an AC coefficient, the neighbours' sum.
        let expect = if z == 0 {
            let p = match d.neighbours {
                (true, true) => (a + l) / 2,
                (true, false) => a,
                (false, true) => l,
                (false, false) => d.dc[c.min(3)],
            };
            p - d.dc[c.min(3)]
        } else {
            a + l
        };
        // Nonzero coefficients of a neighbour from the current position on (at most 7).
        let rest = |b: &Column| (b.nonzero >> z).count_ones().min(7);
        // The coefficients of the current block one step lower in each frequency: their
        // sizes, and their values clamped to 4 bits.
        let [up, back] = FREQ_NEIGHBOURS[z];
        let size = |i: u8| d.cur.get(i as usize).map_or(0, |&v| category(v as i32));
        let value = |i: u8| {
            d.cur
                .get(i as usize)
                .map_or(0, |&v| (v as i32).clamp(-7, 7) as u32 & 15)
        };
        let sign = |v: i32| (v.signum() + 1) as u32;
        // Most useful first: a level with fewer tables uses the first ones.
        let first = [
            mix(key, size(up) << 4 | size(back)),
            mix(key, expect.clamp(-12, 12) as u32 & 31),
            mix(
                mix(0x1656_67b1, (c as u32) << 8 | (z as u32).min(15)),
                (d.extra as u32) << 12
                    | d.size << 8
                    | (category(a) + category(l)) << 4
                    | d.last_size,
            ),
            mix(key, d.nonzero.min(15) << 4 | d.last_size),
        ];
        self.symbol[..FIRST_CONTEXTS].copy_from_slice(&first);
        if self.used <= FIRST_CONTEXTS {
            self.key = key;
            return;
        }
        self.symbol[FIRST_CONTEXTS..].copy_from_slice(&[
            mix(
                key,
                (a.clamp(-7, 7) as u32 & 15) << 4 | (l.clamp(-7, 7) as u32 & 15),
            ),
            mix(key, value(up) << 4 | value(back)),
            key,
            mix(
                key,
                sign(a) << 6 | sign(l) << 4 | category(a.abs().max(l.abs())),
            ),
            mix(key, d.energy.min(63) << 6 | above.energy.min(63)),
            mix(key, rest(above) << 3 | rest(left)),
            mix(key, d.last_rs << 4 | category(a)),
        ]);
        self.key = key;
    }

    /// After a bit of the entropy-coded data (only when [`JpegModel::active`]).
    pub(super) fn bit(&mut self, bit: u32) {
        let d = &mut self.d;
        d.code = d.code << 1 | bit;
        d.len += 1;
        if d.extra {
            if d.len < d.size {
                return;
            }
            let (s, v) = (d.size, d.code as i32);
            let value = if v >> (s - 1) != 0 {
                v
            } else {
                v - (1 << s) + 1
            };
            self.coefficient(value);
            return;
        }
        let s = self.scan.as_ref().expect("a scan");
        let (_, _, _, dc_table, ac_table) = s.blocks[d.block];
        let table = if d.zz == 0 { dc_table } else { ac_table };
        let Some(t) = self.tables[table].as_deref() else {
            d.lost = true;
            self.active = false;
            return;
        };
        let Some(rs) = t.lookup(d.code, d.len) else {
            if d.len >= 16 {
                d.lost = true;
                self.active = false;
            }
            return;
        };
        d.code = 0;
        d.len = 0;
        if d.zz == 0 {
            d.size = rs as u32;
            if d.size > 16 {
                d.lost = true;
                self.active = false;
                return;
            }
            if d.size == 0 {
                self.coefficient(0);
                return;
            }
            d.extra = true;
            self.start_symbol();
            return;
        }
        let (r, s) = ((rs >> 4) as usize, (rs & 15) as u32);
        d.last_rs = rs as u32;
        if s == 0 {
            if r == 15 {
                d.zz += 16;
                if d.zz >= 64 {
                    d.lost = true;
                    self.active = false;
                    return;
                }
                self.start_symbol();
            } else {
                self.end_block();
            }
            return;
        }
        d.zz += r;
        if d.zz >= 64 {
            d.lost = true;
            self.active = false;
            return;
        }
        d.size = s;
        d.extra = true;
        self.start_symbol();
    }

    /// The coefficient at the current position is `value` (for the DC, the
    /// difference): store it and go on to the next symbol.
    fn coefficient(&mut self, value: i32) {
        let (c, _, _) = self.place();
        let d = &mut self.d;
        d.extra = false;
        d.code = 0;
        d.len = 0;
        let v = if d.zz == 0 {
            let dc = d.dc[c.min(3)].wrapping_add(value).clamp(-32768, 32767);
            d.dc[c.min(3)] = dc;
            dc
        } else {
            value
        };
        d.cur[d.zz] = v as i16;
        d.energy += category(v as i16 as i32);
        d.mask |= ((v as i16 != 0) as u64) << d.zz;
        if value != 0 {
            d.nonzero += 1;
            d.last_size = category(value);
        }
        d.size = 0;
        d.zz += 1;
        if d.zz >= 64 {
            self.end_block();
        } else {
            self.start_symbol();
        }
    }

    /// The current block is complete: keep it as a neighbour and go on to the next.
    fn end_block(&mut self) {
        let (c, x, y) = self.place();
        let d = &self.d;
        let frame = self.frame_count;
        if let Some(col) = self.columns[c].get_mut(x as usize) {
            *col = Column {
                frame,
                row: y,
                coefficients: d.cur,
                nonzero: d.mask,
                energy: d.energy,
            };
            #[cfg(debug_assertions)]
            {
                let whole = Column::new(frame, y, d.cur);
                debug_assert!(col.nonzero == whole.nonzero && col.energy == whole.energy);
            }
        }
        let s = self.scan.as_ref().expect("a scan");
        self.d.block += 1;
        if self.d.block == s.blocks.len() {
            self.d.block = 0;
            self.d.mcu += 1;
            let at = &mut self.d.mcu_at;
            at.0 += 1;
            if at.0 >= s.mcus_per_row {
                *at = (0, at.1 + 1);
            }
        }
        self.start_block();
        if self.d.lost {
            self.active = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_neighbours_come_earlier() {
        for z in 0..64 {
            for &n in &FREQ_NEIGHBOURS[z] {
                assert!(n == 64 || (n as usize) < z, "{z}: {n}");
            }
            assert_eq!(UNZIGZAG[ZIGZAG[z] as usize] as usize, z);
        }
    }

    #[test]
    fn canonical_tables_decode_their_codes() {
        // Two codes of length 2 (00, 01), one of length 3 (100).
        let mut counts = [0u8; 16];
        counts[1] = 2;
        counts[2] = 1;
        let t = Huffman::new(&counts, &[7, 8, 9]).unwrap();
        assert_eq!(t.lookup(0b00, 2), Some(7));
        assert_eq!(t.lookup(0b01, 2), Some(8));
        assert_eq!(t.lookup(0b100, 3), Some(9));
        assert_eq!(t.lookup(0b1, 1), None);
        assert_eq!(t.lookup(0b101, 3), None);
        // Three codes of length 1 are not a prefix code.
        counts = [0; 16];
        counts[0] = 3;
        assert!(Huffman::new(&counts, &[1, 2, 3]).is_none());
    }

    /// The shipped JPEG decodes to the end of its scan: every block of the frame is
    /// met, and the model stays on over the whole entropy-coded data.
    #[test]
    fn follows_a_real_scan_to_its_end() {
        let Some(data) = super::super::corpus_file("fireworks.jpeg") else {
            return;
        };
        let mut m = JpegModel::new();
        let (mut active, mut last_mcu, mut mcus) = (0usize, 0u64, 0u64);
        for &b in &data {
            if m.active() {
                active += 1;
                for i in (0..8).rev() {
                    m.bit((b >> i) as u32 & 1);
                }
                last_mcu = m.d.mcu;
                mcus = m.scan.as_ref().map_or(0, |s| s.mcus);
            }
            m.byte(b);
        }
        eprintln!(
            "{active} data bytes of {}, {last_mcu} MCUs of {mcus}",
            data.len()
        );
        assert!(active > data.len() * 9 / 10, "{active}");
        assert!(mcus > 0 && last_mcu == mcus, "{last_mcu} of {mcus}");
    }

    /// Run the model over `data` as the predictor does: the bits of the bytes it
    /// follows, then every byte.
    fn follow(m: &mut JpegModel, data: &[u8]) {
        for &b in data {
            if m.active() {
                for i in (0..8).rev() {
                    if m.active() {
                        m.bit((b >> i) as u32 & 1);
                    }
                }
            }
            m.byte(b);
        }
    }

    /// Damaged images (bytes overwritten, dropped or repeated anywhere, headers
    /// included) never make the model panic or keep more than its bounds.
    #[test]
    fn survives_damaged_images() {
        let Some(data) = super::super::corpus_file("fireworks.jpeg") else {
            return;
        };
        let data = &data[..data.len().min(6000)];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for round in 0..200 {
            let mut d = data.to_vec();
            for _ in 0..1 + round % 8 {
                let i = next(d.len());
                match next(3) {
                    0 => d[i] = next(256) as u8,
                    1 => {
                        d.remove(i);
                    }
                    _ => {
                        let b = d[i];
                        d.insert(i, b)
                    }
                }
            }
            let mut m = JpegModel::new();
            follow(&mut m, &d);
            assert!(m.columns.iter().all(|c| c.len() <= COLUMNS_MAX as usize));
            assert!(m.segment.capacity() <= 2 * SEGMENT_MAX);
        }
    }

    /// Frame headers claiming the largest image, over and over, grow the neighbour
    /// columns once: a header costs no more than its bytes.
    #[test]
    fn large_frame_claims_cost_nothing_more() {
        let mut d = vec![0xFF, 0xD8];
        let sof = [
            0xFF, 0xC0, 0, 17, 8, 0xFF, 0xFF, 0xFF, 0xFF, 3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0,
        ];
        for _ in 0..1000 {
            d.extend_from_slice(&sof);
        }
        let mut m = JpegModel::new();
        follow(&mut m, &d);
        assert_eq!(m.frame_count, 1000);
        assert!(m.frame_ok);
        for c in &m.columns[..3] {
            assert_eq!(c.len(), COLUMNS_MAX as usize);
            assert_eq!(c.capacity(), COLUMNS_MAX as usize);
        }
    }
}
