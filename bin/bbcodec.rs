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
    let matches = cli::command().get_matches_from(cli::gzip_style(std::env::args_os().collect()));
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let values = cli::model_values(&matches);
    if let Command::Encode(cli::EncodeArgs { io, .. })
    | Command::Decode(cli::DecodeArgs { io, .. }) = &cli.command
    {
        if io.rm && (io.stdout || io.output.as_deref().is_some_and(is_stdio)) {
            return usage_error(
                "--rm with output to standard output (-c, -o -): the input is kept when writing to standard output; drop --rm or name an output file",
            );
        }
        if io.inputs.len() > 1 && io.report.is_some() {
            return usage_error(
                "--report with several inputs: the report is of one file; give one input",
            );
        }
        if io.inputs.len() > 1 && io.rm && io.output.is_some() {
            return usage_error(
                "--rm with one output for several inputs (-o): the inputs are kept; drop --rm or give each input its own output",
            );
        }
        if io.inputs.iter().filter(|p| is_stdio(p)).count() > 1 {
            return usage_error("standard input (-) given more than once");
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
            transcode(&a.io, true, |bar, r, w| {
                bbcodec::encode_stream(r, w, &opts, |n| bar.set_position(n))
                    .map(|rep| (rep, Vec::new()))
            })
        }
        Command::Decode(a) => {
            let opts = DecodeOptions {
                threads: a.io.threads,
                keep_blocks: false,
                skip_accounting: a.io.quiet && a.io.report.is_none(),
                models: options::decode_models(values).map_err(Failure)?,
                iwae_samples: 0,
            };
            if a.list {
                return list(&a.io, &opts);
            }
            if a.test {
                return each_input(&a.io, |input| test(&a.io, input, &opts));
            }
            transcode(&a.io, false, |bar, r, w| {
                bbcodec::decode_stream(r, w, &opts, |n| bar.set_position(n))
            })
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

/// Where the output of `input` goes: standard output or a file (via a temporary
/// sibling).
fn output_path(io_args: &IoArgs, input: &Path, encode: bool) -> Result<Option<PathBuf>, Failure> {
    if io_args.stdout {
        return Ok(None);
    }
    match &io_args.output {
        Some(p) if is_stdio(p) => Ok(None),
        Some(p) => Ok(Some(p.clone())),
        None if is_stdio(input) => Ok(None),
        None => {
            if encode {
                let mut s = input.as_os_str().to_owned();
                s.push(".bbc");
                Ok(Some(PathBuf::from(s)))
            } else {
                match input.to_str().and_then(|s| s.strip_suffix(".bbc")) {
                    Some(stem) if !stem.is_empty() => Ok(Some(PathBuf::from(stem))),
                    _ => Err(fail(input, "has no .bbc suffix, expected -o OUTPUT or -c")),
                }
            }
        }
    }
}

/// The work of one input: read it, write the other form, return its report.
type Work<'a> = dyn FnMut(
        &indicatif::ProgressBar,
        Box<dyn Read>,
        &mut dyn Write,
    ) -> Result<(RateReport, Vec<BlockRecord>), bbcodec::Error>
    + 'a;

/// Run `one` on every input in turn: a failure is reported and the rest still run (as
/// gzip does); the last failure is returned, so the exit status is 1 if any failed.
fn each_input(
    a: &IoArgs,
    mut one: impl FnMut(&Path) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut failed = None;
    for input in &a.inputs {
        if let Err(e) = one(input) {
            if let Some(Failure(earlier)) = failed.replace(e) {
                eprintln!("bbcodec: {earlier}");
            }
        }
    }
    failed.map_or(Ok(()), Err)
}

/// Encode or decode every input: each to its own output, or all to the one output that
/// -c or -o names.
fn transcode(
    a: &IoArgs,
    encode: bool,
    mut work: impl FnMut(
        &indicatif::ProgressBar,
        Box<dyn Read>,
        &mut dyn Write,
    ) -> Result<(RateReport, Vec<BlockRecord>), bbcodec::Error>,
) -> Result<(), Failure> {
    if !encode && !a.force && a.inputs.iter().any(|p| is_stdio(p)) && io::stdin().is_terminal() {
        return Err(Failure(
            "stdin is a terminal; refusing to read compressed data from it (use -f)".into(),
        ));
    }
    let shared = a.stdout || a.output.is_some();
    if !shared {
        return each_input(a, |input| {
            let out = output_path(a, input, encode)?;
            write_output(a, &[input], out.as_deref(), encode, &mut work)
        });
    }
    let inputs: Vec<&Path> = a.inputs.iter().map(PathBuf::as_path).collect();
    let out = output_path(a, inputs[0], encode)?;
    write_output(a, &inputs, out.as_deref(), encode, &mut work)
}

/// Code `inputs` one after the other into the output `out` (standard output if
/// `None`; a file is written as a temporary sibling, renamed when all succeeded).
fn write_output(
    a: &IoArgs,
    inputs: &[&Path],
    out: Option<&Path>,
    encode: bool,
    work: &mut Work<'_>,
) -> Result<(), Failure> {
    if out.is_none() && encode && !a.force && io::stdout().is_terminal() {
        return Err(Failure(
            "stdout is a terminal; refusing to write compressed data to it (use -f)".into(),
        ));
    }
    if let Some(p) = out {
        if p.exists() && !a.force {
            return Err(fail(p, "already exists; use -f to overwrite"));
        }
        for input in inputs {
            if !is_stdio(input) && same_file(input, p) {
                return Err(fail(p, "is the input file"));
            }
        }
    }
    let mut reports = Vec::new();
    let mut code_all = |w: &mut dyn Write| -> Result<(), Failure> {
        for &input in inputs {
            let bar = progress_bar(a, input);
            let r = work(&bar, open_input(input)?, w).map_err(|e| fail(input, e));
            bar.finish_and_clear();
            reports.push((input, r?.0));
        }
        Ok(())
    };
    match out {
        None => {
            let stdout = io::stdout();
            let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
            code_all(&mut w)?;
            w.flush().map_err(|e| Failure(format!("stdout: {e}")))?;
        }
        Some(p) => {
            let tmp = temp_sibling(p);
            let f = File::create(&tmp).map_err(|e| fail(&tmp, e))?;
            let mut w = BufWriter::with_capacity(1 << 20, f);
            let result = code_all(&mut w).and_then(|()| {
                let f = w.into_inner().map_err(|e| fail(p, e.error()))?;
                f.sync_all().map_err(|e| fail(p, e))
            });
            if let Err(e) = result.and_then(|()| fs::rename(&tmp, p).map_err(|e| fail(p, e))) {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        }
    }
    for (input, report) in &reports {
        if let Some(rp) = &a.report {
            write_json(rp, report)?;
        }
        if !a.quiet {
            eprintln!(
                "{}",
                summary_line(&input.display().to_string(), report, encode)
            );
            if a.verbose {
                eprintln!("{}", report_table(report));
            }
        }
    }
    if a.rm {
        for input in inputs {
            if !is_stdio(input) {
                fs::remove_file(input).map_err(|e| fail(input, e))?;
            }
        }
    }
    Ok(())
}

/// `decode -t`: decode `input` and check it (every checksum), writing nothing.
fn test(a: &IoArgs, input: &Path, opts: &DecodeOptions) -> Result<(), Failure> {
    if is_stdio(input) && !a.force && io::stdin().is_terminal() {
        return Err(Failure(
            "stdin is a terminal; refusing to read compressed data from it (use -f)".into(),
        ));
    }
    let bar = progress_bar(a, input);
    let r = bbcodec::decode_members(open_input(input)?, io::sink(), opts, |n| {
        bar.set_position(n)
    });
    bar.finish_and_clear();
    let d = r.map_err(|e| fail(input, e))?;
    if !a.quiet {
        eprintln!(
            "{}: OK ({} -> {} bytes, {} member{})",
            input.display(),
            d.total.compressed_bytes,
            d.total.input_bytes,
            d.total.members,
            if d.total.members == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// `decode -l`: one line per input (its members summed), and a total of several.
fn list(a: &IoArgs, opts: &DecodeOptions) -> Result<(), Failure> {
    println!(
        "{:>14} {:>14} {:>9} {:<9} {:<9} {:>7} {:>7}  name",
        "compressed", "uncompressed", "bits/byte", "model", "posterior", "chunks", "members"
    );
    let (mut c, mut u, mut n) = (0u64, 0u64, 0usize);
    let names = |ms: &[bbcodec::MemberInfo], f: fn(&bbcodec::MemberInfo) -> &str| {
        let mut v: Vec<&str> = Vec::new();
        for m in ms {
            if !v.contains(&f(m)) {
                v.push(f(m));
            }
        }
        v.join("+")
    };
    let r = each_input(a, |input| {
        let ms = bbcodec::list_members(open_input(input)?, opts).map_err(|e| fail(input, e))?;
        let comp: u64 = ms.iter().map(|m| m.compressed_bytes).sum();
        let unc: u64 = ms.iter().map(|m| m.input_bytes).sum();
        println!(
            "{comp:>14} {unc:>14} {:>9.4} {:<9} {:<9} {:>7} {:>7}  {}",
            bpb(8.0 * comp as f64, unc),
            names(&ms, |m| &m.model),
            names(&ms, |m| &m.posterior),
            ms.iter().map(|m| m.chunks).sum::<u64>(),
            ms.len(),
            input.display()
        );
        (c, u, n) = (c + comp, u + unc, n + 1);
        Ok(())
    });
    if a.inputs.len() > 1 {
        println!(
            "{c:>14} {u:>14} {:>9.4} {:<9} {:<9} {:>7} {:>7}  (total of {n} files)",
            bpb(8.0 * c as f64, u),
            "",
            "",
            "",
            ""
        );
    }
    r
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
    // Under importance weighting the net is expected at the N-particle bound, and what
    // it is predicted to cost above -log P(x) is that bound's gap.
    let (bound, value, gap) = if r.particles > 1 {
        (format!("-IWAE({})", r.particles), r.neg_iwae_bits, "gap")
    } else {
        ("-ELBO".to_string(), r.neg_elbo_bits, "KL")
    };
    format!(
        "{name}: {a} -> {b} bytes, {:.4} bits/byte (order-0 {:.4}; net {:.1} bits vs {bound} {:.1}, overhead {:.1} vs {gap} {:.1})",
        r.bits_per_byte,
        bpb(r.order0_bits, r.input_bytes),
        r.net_bits,
        value,
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
    if r.particles > 1 {
        s += &row(
            &format!("-IWAE ({} particles)", r.particles),
            r.neg_iwae_bits,
        );
        s += &format!(
            "  {:<22} {:>16.1} bits\n",
            "-IWAE stderr", r.neg_iwae_stderr_bits
        );
    }
    let method = if r.neg_log_px_method == "iwae" {
        format!("iwae, {}", r.iwae_samples)
    } else {
        r.neg_log_px_method.clone()
    };
    s += &row(&format!("-log P(x) ({method})"), r.neg_log_px_bits);
    s += &row(
        if r.particles > 1 {
            "IWAE gap (predicted)"
        } else {
            "KL (predicted)"
        },
        r.kl_bits,
    );
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
        iwae_samples: a.iwae_samples.unwrap_or(0),
    };
    let d =
        bbcodec::decode_members(input, io::sink(), &opts, |_| {}).map_err(|e| fail(&a.input, e))?;
    let (report, blocks) = (&d.total, &d.blocks);
    if let Some(p) = &a.blocks {
        write_blocks_csv(p, blocks)?;
    }
    if let Some(p) = &a.plot {
        let title = a.input.display().to_string();
        bbcodec::analysis::plot_svg(p, blocks, &[], &title).map_err(|e| fail(p, e))?;
    }
    let name = a.input.display().to_string();
    if a.json {
        // The total's keys, and each member's report under `member_reports`.
        let mut v = serde_json::to_value(report).map_err(|e| fail(&a.input, e))?;
        v["member_reports"] = serde_json::to_value(&d.members).map_err(|e| fail(&a.input, e))?;
        let s = serde_json::to_string_pretty(&v).map_err(|e| fail(&a.input, e))?;
        println!("{s}");
    } else {
        if d.members.len() > 1 {
            for (i, m) in d.members.iter().enumerate() {
                println!(
                    "{}",
                    summary_line(&format!("{name} member {}", i + 1), m, false)
                );
            }
            println!("{} members in all:", d.members.len());
        }
        println!("{}", summary_line(&name, report, false));
        println!("{}", report_table(report));
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
        "{:<12} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10} {:>9} {:>10} {:>7} {:>8}",
        "posterior",
        "net_bits",
        "-ELBO",
        "bound",
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
            "{:<12} {:>12.1} {:>12.1} {:>12.1} {:>12.1} {:>10.1} {:>10.1} {:>9.1} {:>10.4} {:>7.1} {:>8.2}",
            r.posterior,
            r.net_bits,
            r.neg_elbo_bits,
            r.neg_iwae_bits,
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
fn progress_bar(a: &IoArgs, input: &Path) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    if a.quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let len = if is_stdio(input) {
        None
    } else {
        fs::metadata(input).ok().map(|m| m.len())
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
