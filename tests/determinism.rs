//! DESIGN section 2: output bytes never depend on the thread count, and repeated runs
//! are identical.

mod common;

use bbcodec::{compress, decompress, DecodeOptions};
use common::*;

#[test]
fn threads_1_and_2_give_identical_bytes() {
    // 12 chunks of 8 KB so that both threads get work.
    let data = mixture_data(1500, 64, 5, 21);
    let mut o = options(64, 8192, None);
    o.threads = 1;
    let (one, r1) = compress(&data, &o).unwrap();
    o.threads = 2;
    let (two, r2) = compress(&data, &o).unwrap();
    assert!(r1.chunks >= 10);
    assert!(one == two, "outputs differ between 1 and 2 threads");
    assert_eq!(r1, r2);
    for threads in [1, 2, 3] {
        let (back, _) = decompress(
            &one,
            &DecodeOptions {
                threads,
                keep_blocks: false,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(back == data);
    }
}

#[test]
fn repeated_encodes_are_identical() {
    let data = corpus_file("alice29.txt").unwrap_or_else(|| mixture_data(800, 64, 3, 4));
    for o in [
        bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture),
        bbvi(),
    ] {
        let (a, _) = compress(&data, &o).unwrap();
        let (b, _) = compress(&data, &o).unwrap();
        assert!(a == b);
    }
}

#[test]
fn seed_changes_fits_but_not_the_content() {
    let data = mixture_data(400, 64, 4, 8);
    let mut o = bbvi();
    let (a, _) = compress(&data, &o).unwrap();
    o.fit.seed ^= 1;
    let (b, _) = compress(&data, &o).unwrap();
    assert!(a != b, "seed is not used");
    assert!(decompress(&b, &DecodeOptions::default()).unwrap().0 == data);
}

/// A reader that hands out at most a few bytes per read, as a pipe may.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.step = self.step % 7 + 1;
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn streamed_input_of_any_length_codes_as_in_memory() {
    // Lengths at and around whole numbers of chunks, where the encoder looks one byte
    // past a batch to tell whether its last chunk is the input's last.
    let data = mixture_data(100, 64, 3, 5);
    let cs = 1024;
    let mut o = options(64, cs as u32, None);
    for threads in [1, 2] {
        o.threads = threads;
        for len in [
            0,
            1,
            cs - 1,
            cs,
            cs + 1,
            2 * cs,
            3 * cs - 1,
            3 * cs,
            3 * cs + 1,
            5 * cs,
        ] {
            let (whole, _) = compress(&data[..len], &o).unwrap();
            let mut streamed = Vec::new();
            let input = Trickle {
                data: &data[..len],
                step: 0,
            };
            bbcodec::encode_stream(input, &mut streamed, &o, |_| {}).unwrap();
            assert!(streamed == whole, "{threads} threads, {len} bytes");
            let (back, _) = decompress(&streamed, &DecodeOptions::default()).unwrap();
            assert!(back == data[..len], "{threads} threads, {len} bytes");
        }
    }
}
