//! What the command line does to the user's files when something goes wrong, checked on
//! the file system: outputs are never overwritten without `-f`, a failed run leaves the
//! old output and the input as they were and no partial file behind, `--rm` removes the
//! input only after success, compressed data never goes to or comes from a terminal
//! without `-f`, an output that is the input is refused, and `--rm` with standard output
//! is a usage error.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::dir_entries;

fn bbcodec() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bbcodec"))
}

/// A file that is several chunks (1 KiB each) of varied text.
fn sample() -> Vec<u8> {
    (0..5000u32)
        .map(|i| b"the quick brown fox jumps over the lazy dog "[(i * 7 % 44) as usize])
        .collect()
}

/// Exit 1 with one line on stderr; returns it.
fn fails(out: Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "stderr: {err}");
    err
}

struct Setup {
    dir: tempfile::TempDir,
    input: PathBuf,
    bbc: PathBuf,
}

/// `in.txt` and its compressed `in.txt.bbc` (five 1 KiB chunks).
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    fs::write(&input, sample()).unwrap();
    let bbc = dir.path().join("in.txt.bbc");
    let out = bbcodec()
        .arg("encode")
        .arg(&input)
        .args(["--chunk-size", "1024", "-q"])
        .output()
        .unwrap();
    assert!(out.status.success());
    Setup { dir, input, bbc }
}

/// The compressed file with its last chunk's CRC broken: decoding fails after the
/// first chunks have been written to the partial output.
fn damaged_at_the_end(s: &Setup) -> PathBuf {
    let mut f = fs::read(&s.bbc).unwrap();
    // The end of a member of several chunks is the varint total (5000: 2 bytes) and
    // the content CRC; the last chunk's ANS words come just before. Flip a bit there.
    let n = f.len();
    f[n - 12] ^= 0x01;
    let p = s.dir.path().join("late.bbc");
    fs::write(&p, f).unwrap();
    p
}

#[test]
fn decode_never_overwrites_without_force() {
    let s = setup();
    let out = s.dir.path().join("out.txt");
    fs::write(&out, b"precious").unwrap();
    let before = dir_entries(s.dir.path());
    let err = fails(
        bbcodec()
            .arg("decode")
            .arg(&s.bbc)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap(),
    );
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(fs::read(&out).unwrap(), b"precious");
    assert_eq!(dir_entries(s.dir.path()), before);
    // The default name (in.txt) exists too: refused the same way.
    let err = fails(bbcodec().arg("decode").arg(&s.bbc).output().unwrap());
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(fs::read(&s.input).unwrap(), sample());
}

#[test]
fn a_failed_forced_run_keeps_the_old_output_and_leaves_no_partial_file() {
    let s = setup();
    let late = damaged_at_the_end(&s);
    let out = s.dir.path().join("out.txt");
    fs::write(&out, b"precious").unwrap();
    let before = dir_entries(s.dir.path());
    let err = fails(
        bbcodec()
            .arg("decode")
            .arg(&late)
            .arg("-o")
            .arg(&out)
            .args(["-f", "-T", "1"])
            .output()
            .unwrap(),
    );
    assert!(err.contains("late.bbc"), "{err}");
    assert_eq!(fs::read(&out).unwrap(), b"precious");
    // No `.out.txt.bbcodec-partial-PID` (nor anything else) left behind.
    assert_eq!(dir_entries(s.dir.path()), before);
    // A failed encode (the input is a directory) leaves the output alone too.
    let err = fails(
        bbcodec()
            .arg("encode")
            .arg(s.dir.path())
            .arg("-o")
            .arg(&out)
            .arg("-f")
            .output()
            .unwrap(),
    );
    assert!(err.contains("directory"), "{err}");
    assert_eq!(fs::read(&out).unwrap(), b"precious");
    assert_eq!(dir_entries(s.dir.path()), before);
}

#[test]
fn rm_keeps_the_input_when_the_run_fails_and_removes_it_after_success() {
    let s = setup();
    let late = damaged_at_the_end(&s);
    let damaged = fs::read(&late).unwrap();
    let out = s.dir.path().join("out.txt");
    fails(
        bbcodec()
            .arg("decode")
            .arg(&late)
            .arg("-o")
            .arg(&out)
            .arg("--rm")
            .output()
            .unwrap(),
    );
    assert_eq!(fs::read(&late).unwrap(), damaged);
    assert!(!out.exists());
    // Refused because the output exists: the input stays.
    fs::write(&out, b"precious").unwrap();
    fails(
        bbcodec()
            .arg("decode")
            .arg(&s.bbc)
            .arg("-o")
            .arg(&out)
            .arg("--rm")
            .output()
            .unwrap(),
    );
    assert!(s.bbc.exists());
    let ok = bbcodec()
        .arg("decode")
        .arg(&s.bbc)
        .arg("-o")
        .arg(&out)
        .args(["--rm", "-f", "-q"])
        .output()
        .unwrap();
    assert!(ok.status.success());
    assert!(!s.bbc.exists());
    assert_eq!(fs::read(&out).unwrap(), sample());
}

#[test]
fn rm_with_standard_output_is_a_usage_error() {
    let s = setup();
    for args in [vec!["-c", "--rm"], vec!["-o", "-", "--rm"]] {
        let out = bbcodec()
            .arg("encode")
            .arg(&s.input)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: wrote to stdout");
        assert_eq!(fs::read(&s.input).unwrap(), sample(), "{args:?}");
        let out = bbcodec()
            .arg("decode")
            .arg(&s.bbc)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(s.bbc.exists(), "{args:?}");
    }
}

#[test]
fn an_output_that_is_the_input_is_refused() {
    let s = setup();
    let before = fs::read(&s.input).unwrap();
    let err = fails(
        bbcodec()
            .arg("encode")
            .arg(&s.input)
            .arg("-o")
            .arg(&s.input)
            .arg("-f")
            .output()
            .unwrap(),
    );
    assert!(err.contains("is the input file"), "{err}");
    assert_eq!(fs::read(&s.input).unwrap(), before);
    // The same file under another spelling of its path.
    let other = s.dir.path().join(".").join("in.txt.bbc");
    let bbc = fs::read(&s.bbc).unwrap();
    let err = fails(
        bbcodec()
            .arg("decode")
            .arg(&s.bbc)
            .arg("-o")
            .arg(&other)
            .arg("-f")
            .output()
            .unwrap(),
    );
    assert!(err.contains("is the input file"), "{err}");
    assert_eq!(fs::read(&s.bbc).unwrap(), bbc);
}

/// Runs `cmd` (a shell command line) with a terminal as its standard input and output,
/// through util-linux's `script`; `None` where `script` is missing.
fn on_a_terminal(cmd: &str) -> Option<Output> {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED: the terminal refusals need util-linux's `script`");
        return None;
    }
    Some(
        Command::new("script")
            .args(["-q", "-e", "-c", cmd, "/dev/null"])
            .output()
            .unwrap(),
    )
}

#[test]
fn compressed_data_never_goes_to_or_comes_from_a_terminal() {
    let s = setup();
    let bb = env!("CARGO_BIN_EXE_bbcodec");
    let q = |p: &Path| format!("'{}'", p.display());
    let Some(out) = on_a_terminal(&format!("{bb} encode {} -c", q(&s.input))) else {
        return;
    };
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("stdout is a terminal"), "{text}");
    for cmd in [format!("{bb} decode - -c"), format!("{bb} inspect -")] {
        let out = on_a_terminal(&cmd).unwrap();
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("stdin is a terminal"), "{cmd}: {text}");
    }
    // -f lets compressed data through (here to the terminal, which `script` reads).
    let out = on_a_terminal(&format!("{bb} encode {} -c -f -q", q(&s.input))).unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.len() > 10);
}
