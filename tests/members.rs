//! Files of several members back to back (as `cat a.bbc b.bbc` makes), in the library
//! and on the command line, with the gzip habits that go with them: several inputs per
//! call, `-d`, `-k`, `-t`, `-l`.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use bbcodec::{
    DecodeOptions, EncodeOptions, Error, Estimator, FormatError, ModelKind, PosteriorKind,
};

fn bbcodec() -> Command {
    Command::cargo_bin("bbcodec").unwrap()
}

fn golden(name: &str) -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/golden")
            .join(name),
    )
    .unwrap()
}

fn decode_options() -> DecodeOptions {
    DecodeOptions {
        threads: 1,
        keep_blocks: false,
        skip_accounting: false,
        ..DecodeOptions::default()
    }
}

/// Members of different models, each of several chunks whose fits draw from seeds
/// that depend on the chunk's index in its member (so a decoder that numbered the
/// chunks across members would decode them wrong).
fn members() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let text = golden("text4k.txt");
    let table = golden("kppkn3k.bin");
    let mut cm = EncodeOptions {
        chunk_size: 2048,
        block_size: 256,
        ..EncodeOptions::default()
    };
    cm.fit.posterior = PosteriorKind::Bbvi(Estimator::Reparameterization);
    let mut mixture = EncodeOptions {
        chunk_size: 1024,
        ..EncodeOptions::for_model(ModelKind::Mixture)
    };
    mixture.fit.posterior = PosteriorKind::Bbvi(Estimator::ScoreFunction);
    let inputs = vec![text.clone(), table, text];
    let files = vec![
        bbcodec::compress(&inputs[0], &cm).unwrap().0,
        bbcodec::compress(&inputs[1], &mixture).unwrap().0,
        bbcodec::compress(&inputs[2], &cm).unwrap().0,
    ];
    (inputs, files)
}

#[test]
fn members_back_to_back_decode_to_their_contents_one_after_the_other() {
    let (inputs, files) = members();
    let joined = files.concat();
    let (out, total) = bbcodec::decompress(&joined, &decode_options()).unwrap();
    assert_eq!(out, inputs.concat());
    assert_eq!(total.members, 3);
    assert_eq!(total.compressed_bytes, joined.len() as u64);
    assert_eq!(total.model, "cm+mixture");
    let mut sink = Vec::new();
    let d = bbcodec::decode_members(&joined[..], &mut sink, &decode_options(), |_| {}).unwrap();
    assert_eq!(d.members.len(), 3);
    for ((m, f), x) in d.members.iter().zip(&files).zip(&inputs) {
        let (_, alone) = bbcodec::decompress(f, &decode_options()).unwrap();
        assert_eq!(m.compressed_bytes, f.len() as u64);
        assert_eq!(m.input_bytes, x.len() as u64);
        assert_eq!(m, &alone, "a member's report is the one of its file alone");
    }
    // The total is the members' sum.
    let sum = |f: fn(&bbcodec::RateReport) -> f64| d.members.iter().map(f).sum::<f64>();
    assert_eq!(
        total.chunks,
        d.members.iter().map(|m| m.chunks).sum::<u64>()
    );
    assert!((total.net_bits - sum(|m| m.net_bits)).abs() < 1e-6);
    assert!((total.neg_elbo_bits - sum(|m| m.neg_elbo_bits)).abs() < 1e-6);
    assert!((total.header_bits - sum(|m| m.header_bits)).abs() < 1e-6);
    assert!((total.container_bits - sum(|m| m.container_bits)).abs() < 1e-6);
    // Listing reads the same sizes without decoding.
    let listed = bbcodec::list_members(&joined[..], &decode_options()).unwrap();
    assert_eq!(listed.len(), 3);
    for (l, m) in listed.iter().zip(&d.members) {
        assert_eq!(
            (l.compressed_bytes, l.input_bytes, l.chunks, &l.model),
            (m.compressed_bytes, m.input_bytes, m.chunks, &m.model)
        );
    }
}

#[test]
fn anything_after_a_member_that_is_not_one_is_an_error() {
    let (_, files) = members();
    for tail in [
        &b"x"[..],
        b"BBC",
        b"\0\0\0\0",
        b"BBC\x7f",
        b"PK\x03\x04rest",
    ] {
        let mut f = files[0].clone();
        f.extend_from_slice(tail);
        let e = bbcodec::decompress(&f, &decode_options()).unwrap_err();
        assert!(
            matches!(e, Error::Format(FormatError::TrailingData)),
            "{tail:?}: {e}"
        );
        assert!(bbcodec::list_members(&f[..], &decode_options()).is_err());
    }
    // A second member cut short, or damaged, fails as a damaged member does.
    let mut f = files[0].clone();
    f.extend_from_slice(&files[1][..files[1].len() - 3]);
    assert!(bbcodec::decompress(&f, &decode_options()).is_err());
    let mut f = [files[0].clone(), files[1].clone()].concat();
    let n = f.len();
    f[n - 10] ^= 0x40;
    assert!(bbcodec::decompress(&f, &decode_options()).is_err());
}

#[test]
fn several_inputs_each_to_its_own_output_or_all_to_one() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.bin"));
    fs::write(&a, golden("text4k.txt")).unwrap();
    fs::write(&b, golden("kppkn3k.bin")).unwrap();
    // Each to its own output; the inputs are kept (-k is accepted, and the default).
    bbcodec()
        .arg("encode")
        .arg(&a)
        .arg(&b)
        .arg("-q")
        .assert()
        .success();
    bbcodec()
        .arg("-k")
        .arg("-f")
        .arg(&a)
        .arg(&b)
        .arg("-q")
        .assert()
        .success();
    let (ab, bb) = (dir.path().join("a.txt.bbc"), dir.path().join("b.bin.bbc"));
    assert!(ab.exists() && bb.exists() && a.exists() && b.exists());
    // gzip's -d, and -dc as a cluster.
    let out = bbcodec().arg("-dc").arg(&ab).arg(&bb).output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        out.stdout,
        [golden("text4k.txt"), golden("kppkn3k.bin")].concat()
    );
    fs::remove_file(&a).unwrap();
    bbcodec().arg("-d").arg(&ab).arg("-q").assert().success();
    assert_eq!(fs::read(&a).unwrap(), golden("text4k.txt"));
    // With -o, one output: a member per input.
    let both = dir.path().join("both.bbc");
    bbcodec()
        .args(["encode", "-q", "-o"])
        .arg(&both)
        .arg(&a)
        .arg(&b)
        .assert()
        .success();
    let out = bbcodec()
        .arg("decode")
        .arg("-c")
        .arg(&both)
        .output()
        .unwrap();
    assert_eq!(
        out.stdout,
        [golden("text4k.txt"), golden("kppkn3k.bin")].concat()
    );
    // -l lists it without decoding: two members, two chunks, the total size.
    let out = bbcodec().arg("-l").arg(&both).output().unwrap();
    assert!(out.status.success());
    let listing = String::from_utf8(out.stdout).unwrap();
    let row = listing.lines().nth(1).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    let size = fs::metadata(&both).unwrap().len().to_string();
    assert_eq!(cols[0], size, "{listing}");
    assert_eq!(cols[1], "7096", "{listing}");
    assert_eq!((cols[5], cols[6]), ("2", "2"), "{listing}");
    // inspect reports each member and the total.
    let out = bbcodec().arg("inspect").arg(&both).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("member 1:") && text.contains("member 2:"),
        "{text}"
    );
}

#[test]
fn test_mode_checks_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.txt");
    fs::write(&a, golden("text4k.txt")).unwrap();
    bbcodec().arg(&a).arg("-q").assert().success();
    let ab = dir.path().join("a.txt.bbc");
    fs::remove_file(&a).unwrap();
    let out = bbcodec().arg("-t").arg(&ab).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("OK"));
    assert!(!a.exists(), "-t writes nothing");
    // A damaged file fails the test (exit 1), the good one beside it still passes.
    let mut bad = fs::read(&ab).unwrap();
    let n = bad.len();
    bad[n / 2] ^= 1;
    let bad_path = dir.path().join("bad.bbc");
    fs::write(&bad_path, &bad).unwrap();
    let out = bbcodec()
        .args(["decode", "-t"])
        .arg(&bad_path)
        .arg(&ab)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.bbc") && err.contains("a.txt.bbc: OK"),
        "{err}"
    );
    assert!(!a.exists() && !dir.path().join("bad").exists());
}

#[test]
fn one_failing_input_of_several_leaves_the_others_done() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.txt");
    fs::write(&a, golden("text4k.txt")).unwrap();
    let missing = dir.path().join("missing.txt");
    let out = bbcodec()
        .arg("encode")
        .arg(&missing)
        .arg(&a)
        .arg("-q")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("missing.txt"), "{err}");
    assert!(dir.path().join("a.txt.bbc").exists());
    // Usage errors of several inputs: one report, --rm with one output.
    for args in [&["--report", "r.json"][..], &["--rm", "-o", "x.bbc"]] {
        let out = bbcodec()
            .arg("encode")
            .args(args)
            .arg(&a)
            .arg(&a)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}
