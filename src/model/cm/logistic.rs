//! The logistic function and its inverse on 12-bit probabilities, in integers.
//!
//! `squash(x) = 4096 / (1 + e^(-x / 256))` for a logit `x` in `-2047..=2047` (8
//! fractional bits), by linear interpolation in a 33-entry table (every 128); `stretch`
//! is its inverse, tabulated for every probability by inverting `squash`. Both are
//! exact integer functions, the same on every build.

/// `squash` at `x = (i - 16) * 128`, rounded.
const SQUASH: [i32; 33] = [
    1, 2, 4, 6, 10, 17, 27, 45, 74, 120, 194, 311, 488, 747, 1102, 1546, 2048, 2550, 2994, 3349,
    3608, 3785, 3902, 3976, 4022, 4051, 4069, 4079, 4086, 4090, 4092, 4094, 4095,
];

/// [`squash_interpolated`] of every logit `-2047..=2047`, so that a prediction costs one
/// load instead of two and the interpolation.
const SQUASHED: [u16; 4095] = {
    let mut t = [0u16; 4095];
    let mut i = 0;
    while i < 4095 {
        t[i] = squash_interpolated(i as i32 - 2047) as u16;
        i += 1;
    }
    t
};

/// The probability (12-bit) of logit `x` (8 fractional bits), clamped to `±2047`.
#[inline]
pub fn squash(x: i32) -> u32 {
    SQUASHED[(x.clamp(-2047, 2047) + 2047) as usize] as u32
}

/// [`squash`], computed: by linear interpolation in the 33-entry table.
#[inline]
pub const fn squash_interpolated(x: i32) -> u32 {
    let x = if x > 2047 {
        2047
    } else if x < -2047 {
        -2047
    } else {
        x
    };
    let s = x + 2048;
    let (i, w) = ((s >> 7) as usize, s & 127);
    ((SQUASH[i] * (128 - w) + SQUASH[i + 1] * w + 64) >> 7) as u32
}

/// `stretch[p]`: the smallest logit whose `squash` reaches `p`.
const fn stretch_table() -> [i16; 4096] {
    let mut t = [2047i16; 4096];
    let mut p = 0usize;
    let mut x = -2047;
    while x <= 2047 {
        let v = squash_interpolated(x) as usize;
        while p <= v {
            t[p] = x as i16;
            p += 1;
        }
        x += 1;
    }
    t
}
pub(super) const STRETCH: [i16; 4096] = stretch_table();

/// The logit (8 fractional bits, `-2047..=2047`) of a 12-bit probability.
#[inline]
pub fn stretch(p: u32) -> i32 {
    STRETCH[p.min(4095) as usize] as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squash_is_monotone_and_stretch_inverts_it() {
        let mut last = 0;
        for x in -2047..=2047 {
            let p = squash(x);
            assert!(p >= last, "{x}");
            last = p;
            // stretch(squash(x)) is the first logit with that probability.
            assert!(stretch(p) <= x && squash(stretch(p)) == p, "{x}");
        }
        // The table is the interpolation, clamping included.
        for x in -3000..=3000 {
            assert_eq!(squash(x), squash_interpolated(x), "{x}");
        }
        assert_eq!(squash(0), 2048);
        assert_eq!(stretch(2048), squash(0) as i32 - 2048 + stretch(2048));
        // Close to the real logistic: within 1 part in 4096 plus interpolation error.
        for x in (-2047..=2047).step_by(31) {
            let exact = 4096.0 / (1.0 + crate::math::exp(-(x as f64) / 256.0));
            assert!(
                (squash(x) as f64 - exact).abs() < 12.0,
                "{x}: {} vs {exact}",
                squash(x)
            );
        }
    }
}
