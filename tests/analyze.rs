//! `analyze`: every posterior side by side, in the order theory predicts, each row's
//! measured overhead matching its predicted KL; traces; plots; the CLI's JSON form.

mod common;

use bbcodec::analysis::analyze;
use bbcodec::{EncodeOptions, ModelKind};
use common::*;

fn sample() -> Vec<u8> {
    corpus_file("kppkn.gtb")
        .map(|d| d[..40_000].to_vec())
        .unwrap_or_else(|| mixture_data(600, 64, 6, 2))
}

/// A row's measured overhead matches its predicted KL: within ANS rounding plus the
/// sampling noise of the popped latents (Chebyshev, 30 sd; see tests/common).
fn assert_overhead_matches_kl(r: &bbcodec::analysis::AnalysisRow, input_bytes: usize) {
    let tol = 2.0 + 1e-4 * input_bytes as f64 + 30.0 * r.net_stderr_bits;
    assert!(
        (r.overhead_bits - r.kl_bits).abs() <= tol,
        "{}: overhead {} vs KL {}",
        r.posterior,
        r.overhead_bits,
        r.kl_bits
    );
}

#[test]
fn rows_follow_theory_and_overheads_match_kl() {
    let data = sample();
    let an = analyze(
        &data,
        &bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture),
    )
    .unwrap();
    let names: Vec<&str> = an.rows.iter().map(|r| r.posterior.as_str()).collect();
    assert_eq!(
        names,
        ["map", "naive", "score-eq8", "gumbel", "score", "exact"]
    );
    let row = |n: &str| an.rows.iter().find(|r| r.posterior == n).unwrap();
    for r in &an.rows {
        assert_overhead_matches_kl(r, data.len());
        assert!(r.kl_bits >= -1e-6, "{}: KL {}", r.posterior, r.kl_bits);
        eprintln!(
            "{:<10} net {:>10.1} -ELBO {:>10.1} KL {:>9.1} overhead {:>9.1} sd {:>7.1}",
            r.posterior, r.net_bits, r.neg_elbo_bits, r.kl_bits, r.overhead_bits, r.net_stderr_bits
        );
    }
    // Theory (seed 8.1c): net = -log P(x) + KL in expectation, and the exact posterior
    // has the smallest KL. "Within noise": 5 predicted sd of the two rows combined.
    let noise = |a: &str, b: &str| {
        5.0 * (row(a).net_stderr_bits.powi(2) + row(b).net_stderr_bits.powi(2)).sqrt() + 4.0
    };
    for r in ["map", "naive", "score", "score-eq8", "gumbel"] {
        assert!(
            row(r).net_bits >= row("exact").net_bits - noise(r, "exact"),
            "{r} below exact"
        );
    }
    assert!(row("naive").net_bits >= row("score").net_bits - noise("naive", "score"));
    // MAP's KL is -log2 P(z*|x) >= 0 (exactly 0 where posteriors are deterministic, as
    // on the synthetic fallback data); the naive estimator is far from the optimum.
    assert!(row("map").kl_bits >= -1e-9);
    assert!(row("naive").kl_bits > row("score").kl_bits);
    // The exact row has no KL to speak of (quantization of Q only).
    assert!(row("exact").kl_bits < 0.001 * row("exact").neg_log_px_bits);
}

/// The cm model's arms: each bits-back row's measured overhead matches its KL, the
/// no-latent row uses no latent, and the long fit is no worse than the default.
#[test]
fn cm_arms_measure_what_they_say() {
    let data = sample();
    let mut o = EncodeOptions::for_model(ModelKind::Cm);
    o.block_size = 1024;
    let an = analyze(&data, &o).unwrap();
    let names: Vec<&str> = an.rows.iter().map(|r| r.posterior.as_str()).collect();
    assert_eq!(
        names,
        [
            "no-latent",
            "map",
            "laplace",
            "score",
            "reparam",
            "reparam-10x",
            "iw-4",
            "iw-16"
        ]
    );
    let row = |n: &str| an.rows.iter().find(|r| r.posterior == n).unwrap();
    for r in &an.rows {
        assert_overhead_matches_kl(r, data.len());
        assert!((0.0..=1.0).contains(&r.latent_on_share), "{}", r.posterior);
        eprintln!(
            "{:<12} net {:>10.1} -ELBO {:>10.1} KL {:>7.1} overhead {:>7.1} sd {:>5.1} on {:.3}",
            r.posterior,
            r.net_bits,
            r.neg_elbo_bits,
            r.kl_bits,
            r.overhead_bits,
            r.net_stderr_bits,
            r.latent_on_share
        );
    }
    assert_eq!(row("no-latent").latent_on_share, 0.0);
    assert!(row("no-latent").kl_bits.abs() < 1e-6);
    // 5 predicted sd of the two rows combined, plus a word of ANS rounding.
    let noise = 5.0
        * (row("reparam").net_stderr_bits.powi(2) + row("reparam-10x").net_stderr_bits.powi(2))
            .sqrt()
        + 32.0;
    assert!(row("reparam-10x").neg_elbo_bits <= row("reparam").neg_elbo_bits + noise);
    // Importance weighting over the default fit: its bound lies below the fit's
    // -ELBO, within the two estimates' errors (5 standard errors).
    for r in ["iw-4", "iw-16"] {
        let se = row(r).neg_iwae_stderr_bits + row("reparam").neg_iwae_stderr_bits;
        assert!(
            row(r).neg_iwae_bits <= row("reparam").neg_elbo_bits + 5.0 * se,
            "{r}"
        );
    }
}

#[test]
fn traces_show_the_control_variate() {
    let data = sample();
    let an = analyze(
        &data,
        &bbcodec::EncodeOptions::for_model(bbcodec::ModelKind::Mixture),
    )
    .unwrap();
    let t = |n: &str| an.traces.iter().find(|t| t.estimator == n).unwrap();
    let (score, eq8, naive) = (t("score"), t("score-eq8"), t("naive"));
    assert_eq!(score.metric, "kl_bits");
    // Same start (uniform Q), and the leave-one-out baseline cuts the gradient variance
    // and ends at a lower KL than Eq. 8 without it; the naive estimator does not move
    // toward the posterior at all.
    assert_eq!(score.mean[0], eq8.mean[0]);
    assert!(score.initial_gradient_variance < eq8.initial_gradient_variance);
    assert!(score.mean.last().unwrap() < eq8.mean.last().unwrap());
    assert!(*naive.mean.last().unwrap() > 0.5 * naive.mean[0]);
    assert!(score.p10.iter().zip(&score.p90).all(|(a, b)| a <= b));
}

#[test]
fn logistic_rows_and_plot() {
    let data = sample();
    let mut o = EncodeOptions::for_model(ModelKind::Logistic);
    o.block_size = 512;
    let an = analyze(&data[..20_000], &o).unwrap();
    let names: Vec<&str> = an.rows.iter().map(|r| r.posterior.as_str()).collect();
    assert_eq!(
        names,
        ["map", "reparam", "iw-1", "iw-2", "iw-4", "iw-8", "iw-16", "cis-4", "cis-16"]
    );
    // The importance-weighted rows code over the reparam row's fit, and every row
    // estimates -log P(x) with the same draws: one reference. One particle codes the
    // reparam row's very words; 16 code below its -ELBO (by about its KL, 41 bits,
    // against a net noise of 15 bits).
    let row = |n: &str| an.rows.iter().find(|r| r.posterior == n).unwrap();
    for n in ["iw-1", "iw-2", "iw-4", "iw-8", "iw-16", "cis-4", "cis-16"] {
        assert_eq!(
            row(n).neg_log_px_bits,
            row("reparam").neg_log_px_bits,
            "{n}"
        );
    }
    assert_eq!(row("iw-1").net_bits, row("reparam").net_bits);
    assert!(row("iw-16").net_bits < row("reparam").neg_elbo_bits);
    assert!(row("cis-16").net_bits < row("reparam").neg_elbo_bits);
    assert_eq!(an.traces[0].metric, "neg_elbo_bits");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plot.svg");
    bbcodec::analysis::plot_svg(&p, &an.blocks, &an.traces, "test").unwrap();
    let svg = std::fs::read_to_string(&p).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("-ELBO"));
}

#[test]
fn cli_json_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in.bin");
    std::fs::write(&inp, &sample()[..12_000]).unwrap();
    let svg = dir.path().join("a.svg");
    let out = assert_cmd::Command::cargo_bin("bbcodec")
        .unwrap()
        .arg("analyze")
        .arg(&inp)
        .arg("--json")
        .arg("--plot")
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    // The default model's arms: no latent, MAP, Laplace, score function, BBVI, BBVI
    // fitted 10x as long, and importance weighting with 4 and 16 particles.
    assert_eq!(rows.len(), 8);
    for key in [
        "posterior",
        "net_bits",
        "neg_elbo_bits",
        "neg_log_px_bits",
        "kl_bits",
        "overhead_bits",
        "bits_per_byte",
        "seconds",
        "latent_on_share",
    ] {
        assert!(rows[0].get(key).is_some(), "missing {key}");
    }
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    // inspect --plot on an encoded file.
    assert_cmd::Command::cargo_bin("bbcodec")
        .unwrap()
        .arg("encode")
        .arg(&inp)
        .arg("-q")
        .assert()
        .success();
    let svg2 = dir.path().join("b.svg");
    assert_cmd::Command::cargo_bin("bbcodec")
        .unwrap()
        .arg("inspect")
        .arg(dir.path().join("in.bin.bbc"))
        .arg("--plot")
        .arg(&svg2)
        .assert()
        .success();
    assert!(std::fs::read_to_string(&svg2).unwrap().contains("net bits"));
}
