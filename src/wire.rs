//! Byte-level helpers of the file format: LEB128 varints, CRC-32, and a bounded reader
//! over a byte slice. A leaf module: it knows nothing of models or chunks.
//!
//! A varint is unsigned LEB128: seven bits per byte, least significant group first, the
//! high bit set on every byte but the last. Only the shortest encoding of a value is
//! accepted (no trailing `0x80` groups), so every value has exactly one encoding and a
//! flipped continuation bit is caught as an error rather than read as another number.

use std::io::{self, Read};

use crate::error::{Field, FormatError};

/// Longest varint of a `u64`.
pub const MAX_VARINT_BYTES: usize = 10;

/// Append `v` as a varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes of `v` as a varint.
pub fn varint_len(v: u64) -> usize {
    let bits = 64 - v.max(1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// CRC-32 (IEEE) of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// Check a stored CRC-32 against the one `computed` over what it covers.
pub fn check_crc(field: Field, stored: u32, computed: u32) -> Result<(), FormatError> {
    if stored == computed {
        Ok(())
    } else {
        Err(FormatError::Checksum {
            field,
            stored,
            computed,
        })
    }
}

/// Check `min <= got <= max`: below is [`FormatError::Invalid`], above
/// [`FormatError::Limit`].
pub fn check_range(field: Field, got: u64, min: u64, max: u64) -> Result<(), FormatError> {
    if got > max {
        return Err(FormatError::Limit { field, got, max });
    }
    if got < min {
        return Err(FormatError::Invalid { field, got });
    }
    Ok(())
}

/// Append `v` little endian.
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Decode one varint from the start of `bytes`; returns the value and its length.
fn decode_varint(bytes: &[u8], field: Field) -> Result<(u64, usize), FormatError> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(MAX_VARINT_BYTES) {
        let group = (b & 0x7F) as u64;
        if i == MAX_VARINT_BYTES - 1 && group > 1 {
            return Err(FormatError::Invalid { field, got: group });
        }
        v |= group << (7 * i);
        if b & 0x80 == 0 {
            if b == 0 && i > 0 {
                // A longer encoding than needed.
                return Err(FormatError::Invalid { field, got: 0 });
            }
            return Ok((v, i + 1));
        }
    }
    if bytes.len() < MAX_VARINT_BYTES {
        Err(FormatError::Truncated(field))
    } else {
        Err(FormatError::Invalid { field, got: v })
    }
}

/// A cursor over a byte slice whose every read is checked: a read past the end is
/// [`FormatError::Truncated`] naming the field, never a panic.
#[derive(Clone, Debug)]
pub struct SliceReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> SliceReader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize, field: Field) -> Result<&'a [u8], FormatError> {
        if n > self.remaining() {
            return Err(FormatError::Truncated(field));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self, field: Field) -> Result<u32, FormatError> {
        let b = self.take(4, field)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A varint.
    pub fn varint(&mut self, field: Field) -> Result<u64, FormatError> {
        let (v, n) = decode_varint(&self.bytes[self.pos..], field)?;
        self.pos += n;
        Ok(v)
    }

    /// A varint that must lie in `min..=max`.
    pub fn varint_in(&mut self, field: Field, min: u64, max: u64) -> Result<u64, FormatError> {
        let v = self.varint(field)?;
        check_range(field, v, min, max)?;
        Ok(v)
    }

    /// Fail unless every byte was read.
    pub fn finish(&self, field: Field) -> Result<(), FormatError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(FormatError::Invalid {
                field,
                got: self.remaining() as u64,
            })
        }
    }
}

/// Reads from a stream with every read checked (the end of the stream inside a field is
/// [`FormatError::Truncated`]), remembering the bytes read while it records (for a CRC
/// over a header).
pub struct StreamReader<'r, R: Read> {
    inner: &'r mut R,
    /// Every byte read since the last [`StreamReader::take_seen`], while `recording`.
    seen: Vec<u8>,
    recording: bool,
}

impl<'r, R: Read> StreamReader<'r, R> {
    /// Wrap `inner`.
    pub fn new(inner: &'r mut R) -> Self {
        Self {
            inner,
            seen: Vec::new(),
            recording: true,
        }
    }

    /// Stop remembering the bytes read (and forget those remembered).
    pub fn stop_recording(&mut self) {
        self.recording = false;
        self.seen = Vec::new();
    }

    /// Exactly `n` bytes; the buffer grows with the bytes actually present, so a
    /// hostile length never allocates more than the input holds.
    pub fn bytes(&mut self, n: usize, field: Field) -> Result<Vec<u8>, crate::error::Error> {
        let mut v = Vec::with_capacity(n.min(1 << 16));
        (&mut *self.inner).take(n as u64).read_to_end(&mut v)?;
        if v.len() != n {
            return Err(FormatError::Truncated(field).into());
        }
        if self.recording {
            self.seen.extend_from_slice(&v);
        }
        Ok(v)
    }

    /// One byte, or `None` at the end of the stream.
    pub fn byte_or_end(&mut self) -> Result<Option<u8>, crate::error::Error> {
        let mut b = [0u8; 1];
        loop {
            match self.inner.read(&mut b) {
                Ok(0) => return Ok(None),
                Ok(_) => {
                    if self.recording {
                        self.seen.push(b[0]);
                    }
                    return Ok(Some(b[0]));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self, field: Field) -> Result<u32, crate::error::Error> {
        let b = self.bytes(4, field)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A varint.
    pub fn varint(&mut self, field: Field) -> Result<u64, crate::error::Error> {
        let mut buf = [0u8; MAX_VARINT_BYTES];
        for i in 0..MAX_VARINT_BYTES {
            match self.byte_or_end()? {
                None => return Err(FormatError::Truncated(field).into()),
                Some(b) => {
                    buf[i] = b;
                    if b & 0x80 == 0 {
                        return Ok(decode_varint(&buf[..=i], field)?.0);
                    }
                }
            }
        }
        Ok(decode_varint(&buf, field)?.0)
    }

    /// A varint that must lie in `min..=max`.
    pub fn varint_in(
        &mut self,
        field: Field,
        min: u64,
        max: u64,
    ) -> Result<u64, crate::error::Error> {
        let v = self.varint(field)?;
        check_range(field, v, min, max)?;
        Ok(v)
    }

    /// The bytes read since the last call (and forget them).
    pub fn take_seen(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_with_their_length() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16383,
            16384,
            1 << 20,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
            let mut r = SliceReader::new(&b);
            assert_eq!(r.varint(Field::HeaderLength).unwrap(), v);
            assert!(r.is_empty());
            let mut s = &b[..];
            let mut sr = StreamReader::new(&mut s);
            assert_eq!(sr.varint(Field::HeaderLength).unwrap(), v);
            assert_eq!(sr.take_seen(), b);
        }
    }

    #[test]
    fn overlong_truncated_and_oversized_varints_are_refused() {
        // 0 written in two bytes.
        assert!(matches!(
            SliceReader::new(&[0x80, 0x00]).varint(Field::HeaderLength),
            Err(FormatError::Invalid { .. })
        ));
        assert!(matches!(
            SliceReader::new(&[0x80]).varint(Field::HeaderLength),
            Err(FormatError::Truncated(_))
        ));
        // 2^64 does not fit.
        let mut b = vec![0xFF; 9];
        b.push(0x02);
        assert!(SliceReader::new(&b).varint(Field::HeaderLength).is_err());
        assert!(matches!(
            SliceReader::new(&[5]).varint_in(Field::HeaderLength, 0, 4),
            Err(FormatError::Limit { got: 5, max: 4, .. })
        ));
    }
}
