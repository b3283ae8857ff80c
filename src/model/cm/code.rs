//! The predictor's bits on an ANS stack, without a latent: the encoder runs the model
//! forward once, keeping each bit's (latent-free) probability, then pushes the bits from
//! the last to the first, so that the decoder pops them in file order and recomputes
//! the same probabilities as it goes. This is the order a model with history needs on
//! a stack (DESIGN section 1).

use constriction::stream::stack::DefaultAnsCoder;
use constriction::stream::{Decode, Encode};

use super::Predictor;
use crate::categorical::{AnsModel, SymbolModel, PRECISION};
use crate::error::CodecError;

/// One bit with probability `p1 / 4096` of a 1, as a two-symbol fixed-point model:
/// `0` takes `[0, (4096 - p1) 2^12)`, `1` the rest of `[0, 2^24)`.
#[derive(Clone, Copy, Debug)]
pub struct Bit(pub u32);

const SHIFT: u32 = PRECISION as u32 - super::PROB_BITS;

impl SymbolModel for Bit {
    fn alphabet_size(&self) -> usize {
        2
    }

    fn interval(&self, s: usize) -> Option<(u32, u32)> {
        let zero = (4096 - self.0) << SHIFT;
        match s {
            0 => Some((0, zero)),
            1 => Some((zero, self.0 << SHIFT)),
            _ => None,
        }
    }

    fn quantile(&self, q: u32) -> (usize, u32, u32) {
        let zero = (4096 - self.0) << SHIFT;
        if q < zero {
            (0, 0, zero)
        } else {
            (1, zero, self.0 << SHIFT)
        }
    }
}

/// Code `data` with a predictor of `2^bits` slots per table; returns the stack's words.
pub fn encode(data: &[u8], bits: u32) -> Result<Vec<u32>, CodecError> {
    let mut p = Predictor::new(bits);
    let mut probs = Vec::with_capacity(8 * data.len());
    for &b in data {
        for i in (0..8).rev() {
            probs.push(p.p() as u16);
            p.update((b >> i) as u32 & 1);
        }
    }
    let mut coder = DefaultAnsCoder::new();
    for (k, &p1) in probs.iter().enumerate().rev() {
        let bit = (data[k / 8] >> (7 - k % 8)) as usize & 1;
        coder
            .encode_symbol(bit, AnsModel(&Bit(p1 as u32)))
            .map_err(|_| CodecError::Corrupt("bit push"))?;
    }
    coder
        .into_compressed()
        .map_err(|_| CodecError::Corrupt("stack export"))
}

/// Decode `len` bytes from `words` (the output of [`encode`] with the same `bits`).
pub fn decode(words: &[u32], len: usize, bits: u32) -> Result<Vec<u8>, CodecError> {
    let mut coder = DefaultAnsCoder::from_compressed(words.to_vec())
        .map_err(|_| CodecError::Corrupt("compressed data ends in a zero word"))?;
    let mut p = Predictor::new(bits);
    let mut out = Vec::with_capacity(len.min(1 << 20));
    for _ in 0..len {
        let mut byte = 0u32;
        for _ in 0..8 {
            let bit = coder
                .decode_symbol(AnsModel(&Bit(p.p())))
                .map_err(|_| CodecError::Corrupt("bit"))? as u32;
            p.update(bit);
            byte = byte << 1 | bit;
        }
        out.push(byte as u8);
    }
    if !coder.is_empty() {
        return Err(CodecError::Corrupt("words left after the last bit"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stack holds the ideal code length of the predictions: within 32 bits of
    /// padding and 1e-4 bits of ANS rounding per bit (the same bound as the chains'),
    /// and every input round-trips.
    #[test]
    fn bits_round_trip_at_their_ideal_length() {
        let text = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/alice29-excerpt.txt"
        ))
        .unwrap();
        let random: Vec<u8> = (0..3000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for data in [&text[..], &text[..1], &random[..], &[][..]] {
            let bits = Predictor::bits_for(data.len(), 18);
            let words = encode(data, bits).unwrap();
            assert_eq!(decode(&words, data.len(), bits).unwrap(), data);
            let ideal = Predictor::new(bits).code_length_bits(data);
            let stored = 32.0 * words.len() as f64;
            let slack = 64.0 + 1e-4 * 8.0 * data.len() as f64;
            assert!(
                stored >= ideal - slack && stored <= ideal + slack,
                "{} bytes: {stored} bits stored, {ideal} ideal",
                data.len()
            );
        }
        // A word more or less is not the same stream.
        let bits = Predictor::bits_for(text.len(), 18);
        let words = encode(&text[..2000], bits).unwrap();
        assert!(decode(&words[1..], 2000, bits) != Ok(text[..2000].to_vec()));
    }
}
