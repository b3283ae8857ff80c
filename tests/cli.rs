//! The real `bbcodec` binary in temporary directories.

mod common;

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use common::*;

fn bbcodec() -> Command {
    Command::cargo_bin("bbcodec").unwrap()
}

fn sample() -> Vec<u8> {
    corpus_file("alice29.txt")
        .map(|d| d[..40_000].to_vec())
        .unwrap_or_else(|| mixture_data(600, 64, 3, 1))
}

/// Runs the command, expects exit 1 and exactly one line on stderr naming the cause.
fn assert_clean_failure(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "stderr: {err}");
    assert!(err.starts_with("bbcodec: "), "stderr: {err}");
    assert!(!err.contains("panicked"), "stderr: {err}");
    err
}

fn encode_file(dir: &Path, data: &[u8]) -> std::path::PathBuf {
    let inp = dir.join("in.dat");
    fs::write(&inp, data).unwrap();
    bbcodec()
        .arg("encode")
        .arg(&inp)
        .arg("-q")
        .assert()
        .success();
    dir.join("in.dat.bbc")
}

#[test]
fn encode_decode_roundtrip_with_default_names() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample();
    let bbc = encode_file(dir.path(), &data);
    assert!(bbc.exists());
    assert!(dir.path().join("in.dat").exists(), "input must be kept");
    fs::remove_file(dir.path().join("in.dat")).unwrap();
    bbcodec()
        .arg("decode")
        .arg(&bbc)
        .arg("-q")
        .assert()
        .success();
    assert_eq!(fs::read(dir.path().join("in.dat")).unwrap(), data);
}

#[test]
fn roundtrip_through_pipes_and_every_posterior() {
    let data = sample();
    for args in [
        vec![],
        vec!["--posterior", "map", "--block-size", "1024"],
        vec!["--model", "cm", "--latent-dim", "0"],
        vec!["--model", "mixture", "--posterior", "bbvi"],
        vec!["--model", "mixture", "--posterior", "exact"],
        vec!["--model", "mixture", "--posterior", "map"],
        vec![
            "--model",
            "mixture",
            "--estimator",
            "score-eq8",
            "--block-size",
            "128",
        ],
        vec![
            "--model",
            "mixture",
            "--components",
            "3",
            "--chunk-size",
            "10000",
        ],
    ] {
        let enc = bbcodec()
            .args(["encode", "-", "-c", "-q"])
            .args(&args)
            .write_stdin(data.clone())
            .output()
            .unwrap();
        assert!(
            enc.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&enc.stderr)
        );
        let dec = bbcodec()
            .args(["decode", "-", "-c", "-q"])
            .write_stdin(enc.stdout)
            .output()
            .unwrap();
        assert!(dec.status.success());
        assert!(dec.stdout == data, "{args:?}");
    }
}

/// Every key of `encode --report` and `inspect --json`, as documented.
const REPORT_KEYS: [&str; 38] = [
    "input_bytes",
    "compressed_bytes",
    "bits_per_byte",
    "net_bits",
    "coded_bits",
    "net_stderr_bits",
    "neg_elbo_bits",
    "neg_elbo_stderr_bits",
    "neg_log_px_bits",
    "neg_log_px_method",
    "iwae_samples",
    "neg_iwae_bits",
    "neg_iwae_stderr_bits",
    "particles",
    "bin_bits",
    "continuous_neg_elbo_bits",
    "bin_cost_bits",
    "kl_bits",
    "overhead_bits",
    "initial_bits",
    "bootstrap_bits",
    "header_bits",
    "raw_bits",
    "container_bits",
    "order0_bits",
    "elbo",
    "model",
    "posterior",
    "estimator",
    "block_size",
    "chunk_size",
    "chunks",
    "raw_chunks",
    "blocks",
    "bootstrap_blocks",
    "latent_off_blocks",
    "components",
    "members",
];

/// The keys of the report's `elbo` object.
const ELBO_KEYS: [&str; 9] = [
    "expected_log_joint",
    "entropy",
    "expected_log_lik",
    "kl_prior",
    "log_evidence",
    "kl_posterior",
    "elbo_eq3",
    "elbo_eq4",
    "elbo_eq5",
];

#[test]
fn report_and_inspect_agree() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("a.txt");
    fs::write(&inp, sample()).unwrap();
    let rep = dir.path().join("r.json");
    bbcodec()
        .args(["encode", "-q"])
        .arg(&inp)
        .arg("--report")
        .arg(&rep)
        .assert()
        .success();
    let enc: serde_json::Value = serde_json::from_slice(&fs::read(&rep).unwrap()).unwrap();
    let csv = dir.path().join("blocks.csv");
    let out = bbcodec()
        .args(["inspect", "--json"])
        .arg(dir.path().join("a.txt.bbc"))
        .arg("--blocks")
        .arg(&csv)
        .output()
        .unwrap();
    assert!(out.status.success());
    let ins: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "input_bytes",
        "compressed_bytes",
        "bits_per_byte",
        "net_bits",
        "neg_elbo_bits",
        "neg_elbo_stderr_bits",
        "neg_log_px_bits",
        "neg_log_px_method",
        "kl_bits",
        "overhead_bits",
        "initial_bits",
        "header_bits",
        "container_bits",
        "elbo",
    ] {
        assert!(ins.get(key).is_some(), "missing {key}");
        assert_eq!(
            ins[key], enc[key],
            "{key} differs between encode and inspect"
        );
    }
    // The key set is exactly the documented one (keys may be added, never renamed or
    // removed: a new key goes into this list and into the README's table).
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let mut documented = REPORT_KEYS.map(String::from).to_vec();
    documented.sort();
    assert_eq!(keys(&enc), documented);
    // inspect adds each member's report.
    documented.push("member_reports".into());
    documented.sort();
    assert_eq!(keys(&ins), documented);
    assert_eq!(ins["member_reports"].as_array().unwrap().len(), 1);
    let mut elbo = ELBO_KEYS.map(String::from).to_vec();
    elbo.sort();
    assert_eq!(keys(&ins["elbo"]), elbo);
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = &readme[readme.find("## Reading the report").unwrap()..];
    let table = &table[..table[3..].find("\n## ").unwrap()];
    for key in REPORT_KEYS
        .iter()
        .chain(&ELBO_KEYS)
        .chain(&["member_reports"])
    {
        assert!(
            table.contains(&format!("`{key}`")),
            "the README's report table does not document `{key}`"
        );
    }
    let csv = fs::read_to_string(csv).unwrap();
    assert!(csv.starts_with("chunk,block,len,bootstrap,latent,net_bits"));
    let rows = csv.lines().count() - 1;
    assert_eq!(
        rows as u64,
        ins["blocks"].as_u64().unwrap() + ins["bootstrap_blocks"].as_u64().unwrap()
    );
}

#[test]
fn never_overwrites_without_force_and_rm_removes_input() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample();
    let bbc = encode_file(dir.path(), &data);
    let before = fs::read(&bbc).unwrap();
    let err = assert_clean_failure(bbcodec().arg("encode").arg(dir.path().join("in.dat")));
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(fs::read(&bbc).unwrap(), before);
    bbcodec()
        .arg("encode")
        .arg(dir.path().join("in.dat"))
        .args(["-f", "-q", "--rm"])
        .assert()
        .success();
    assert!(!dir.path().join("in.dat").exists());
    assert_eq!(fs::read(&bbc).unwrap(), before);
}

#[test]
fn corrupt_files_exit_1_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample();
    let bbc = encode_file(dir.path(), &data);
    let good = fs::read(&bbc).unwrap();
    let bad = dir.path().join("bad.bbc");
    let out = dir.path().join("out");
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut flipped = good.clone();
    let mid = good.len() / 2;
    flipped[mid] ^= 0x20;
    cases.push(("flipped byte", flipped));
    cases.push(("truncated", good[..good.len() - 7].to_vec()));
    cases.push(("truncated header", good[..20].to_vec()));
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"garbage");
    cases.push(("trailing garbage", trailing));
    cases.push((
        "not a bbcodec file",
        b"hello world, this is not compressed".to_vec(),
    ));
    cases.push(("empty", Vec::new()));
    for (what, bytes) in cases {
        fs::write(&bad, &bytes).unwrap();
        let err = assert_clean_failure(
            bbcodec()
                .arg("decode")
                .arg(&bad)
                .arg("-o")
                .arg(&out)
                .arg("-f"),
        );
        // Neither the output nor its partial file (`.out.bbcodec-partial-PID`, where
        // the output is written before the rename that only success makes) is left.
        assert_eq!(
            dir_entries(dir.path()),
            ["bad.bbc", "in.dat", "in.dat.bbc"],
            "{what}: output or partial output left behind"
        );
        assert!(
            err.contains("bad.bbc"),
            "{what}: message does not name the file: {err}"
        );
        assert_clean_failure(bbcodec().arg("inspect").arg(&bad));
    }
}

#[test]
fn usage_errors_exit_2_and_bad_values_exit_1() {
    let out = bbcodec().args(["encode"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Without a subcommand, arguments are files to encode (as gzip takes them).
    let out = bbcodec().args(["--frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = assert_clean_failure(bbcodec().arg("frobnicate"));
    assert!(err.contains("frobnicate"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("x");
    fs::write(&inp, b"abc").unwrap();
    let err = assert_clean_failure(
        bbcodec()
            .arg("encode")
            .arg(&inp)
            .args(["--posterior", "magic"]),
    );
    assert!(err.contains("--posterior"), "{err}");
    let err = assert_clean_failure(bbcodec().arg("encode").arg(&inp).args([
        "--posterior",
        "exact",
        "--iters",
        "8",
    ]));
    assert!(err.contains("--posterior exact"), "{err}");
    let err = assert_clean_failure(
        bbcodec()
            .arg("encode")
            .arg(&inp)
            .args(["--block-size", "0"]),
    );
    assert!(err.contains("--block-size"), "{err}");
    // --particles belongs to --posterior iw and cis, 1..=256 of them; both to
    // continuous latents.
    for (args, says) in [
        (
            &["--model", "logistic", "--particles", "4"][..],
            "--posterior iw",
        ),
        (
            &[
                "--model",
                "logistic",
                "--posterior",
                "iw",
                "--particles",
                "0",
            ],
            "--particles",
        ),
        (
            &[
                "--model",
                "logistic",
                "--posterior",
                "iw",
                "--particles",
                "257",
            ],
            "--particles",
        ),
        (&["--model", "mixture", "--posterior", "iw"], "iw"),
        (&["--model", "mixture", "--posterior", "cis"], "cis"),
        (
            &[
                "--model",
                "logistic",
                "--posterior",
                "cis",
                "--particles",
                "300",
            ],
            "--particles",
        ),
    ] {
        let err = assert_clean_failure(bbcodec().arg("encode").arg(&inp).args(args));
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let err = assert_clean_failure(bbcodec().arg("decode").arg(&inp));
    assert!(err.contains(".bbc"), "{err}");
    assert_clean_failure(bbcodec().arg("encode").arg(dir.path().join("missing")));
}

fn mnist_sample() -> Vec<u8> {
    fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/golden/mnist4.idx")).unwrap()
}

#[test]
fn mnist_model_roundtrips_and_refuses_other_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("four.idx");
    fs::write(&inp, mnist_sample()).unwrap();
    let report = dir.path().join("r.json");
    bbcodec()
        .args(["encode", "--model", "mnist", "-q", "--report"])
        .arg(&report)
        .arg(&inp)
        .assert()
        .success();
    let r: serde_json::Value = serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["model"], "mnist");
    assert_eq!(r["neg_log_px_method"], "iwae");
    let out = dir.path().join("back.idx");
    bbcodec()
        .args(["decode", "-q", "-o"])
        .arg(&out)
        .arg(dir.path().join("four.idx.bbc"))
        .assert()
        .success();
    assert_eq!(fs::read(&out).unwrap(), mnist_sample());
    // A text file is not an IDX image file.
    let txt = dir.path().join("t.txt");
    fs::write(&txt, sample()).unwrap();
    let err = assert_clean_failure(
        bbcodec()
            .args(["encode", "--model", "mnist", "-q"])
            .arg(&txt),
    );
    assert!(err.contains("IDX"), "{err}");
    assert!(
        !dir_entries(dir.path())
            .iter()
            .any(|e| e.starts_with("t.txt.bbc") || e.contains("bbcodec-partial")),
        "output or partial output left behind: {:?}",
        dir_entries(dir.path())
    );
    // The latent dimension comes from the weights; a weights file must be one.
    let err = assert_clean_failure(
        bbcodec()
            .args(["encode", "--model", "mnist", "--latent-dim", "4", "-q"])
            .arg(&inp),
    );
    assert!(err.contains("--latent-dim"), "{err}");
    let err = assert_clean_failure(
        bbcodec()
            .args(["decode", "-q", "-c", "--weights"])
            .arg(&txt)
            .arg(dir.path().join("four.idx.bbc")),
    );
    assert!(err.contains("BBIM"), "{err}");
}

#[test]
fn train_writes_weights_that_code() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("four.idx");
    fs::write(&inp, mnist_sample()).unwrap();
    let w = dir.path().join("w.bbim");
    let out = bbcodec()
        .args(["train", "--first", "3", "--epochs", "1", "-o"])
        .arg(&w)
        .arg(&inp)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("held-out"), "{stdout}");
    // Never overwrites without -f.
    let err = assert_clean_failure(
        bbcodec()
            .args(["train", "--first", "3", "--epochs", "1", "-o"])
            .arg(&w)
            .arg(&inp),
    );
    assert!(err.contains("exists"), "{err}");
    // Files coded with these weights need them to decode.
    bbcodec()
        .args(["encode", "--model", "mnist", "-q", "--weights"])
        .arg(&w)
        .arg(&inp)
        .assert()
        .success();
    let bbc = dir.path().join("four.idx.bbc");
    let err = assert_clean_failure(bbcodec().args(["decode", "-q", "-c"]).arg(&bbc));
    assert!(err.contains("coded with mnist model"), "{err}");
    let back = bbcodec()
        .args(["decode", "-q", "-c", "--weights"])
        .arg(&w)
        .arg(&bbc)
        .output()
        .unwrap();
    assert!(back.status.success());
    assert_eq!(back.stdout, mnist_sample());
}

/// The default model (cm) fits its block latent by BBVI; the mixture enumerates its
/// posterior unless BBVI is asked for, by name or by giving one of its settings; the
/// logistic model fits by BBVI by default.
#[test]
fn default_posterior_per_model_and_bbvi_implied_by_its_settings() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("a.txt");
    fs::write(&inp, &sample()[..8192]).unwrap();
    let posterior_of = |args: &[&str]| -> (String, String) {
        let rep = dir.path().join("r.json");
        bbcodec()
            .args(["encode", "-q", "-f", "-c"])
            .arg(&inp)
            .args(args)
            .arg("--report")
            .arg(&rep)
            .assert()
            .success();
        let r: serde_json::Value = serde_json::from_slice(&fs::read(&rep).unwrap()).unwrap();
        (
            r["posterior"].as_str().unwrap().to_string(),
            r["estimator"].as_str().unwrap_or("").to_string(),
        )
    };
    assert_eq!(posterior_of(&[]), ("bbvi".into(), "reparam".into()));
    assert_eq!(posterior_of(&["--posterior", "map"]).0, "map");
    let m = |args: &[&'static str]| [&["--model", "mixture"][..], args].concat();
    assert_eq!(posterior_of(&m(&[])).0, "exact");
    assert_eq!(posterior_of(&m(&["--posterior", "map"])).0, "map");
    assert_eq!(
        posterior_of(&m(&["--iters", "8"])),
        ("bbvi".into(), "score".into())
    );
    assert_eq!(posterior_of(&m(&["--samples", "8"])).0, "bbvi");
    assert_eq!(posterior_of(&m(&["--lr", "0.5"])).0, "bbvi");
    assert_eq!(
        posterior_of(&m(&["--estimator", "score-eq8"])),
        ("bbvi".into(), "score-eq8".into())
    );
    assert_eq!(
        posterior_of(&["--model", "logistic", "--block-size", "256"]),
        ("bbvi".into(), "reparam".into())
    );
}

/// `--iwae-samples K` sets the report's IWAE estimate on encode and on inspect, and no
/// coded bit: the same file either way; with importance weighting the report names the
/// particles and the bound the net bits are expected at.
#[test]
fn iwae_samples_set_the_reference_and_nothing_coded() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("a.txt");
    fs::write(&inp, &sample()[..6000]).unwrap();
    let encode = |extra: &[&str], out: &str| -> serde_json::Value {
        let rep = dir.path().join(format!("{out}.json"));
        bbcodec()
            .args([
                "encode",
                "-q",
                "-f",
                "--model",
                "logistic",
                "--posterior",
                "iw",
            ])
            .args(["--particles", "4"])
            .args(extra)
            .arg(&inp)
            .arg("-o")
            .arg(dir.path().join(out))
            .arg("--report")
            .arg(&rep)
            .assert()
            .success();
        serde_json::from_slice(&fs::read(&rep).unwrap()).unwrap()
    };
    let default = encode(&[], "a.bbc");
    let more = encode(&["--iwae-samples", "256"], "b.bbc");
    assert_eq!(
        fs::read(dir.path().join("a.bbc")).unwrap(),
        fs::read(dir.path().join("b.bbc")).unwrap()
    );
    assert_eq!(default["iwae_samples"], 64, "16 N for N = 4");
    assert_eq!(more["iwae_samples"], 256);
    for r in [&default, &more] {
        assert_eq!(r["particles"], 4);
        assert_eq!(r["posterior"], "iw");
        let (iw, elbo) = (
            r["neg_iwae_bits"].as_f64().unwrap(),
            r["neg_elbo_bits"].as_f64().unwrap(),
        );
        assert!(iw < elbo, "{iw} against {elbo}");
    }
    let out = bbcodec()
        .args(["inspect", "--json", "--iwae-samples", "128"])
        .arg(dir.path().join("a.bbc"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let ins: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ins["iwae_samples"], 128);
    assert_eq!(ins["net_bits"], default["net_bits"]);
    let err = assert_clean_failure(bbcodec().arg("encode").arg(&inp).args([
        "--model",
        "logistic",
        "--iwae-samples",
        "0",
    ]));
    assert!(err.contains("--iwae-samples"), "{err}");
}
