//! The `bbcodec` command-line tool. Uses only the library's public API.

mod cli;
mod options;

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::FromArgMatches;

use bbcodec::{BlockRecord, DecodeOptions, RateReport};
use cli::{Cli, Command, IoArgs};

/// A failure: the message is printed as one line, and the process exits with 1.
struct Failure(String);

/// Arguments that contradict each other: one line, and exit 2 (as clap's own).
fn usage_error(msg: &str) -> ExitCode {
    eprintln!("bbcodec: {msg}");
    ExitCode::from(2)
}

fn fail(path: &Path, e: impl std::fmt::Display) -> Failure {
    Failure(format!("{}: {e}", path.display()))
}

fn main() -> ExitCode {
    let matches = cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let values = cli::model_values(&matches);
    if let Command::Encode(cli::EncodeArgs { io, .. }) | Command::Decode(cli::DecodeArgs { io }) =
        &cli.command
    {
        if io.rm && (io.stdout || io.output.as_deref().is_some_and(is_stdio)) {
            return usage_error(
                "--rm with output to standard output (-c, -o -): the input is kept when writing to standard output; drop --rm or name an output file",
            );
        }
    }
    match run(cli, &values) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg)) => {
            eprintln!("bbcodec: {msg}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli, values: &[(&'static str, String)]) -> Result<(), Failure> {
    match cli.command {
        Command::Encode(a) => {
            let opts = options::encode_options(&a, values).map_err(Failure)?;
            let bar = progress_bar(&a.io);
            transcode(&a.io, true, |r, w| {
                bbcodec::encode_stream(r, w, &opts, |n| bar.set_position(n))
                    .map(|rep| (rep, Vec::new()))
            })
            .inspect(|_| bar.finish_and_clear())
        }
        Command::Decode(a) => {
            let opts = DecodeOptions {
                threads: a.io.threads,
                keep_blocks: false,
                skip_accounting: a.io.quiet && a.io.report.is_none(),
                models: options::decode_models(values).map_err(Failure)?,
            };
            let bar = progress_bar(&a.io);
            transcode(&a.io, false, |r, w| {
                bbcodec::decode_stream(r, w, &opts, |n| bar.set_position(n))
            })
            .inspect(|_| bar.finish_and_clear())
        }
        Command::Inspect(a) => inspect(&a, values),
        Command::Analyze(a) => analyze(&a, values),
        Command::Train(a) => train(&a, values),
    }
}

fn train(a: &cli::TrainArgs, values: &[(&'static str, String)]) -> Result<(), Failure> {
    let model = options::model(&a.model, values).map_err(Failure)?;
    if a.output.exists() && !a.force {
        return Err(fail(&a.output, "already exists; use -f to overwrite"));
    }
    let mut bytes = Vec::new();
    open_input(&a.input)?
        .read_to_end(&mut bytes)
        .map_err(|e| fail(&a.input, e))?;
    let settings = bbcodec::model::file_model::TrainSettings {
        first: a.first,
        epochs: a.epochs,
        seed: a.seed,
    };
    let trained = model
        .model()
        .train(&bytes, &settings, &mut |line| eprintln!("{line}"))
        .map_err(|e| fail(&a.input, e))?;
    let tmp = temp_sibling(&a.output);
    fs::write(&tmp, &trained.weights).map_err(|e| fail(&tmp, e))?;
    fs::rename(&tmp, &a.output).map_err(|e| fail(&a.output, e))?;
    println!("{}: {}", a.output.display(), trained.summary);
    Ok(())
}

fn is_stdio(p: &Path) -> bool {
    p.as_os_str() == "-"
}

fn open_input(p: &Path) -> Result<Box<dyn Read>, Failure> {
    if is_stdio(p) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            io::stdin().lock(),
        )))
    } else {
        if p.is_dir() {
            return Err(fail(p, "is a directory, expected a file"));
        }
        let f = File::open(p).map_err(|e| fail(p, e))?;
        Ok(Box::new(BufReader::with_capacity(1 << 20, f)))
    }
}

/// Where the output goes: standard output or a file (via a temporary sibling).
fn output_path(io_args: &IoArgs, encode: bool) -> Result<Option<PathBuf>, Failure> {
    if io_args.stdout {
        return Ok(None);
    }
    match &io_args.output {
        Some(p) if is_stdio(p) => Ok(None),
        Some(p) => Ok(Some(p.clone())),
        None if is_stdio(&io_args.input) => Ok(None),
        None => {
            let inp = &io_args.input;
            if encode {
                let mut s = inp.as_os_str().to_owned();
                s.push(".bbc");
                Ok(Some(PathBuf::from(s)))
            } else {
                match inp.to_str().and_then(|s| s.strip_suffix(".bbc")) {
                    Some(stem) if !stem.is_empty() => Ok(Some(PathBuf::from(stem))),
                    _ => Err(fail(inp, "has no .bbc suffix, expected -o OUTPUT or -c")),
                }
            }
        }
    }
}

fn transcode(
    a: &IoArgs,
    encode: bool,
    work: impl FnOnce(
        Box<dyn Read>,
        &mut dyn Write,
    ) -> Result<(RateReport, Vec<BlockRecord>), bbcodec::Error>,
) -> Result<(), Failure> {
    let out_path = output_path(a, encode)?;
    if is_stdio(&a.input) && !a.force && !encode && io::stdin().is_terminal() {
        return Err(Failure(
            "stdin is a terminal; refusing to read compressed data from it (use -f)".into(),
        ));
    }
    if out_path.is_none() && encode && !a.force && io::stdout().is_terminal() {
        return Err(Failure(
            "stdout is a terminal; refusing to write compressed data to it (use -f)".into(),
        ));
    }
    if let Some(p) = &out_path {
        if p.exists() && !a.force {
            return Err(fail(p, "already exists; use -f to overwrite"));
        }
        if !is_stdio(&a.input) && same_file(&a.input, p) {
            return Err(fail(p, "is the input file"));
        }
    }
    let input = open_input(&a.input)?;
    let report = match &out_path {
        None => {
            let stdout = io::stdout();
            let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
            let r = work(input, &mut w).map_err(|e| fail(&a.input, e))?;
            w.flush().map_err(|e| Failure(format!("stdout: {e}")))?;
            r.0
        }
        Some(p) => {
            let tmp = temp_sibling(p);
            let f = File::create(&tmp).map_err(|e| fail(&tmp, e))?;
            let mut w = BufWriter::with_capacity(1 << 20, f);
            let result = work(input, &mut w)
                .map_err(|e| fail(&a.input, e))
                .and_then(|r| {
                    let f = w.into_inner().map_err(|e| fail(p, e.error()))?;
                    f.sync_all().map_err(|e| fail(p, e))?;
                    Ok(r)
                });
            match result {
                Ok(r) => {
                    fs::rename(&tmp, p).map_err(|e| {
                        let _ = fs::remove_file(&tmp);
                        fail(p, e)
                    })?;
                    r.0
                }
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(e);
                }
            }
        }
    };
    if let Some(rp) = &a.report {
        write_json(rp, &report)?;
    }
    if !a.quiet {
        let name = a.input.display().to_string();
        eprintln!("{}", summary_line(&name, &report, encode));
        if a.verbose {
            eprintln!("{}", report_table(&report));
        }
    }
    if a.rm && !is_stdio(&a.input) {
        fs::remove_file(&a.input).map_err(|e| fail(&a.input, e))?;
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn temp_sibling(p: &Path) -> PathBuf {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    p.with_file_name(format!(".{name}.bbcodec-partial-{}", std::process::id()))
}

fn write_json(p: &Path, report: &RateReport) -> Result<(), Failure> {
    let s = serde_json::to_string_pretty(report).map_err(|e| fail(p, e))?;
    fs::write(p, s + "\n").map_err(|e| fail(p, e))
}

fn bpb(bits: f64, bytes: u64) -> f64 {
    if bytes == 0 {
        0.0
    } else {
        bits / bytes as f64
    }
}

fn summary_line(name: &str, r: &RateReport, encode: bool) -> String {
    let (a, b) = if encode {
        (r.input_bytes, r.compressed_bytes)
    } else {
        (r.compressed_bytes, r.input_bytes)
    };
    format!(
        "{name}: {a} -> {b} bytes, {:.4} bits/byte (order-0 {:.4}; net {:.1} bits vs -ELBO {:.1}, overhead {:.1} vs KL {:.1})",
        r.bits_per_byte,
        bpb(r.order0_bits, r.input_bytes),
        r.net_bits,
        r.neg_elbo_bits,
        r.overhead_bits,
        r.kl_bits,
    )
}

fn report_table(r: &RateReport) -> String {
    let n = r.input_bytes;
    let row = |k: &str, v: f64| format!("  {k:<22} {v:>16.1} bits {:>9.4} bits/byte\n", bpb(v, n));
    let mut s = String::new();
    s += &format!("  {:<22} {:>16} bytes\n", "input", n);
    s += &format!(
        "  {:<22} {:>16} bytes {:>9.4} bits/byte\n",
        "compressed", r.compressed_bytes, r.bits_per_byte
    );
    s += &row("net (measured)", r.net_bits);
    s += &format!(
        "  {:<22} {:>16.1} bits\n",
        "net stderr (predicted)", r.net_stderr_bits
    );
    s += &row("-ELBO", r.neg_elbo_bits);
    s += &row(
        &format!("-log P(x) ({})", r.neg_log_px_method),
        r.neg_log_px_bits,
    );
    s += &row("KL (predicted)", r.kl_bits);
    s += &row("overhead (measured)", r.overhead_bits);
    s += &row("initial (chunk starts)", r.initial_bits);
    s += &row("chunk-start blocks", r.bootstrap_bits);
    s += &row("header (parameters)", r.header_bits);
    s += &row("raw chunks", r.raw_bits);
    s += &row("container", r.container_bits);
    s += &row("order-0 (reference)", r.order0_bits);
    s += &format!(
        "  ELBO: Eq.3 {:.3} = {:.3} + {:.3};  Eq.4 {:.3} = {:.3} - {:.3};  Eq.5 {:.3} = {:.3} - {:.3}\n",
        r.elbo.elbo_eq3,
        r.elbo.expected_log_joint,
        r.elbo.entropy,
        r.elbo.elbo_eq4,
        r.elbo.expected_log_lik,
        r.elbo.kl_prior,
        r.elbo.elbo_eq5,
        r.elbo.log_evidence,
        r.elbo.kl_posterior
    );
    s += &format!(
        "  model {} posterior {} {} block {} chunk {}; {} chunks ({} raw), {} bits-back blocks ({} latent-free by their flag), components {:?}",
        r.model, r.posterior, r.estimator, r.block_size, r.chunk_size, r.chunks, r.raw_chunks, r.blocks, r.latent_off_blocks, r.components
    );
    s
}

fn inspect(a: &cli::InspectArgs, values: &[(&'static str, String)]) -> Result<(), Failure> {
    if is_stdio(&a.input) && io::stdin().is_terminal() {
        return Err(Failure(
            "stdin is a terminal; refusing to read compressed data from it".into(),
        ));
    }
    let input = open_input(&a.input)?;
    let opts = DecodeOptions {
        threads: a.threads,
        keep_blocks: a.blocks.is_some() || a.plot.is_some(),
        skip_accounting: false,
        models: options::decode_models(values).map_err(Failure)?,
    };
    let (report, blocks) =
        bbcodec::decode_stream(input, io::sink(), &opts, |_| {}).map_err(|e| fail(&a.input, e))?;
    if let Some(p) = &a.blocks {
        write_blocks_csv(p, &blocks)?;
    }
    if let Some(p) = &a.plot {
        let title = a.input.display().to_string();
        bbcodec::analysis::plot_svg(p, &blocks, &[], &title).map_err(|e| fail(p, e))?;
    }
    if a.json {
        let s = serde_json::to_string_pretty(&report).map_err(|e| fail(&a.input, e))?;
        println!("{s}");
    } else {
        println!(
            "{}",
            summary_line(&a.input.display().to_string(), &report, false)
        );
        println!("{}", report_table(&report));
    }
    Ok(())
}

fn write_blocks_csv(p: &Path, blocks: &[BlockRecord]) -> Result<(), Failure> {
    let mut s = String::from(
        "chunk,block,len,bootstrap,latent,net_bits,neg_elbo_bits,neg_log_px_bits,kl_bits,entropy_bits,kl_prior_bits,ell_variance,latent_on\n",
    );
    for b in blocks {
        let t = &b.terms;
        s += &format!(
            "{},{},{},{},{},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{}\n",
            b.chunk,
            b.block,
            b.len,
            b.bootstrap as u8,
            b.latent,
            b.net_bits,
            -t.elbo_joint_entropy(),
            -t.log_evidence,
            t.kl_posterior,
            t.entropy,
            t.kl_prior,
            t.ell_variance,
            b.latent_on as u8
        );
    }
    fs::write(p, s).map_err(|e| fail(p, e))
}

fn analyze(a: &cli::AnalyzeArgs, values: &[(&'static str, String)]) -> Result<(), Failure> {
    let mut o =
        bbcodec::EncodeOptions::with_model(options::model(&a.model, values).map_err(Failure)?);
    o.threads = a.threads;
    options::set_sizes(&mut o, a.block_size, a.chunk_size);
    o.validate().map_err(|e| Failure(options::explain(&e)))?;
    let mut data = Vec::new();
    open_input(&a.input)?
        .read_to_end(&mut data)
        .map_err(|e| fail(&a.input, e))?;
    let an = bbcodec::analysis::analyze(&data, &o).map_err(|e| fail(&a.input, e))?;
    if let Some(p) = &a.blocks {
        write_blocks_csv(p, &an.blocks)?;
    }
    if let Some(p) = &a.plot {
        let title = a.input.display().to_string();
        bbcodec::analysis::plot_svg(p, &an.blocks, &an.traces, &title).map_err(|e| fail(p, e))?;
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&an).map_err(|e| fail(&a.input, e))?
        );
        return Ok(());
    }
    let n = an.input_bytes.max(1) as f64;
    println!(
        "{}: {} bytes, model {}",
        a.input.display(),
        an.input_bytes,
        an.model
    );
    println!(
        "{:<12} {:>12} {:>12} {:>12} {:>10} {:>10} {:>9} {:>10} {:>7} {:>8}",
        "posterior",
        "net_bits",
        "-ELBO",
        "-log P(x)",
        "KL",
        "overhead",
        "(sd)",
        "bits/byte",
        "on %",
        "time s"
    );
    for r in &an.rows {
        println!(
            "{:<12} {:>12.1} {:>12.1} {:>12.1} {:>10.1} {:>10.1} {:>9.1} {:>10.4} {:>7.1} {:>8.2}",
            r.posterior,
            r.net_bits,
            r.neg_elbo_bits,
            r.neg_log_px_bits,
            r.kl_bits,
            r.overhead_bits,
            r.net_stderr_bits,
            8.0 * r.compressed_bytes as f64 / n,
            100.0 * r.latent_on_share,
            r.seconds
        );
    }
    for t in &an.traces {
        let at = |i: usize| {
            t.mean
                .get(i.min(t.mean.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0.0)
        };
        println!(
            "trace {:<10} {} per block over {} blocks: start {:.2}, iter 8 {:.2}, iter 32 {:.3}, end {:.4}; gradient variance at start {:.3e}",
            t.estimator,
            t.metric,
            t.blocks,
            at(0),
            at(8),
            at(32),
            at(usize::MAX),
            t.initial_gradient_variance
        );
    }
    Ok(())
}

/// A progress bar on stderr for long jobs, only when stderr is a terminal (hidden
/// otherwise). Encode knows the input size of a file; decode counts output bytes.
fn progress_bar(a: &IoArgs) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    if a.quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let len = if is_stdio(&a.input) {
        None
    } else {
        fs::metadata(&a.input).ok().map(|m| m.len())
    };
    let bar = match len {
        Some(n) if n >= 4 << 20 => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        Some(_) => return ProgressBar::hidden(),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {binary_bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar
}
