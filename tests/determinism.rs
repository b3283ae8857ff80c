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
