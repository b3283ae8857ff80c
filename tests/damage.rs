//! Damage sweep: every truncation up to 300 bytes (and evenly spaced ones beyond) and
//! thousands of random single-bit flips of compressed samples of each model and
//! posterior kind. Each damaged file must either decode to the exact original (the bit
//! was a don't-care) or fail with an error; never panic, never return wrong bytes.
//! Memory is bounded by construction: every size field is checked against the header's
//! limits and buffers grow only with the bytes actually present.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use bbcodec::{decompress, DecodeOptions};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Default, Debug)]
struct Outcomes {
    tried: u64,
    exact: u64,
    clean_error: u64,
    wrong_bytes: u64,
    panics: u64,
}

fn classify(file: &[u8], original: &[u8], o: &mut Outcomes) {
    o.tried += 1;
    let opts = DecodeOptions {
        threads: 1,
        keep_blocks: false,
        ..Default::default()
    };
    match catch_unwind(AssertUnwindSafe(|| decompress(file, &opts))) {
        Ok(Ok((bytes, _))) if bytes == original => o.exact += 1,
        Ok(Ok(_)) => o.wrong_bytes += 1,
        Ok(Err(e)) => {
            assert!(!e.to_string().is_empty() && !e.to_string().contains('\n'));
            o.clean_error += 1
        }
        Err(_) => o.panics += 1,
    }
}

#[test]
fn damage_sweep_over_every_model_kind() {
    sweep("v2", 1200);
}

/// The version 1 reader stays under the same rule, on fewer flips.
#[test]
fn damage_sweep_over_version_1() {
    sweep("v1", 200);
}

fn sweep(version: &str, flips: usize) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/golden");
    let samples = [
        ("text4k.bbvi.bbc", "text4k.txt"),
        ("text4k.eq8.bbc", "text4k.txt"),
        ("kppkn3k.exact.bbc", "kppkn3k.bin"),
        ("kppkn3k.map.bbc", "kppkn3k.bin"),
        ("jpeg1500.raw.bbc", "jpeg1500.bin"),
        ("text4k.logistic.bbc", "text4k.txt"),
        ("kppkn3k.logistic-map.bbc", "kppkn3k.bin"),
        // Version 2 only:
        ("text4k.gumbel.bbc", "text4k.txt"),
        ("alice70k.default.bbc", "alice70k.txt"),
        ("text4k.cm.bbc", "text4k.txt"),
        ("kppkn3k.cm-map.bbc", "kppkn3k.bin"),
        ("jpeg1500.cm.bbc", "jpeg1500.bin"),
        ("text4k.logistic-iw4.bbc", "text4k.txt"),
        ("kppkn3k.cm-iw4.bbc", "kppkn3k.bin"),
        ("kppkn3k.cm-cis4.bbc", "kppkn3k.bin"),
    ];
    let mut total = Outcomes::default();
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    for (golden, input) in samples {
        let path = dir.join(version).join(golden);
        if version == "v1" && !path.exists() {
            continue;
        }
        let file = std::fs::read(path).unwrap();
        let original = std::fs::read(dir.join(input)).unwrap();
        let mut o = Outcomes::default();
        // Truncations.
        let mut lengths: Vec<usize> = (0..file.len().min(300)).collect();
        lengths.extend((300..file.len()).step_by(23));
        for n in lengths {
            classify(&file[..n], &original, &mut o);
        }
        // Trailing garbage.
        for extra in [&b"\0"[..], b"x", b"\xff\xff\xff\xff"] {
            let mut f = file.clone();
            f.extend_from_slice(extra);
            classify(&f, &original, &mut o);
        }
        // Random single-bit flips.
        for _ in 0..flips {
            let mut f = file.clone();
            let bit = (rng.next_u64() % (8 * f.len() as u64)) as usize;
            f[bit / 8] ^= 1 << (bit % 8);
            classify(&f, &original, &mut o);
        }
        eprintln!("{version}/{golden}: {o:?}");
        assert_eq!(o.panics, 0, "{golden}: {o:?}");
        assert_eq!(o.wrong_bytes, 0, "{golden}: {o:?}");
        total.tried += o.tried;
        total.exact += o.exact;
        total.clean_error += o.clean_error;
    }
    eprintln!("total: {total:?}");
    // Truncated files can never decode exactly (the end is missing or a CRC fails).
    assert!(total.clean_error > total.tried / 2);
}

#[test]
fn hostile_lengths_do_not_allocate() {
    // A valid header followed by a raw chunk claiming 64 MiB... with a header that
    // allows it, and then nothing: must fail fast on truncation.
    let mut opts = bbcodec::EncodeOptions {
        chunk_size: 1 << 26,
        ..bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture)
    };
    opts.threads = 1;
    let mut f = opts.header_bytes().unwrap();
    // Record head: n = 2^26, raw (bit 0), as a varint.
    bbcodec::wire::put_varint(&mut f, (1u64 << 26) << 2 | 1);
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(b"only a few bytes");
    let err = decompress(&f, &DecodeOptions::default()).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn damage_sweep_over_the_image_model() {
    // Fewer cases than the byte models: every decode re-runs the network fits.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/golden");
    let file = std::fs::read(dir.join("v2/mnist4.bbc")).unwrap();
    let original = std::fs::read(dir.join("mnist4.idx")).unwrap();
    let mut o = Outcomes::default();
    let mut rng = ChaCha8Rng::seed_from_u64(784);
    for n in (0..file.len()).step_by(5) {
        classify(&file[..n], &original, &mut o);
    }
    for _ in 0..200 {
        let mut f = file.clone();
        let bit = (rng.next_u64() % (8 * f.len() as u64)) as usize;
        f[bit / 8] ^= 1 << (bit % 8);
        classify(&f, &original, &mut o);
    }
    eprintln!("mnist4.bbc: {o:?}");
    assert_eq!(o.panics, 0, "{o:?}");
    assert_eq!(o.wrong_bytes, 0, "{o:?}");
}
