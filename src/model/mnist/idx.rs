//! IDX image files (the MNIST format): a 16-byte header (magic `00 00 08 03`, then
//! big-endian `u32` image count, rows and columns) followed by the pixels, one byte each,
//! row-major, image after image.

use super::{PIXELS, SIDE};
use crate::error::InputError as IdxError;

/// Bytes of an IDX image-file header.
pub const IDX_HEADER_BYTES: usize = 16;
/// Magic of an IDX file of unsigned bytes with three dimensions.
pub const IDX_IMAGES_MAGIC: [u8; 4] = [0, 0, 8, 3];

/// A parsed IDX image header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdxHeader {
    /// Declared number of images.
    pub count: u32,
    /// Rows per image.
    pub rows: u32,
    /// Columns per image.
    pub cols: u32,
}

impl IdxHeader {
    /// Parse and check a header for 28x28 images.
    pub fn parse(b: &[u8]) -> Result<Self, IdxError> {
        if b.len() < IDX_HEADER_BYTES {
            return Err(IdxError::Short(b.len()));
        }
        let magic = [b[0], b[1], b[2], b[3]];
        if magic != IDX_IMAGES_MAGIC {
            return Err(IdxError::Magic(magic));
        }
        let u = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let h = Self {
            count: u(4),
            rows: u(8),
            cols: u(12),
        };
        if h.rows as usize != SIDE || h.cols as usize != SIDE {
            return Err(IdxError::Size {
                rows: h.rows,
                cols: h.cols,
            });
        }
        Ok(h)
    }

    /// Check that `pixel_bytes` bytes follow the header.
    pub fn check_length(&self, pixel_bytes: u64) -> Result<(), IdxError> {
        let expected = self.count as u64 * PIXELS as u64;
        if pixel_bytes != expected {
            return Err(IdxError::Length {
                declared: self.count,
                bytes: pixel_bytes,
                expected,
            });
        }
        Ok(())
    }

    /// The 16 header bytes for `count` 28x28 images.
    pub fn bytes_for(count: u32) -> [u8; IDX_HEADER_BYTES] {
        let mut b = [0u8; IDX_HEADER_BYTES];
        b[..4].copy_from_slice(&IDX_IMAGES_MAGIC);
        b[4..8].copy_from_slice(&count.to_be_bytes());
        b[8..12].copy_from_slice(&(SIDE as u32).to_be_bytes());
        b[12..16].copy_from_slice(&(SIDE as u32).to_be_bytes());
        b
    }
}

/// Parse a whole IDX image file (gzip-compressed or not) into images of `PIXELS`
/// symbols.
pub fn read_images(bytes: &[u8]) -> Result<Vec<Vec<u16>>, IdxError> {
    let owned;
    let raw = if bytes.starts_with(&[0x1f, 0x8b]) {
        use std::io::Read;
        let mut v = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut v)
            .map_err(|e| IdxError::Gzip(crate::error::GzipError(e.kind())))?;
        owned = v;
        &owned[..]
    } else {
        bytes
    };
    let h = IdxHeader::parse(raw)?;
    h.check_length((raw.len() - IDX_HEADER_BYTES) as u64)?;
    Ok(raw[IDX_HEADER_BYTES..]
        .chunks(PIXELS)
        .map(|c| c.iter().map(|&b| b as u16).collect())
        .collect())
}
