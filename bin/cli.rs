//! Command-line parsing (clap). Validation of values happens in `options.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// bbcodec: lossless bits-back compression with per-block variational inference,
/// and a report of where the bits go.
#[derive(Parser, Debug)]
#[command(name = "bbcodec", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compress files (default output: INPUT.bbc).
    Encode(EncodeArgs),
    /// Decompress .bbc files (default output: INPUT without .bbc).
    Decode(DecodeArgs),
    /// Decode a .bbc file without writing it and print its rate report.
    Inspect(InspectArgs),
    /// Code a file with every posterior and estimator, side by side, and trace the fits.
    Analyze(AnalyzeArgs),
    /// Train the mnist image model on an IDX image file and write its weights.
    Train(TrainArgs),
}

/// `bbcodec train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// IDX image file of 28x28 images (gzip-compressed or not).
    pub input: PathBuf,
    /// Model to train (only mnist).
    #[arg(long = "model", default_value = "mnist")]
    pub model: String,
    /// Train on the first N images; the rest (if any) are evaluated as held out.
    #[arg(long = "first", default_value_t = 8000)]
    pub first: usize,
    /// Passes over the training images.
    #[arg(long = "epochs", default_value_t = 50)]
    pub epochs: usize,
    /// Seed of the initialization, shuffles and draws.
    #[arg(long = "seed")]
    pub seed: Option<u64>,
    /// Where to write the weights (.bbim).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Overwrite an existing output file.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

/// `bbcodec analyze`.
#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// The file to analyze (`-` for standard input).
    pub input: PathBuf,
    /// Print the table as JSON: `{"rows": [...], "traces": [...]}`.
    #[arg(long = "json")]
    pub json: bool,
    /// Latent-variable model: cm, mixture, logistic or mnist.
    #[arg(long = "model", default_value = "cm")]
    pub model: String,
    /// Write an SVG plot: per-block net bits against -ELBO and -log P(x), and the fit traces.
    #[arg(long = "plot")]
    pub plot: Option<PathBuf>,
    /// Write per-block figures of the BBVI posterior (score or reparam) to this CSV file.
    #[arg(long = "blocks")]
    pub blocks: Option<PathBuf>,
    /// Bytes per block.
    #[arg(long = "block-size")]
    pub block_size: Option<u32>,
    /// Bytes per chunk.
    #[arg(long = "chunk-size")]
    pub chunk_size: Option<u32>,
    /// Worker threads (0 = all cores).
    #[arg(short = 'T', long = "threads", default_value_t = 0)]
    pub threads: usize,
}

/// Options shared by encode and decode.
#[derive(Args, Debug)]
pub struct IoArgs {
    /// Input files, or `-` for standard input. Each goes to its own output, unless -c
    /// or -o names one output for all: then an encode writes one member per input into
    /// it, and a decode their contents one after the other.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Output file (`-` for standard output).
    #[arg(short = 'o', long = "output", conflicts_with = "stdout")]
    pub output: Option<PathBuf>,
    /// Write to standard output.
    #[arg(short = 'c', long = "stdout")]
    pub stdout: bool,
    /// Overwrite existing output; allow compressed data on a terminal.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Remove the input file after success (not with -c: writing to standard output
    /// keeps the input).
    #[arg(long = "rm")]
    pub rm: bool,
    /// Keep the input file (the default; accepted as gzip, xz and zstd accept it).
    #[arg(short = 'k', long = "keep", conflicts_with = "rm")]
    pub keep: bool,
    /// Print nothing but errors.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Print the full report on stderr.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Worker threads (0 = all cores). The output never depends on it.
    #[arg(short = 'T', long = "threads", default_value_t = 0)]
    pub threads: usize,
    /// Write the rate report as JSON to this file.
    #[arg(long = "report")]
    pub report: Option<PathBuf>,
}

/// `bbcodec encode`.
#[derive(Args, Debug)]
pub struct EncodeArgs {
    /// Input, output and reporting.
    #[command(flatten)]
    pub io: IoArgs,
    /// Latent-variable model: cm (context mixing with a block latent, the default),
    /// mixture (discrete latent), logistic (continuous latent), or mnist (the trained
    /// image model, for IDX files of 28x28 images). Each model's own options are listed
    /// below.
    #[arg(long = "model", default_value = "cm")]
    pub model: String,
    /// Posterior: bbvi (fitted by black-box VI), exact (enumeration), map (no bits back),
    /// iw (importance-weighted bits-back over the BBVI fit, continuous latents) or cis
    /// (the same with coupled particles: one point of Q's quantile space per block,
    /// shifted N ways).
    /// Default: exact for the mixture (its latent is enumerable), bbvi for the cm,
    /// logistic and mnist models; bbvi whenever --estimator, --iters, --samples or --lr
    /// is given.
    #[arg(long = "posterior")]
    pub posterior: Option<String>,
    /// Particles of --posterior iw or cis (importance-weighted bits-back, continuous
    /// latents): N latents are drawn from the BBVI fit and one is coded, chosen by its
    /// importance weight; the rate tends from -ELBO (N = 1) to -log P(x). Default 16.
    #[arg(long = "particles")]
    pub particles: Option<u32>,
    /// Importance samples per block of the report's IWAE estimate of -log P(x)
    /// (continuous latents; default 16, 16 N under --posterior iw or cis). Accounting only.
    #[arg(long = "iwae-samples")]
    pub iwae_samples: Option<u32>,
    /// BBVI gradient estimator: score (Eq. 11 + leave-one-out baseline), score-eq8, naive
    /// (discrete latents); reparam (continuous latents); auto picks score or reparam.
    #[arg(long = "estimator", default_value = "auto")]
    pub estimator: String,
    /// BBVI iterations per block.
    #[arg(long = "iters")]
    pub iters: Option<u32>,
    /// BBVI samples per iteration.
    #[arg(long = "samples")]
    pub samples: Option<u32>,
    /// BBVI Adam learning rate.
    #[arg(long = "lr")]
    pub lr: Option<f32>,
    /// Bytes per block (one latent per block).
    #[arg(long = "block-size")]
    pub block_size: Option<u32>,
    /// Bytes per chunk (independent unit of coding).
    #[arg(long = "chunk-size")]
    pub chunk_size: Option<u32>,
    /// Seed of the posterior fits.
    #[arg(long = "seed")]
    pub seed: Option<u64>,
}

/// `bbcodec decode`.
#[derive(Args, Debug)]
pub struct DecodeArgs {
    /// Input, output and reporting.
    #[command(flatten)]
    pub io: IoArgs,
    /// Decode each input and check it, writing nothing (as gzip -t).
    #[arg(short = 't', long = "test", conflicts_with_all = ["output", "stdout", "rm", "list"])]
    pub test: bool,
    /// List each input without decoding it: sizes, bits per byte, model, posterior,
    /// chunks and members (as gzip -l).
    #[arg(short = 'l', long = "list", conflicts_with_all = ["output", "stdout", "rm"])]
    pub list: bool,
}

/// `bbcodec inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The .bbc file (`-` for standard input).
    pub input: PathBuf,
    /// Print the report as JSON (stable keys).
    #[arg(long = "json")]
    pub json: bool,
    /// Write per-block figures to this CSV file.
    #[arg(long = "blocks")]
    pub blocks: Option<PathBuf>,
    /// Write an SVG plot of per-block net bits against -ELBO and -log P(x).
    #[arg(long = "plot")]
    pub plot: Option<PathBuf>,
    /// Worker threads (0 = all cores).
    #[arg(short = 'T', long = "threads", default_value_t = 0)]
    pub threads: usize,
    /// Importance samples per block of the report's IWAE estimate of -log P(x)
    /// (continuous latents; default 16, 16 N under --posterior iw or cis).
    #[arg(long = "iwae-samples")]
    pub iwae_samples: Option<u32>,
}

/// The options the models declare, as flags of the subcommands that take them (every
/// model option on encode and analyze; those a decoder needs on decode and inspect).
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    for (sub, decode_only) in [
        ("encode", false),
        ("analyze", false),
        ("decode", true),
        ("inspect", true),
    ] {
        cmd = cmd.mut_subcommand(sub, |mut c| {
            if !decode_only {
                c = c.mut_arg("model", |a| a.help(model_help()));
                // -1 ..= -9: the level, as in gzip, xz and zstd (`--level N` alike).
                for n in 1..=9u8 {
                    let arg = clap::Arg::new(LEVEL_FLAGS[n as usize - 1])
                        .short((b'0' + n) as char)
                        .action(clap::ArgAction::SetTrue)
                        .conflicts_with("level");
                    c = c.arg(if n == 1 {
                        arg.help("-1 ..= -9: the same as --level 1 ..= 9 (fastest ..= smallest)")
                    } else {
                        arg.hide(true)
                    });
                }
            }
            for (o, help) in bbcodec::model::model_options() {
                if decode_only && !o.decode {
                    continue;
                }
                c = c.arg(
                    clap::Arg::new(o.name)
                        .long(o.name)
                        .value_name(o.value)
                        .help(help)
                        .action(clap::ArgAction::Set),
                );
            }
            c
        });
    }
    cmd
}

/// `--model`'s help: one line per model kind, from the models themselves.
fn model_help() -> String {
    let lines: Vec<&str> = bbcodec::ModelKind::ALL
        .iter()
        .map(|k| k.default_config().model().description())
        .collect();
    format!("Latent-variable model. {}", lines.join("; "))
}

/// The ids of the flags -1 ..= -9.
const LEVEL_FLAGS: [&str; 9] = [
    "level-1", "level-2", "level-3", "level-4", "level-5", "level-6", "level-7", "level-8",
    "level-9",
];

/// The model options given on the command line, in the order the models declare them
/// (a flag -N gives `level`).
pub fn model_values(m: &clap::ArgMatches) -> Vec<(&'static str, String)> {
    let Some((_, sub)) = m.subcommand() else {
        return Vec::new();
    };
    let short = LEVEL_FLAGS
        .iter()
        .position(|id| sub.try_get_one::<bool>(id).ok().flatten() == Some(&true))
        .map(|i| (i + 1).to_string());
    bbcodec::model::model_options()
        .into_iter()
        .filter_map(|(o, _)| {
            let given = sub.try_get_one::<String>(o.name).ok().flatten().cloned();
            let given = given.or_else(|| (o.name == "level").then(|| short.clone()).flatten());
            given.map(|v| (o.name, v))
        })
        .collect()
}

/// Whether `word`, first on the command line, leaves the arguments as they are: a
/// subcommand's name, or a flag clap answers before any (help, version).
fn is_first_word(word: &str) -> bool {
    use clap::CommandFactory;
    ["help", "--help", "-h", "--version", "-V"].contains(&word)
        || Cli::command()
            .get_subcommands()
            .any(|c| c.get_name() == word)
}

/// The gzip way of calling: without a subcommand, `-d` (`--decompress`) means decode,
/// `-z` (`--compress`) or nothing encode, `-t` (`--test`) decode and check, `-l`
/// (`--list`) list, also inside a cluster of flags such as `-dc` or `-tq`; the
/// arguments are rewritten as the subcommand form, so that `bbcodec -dc FILE.bbc` is
/// `bbcodec decode -c FILE.bbc`.
pub fn gzip_style(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    match args.get(1).map(|a| a.to_str()) {
        None => return args,
        Some(Some(w)) if is_first_word(w) => return args,
        _ => {}
    }
    let mut it = args.into_iter();
    let program = it.next().unwrap_or_default();
    let (mut mode, mut flags, mut rest) = ("encode", Vec::new(), Vec::new());
    let mut operands = false;
    for a in it {
        let s = a.to_str().unwrap_or("");
        if operands {
            rest.push(a);
            continue;
        }
        match s {
            "--" => {
                operands = true;
                rest.push(a);
            }
            "-d" | "--decompress" | "--uncompress" => mode = "decode",
            "-z" | "--compress" => mode = "encode",
            "-t" | "--test" => {
                mode = "decode";
                flags.push("--test");
            }
            "-l" | "--list" => {
                mode = "decode";
                flags.push("--list");
            }
            _ if is_flag_cluster(s) => {
                let mut kept = String::from("-");
                for c in s[1..].chars() {
                    match c {
                        'd' => mode = "decode",
                        'z' => mode = "encode",
                        't' => {
                            mode = "decode";
                            flags.push("--test");
                        }
                        'l' => {
                            mode = "decode";
                            flags.push("--list");
                        }
                        c => kept.push(c),
                    }
                }
                if kept.len() > 1 {
                    rest.push(kept.into());
                }
            }
            _ => rest.push(a),
        }
    }
    let mut out = vec![program, mode.into()];
    out.extend(flags.into_iter().map(Into::into));
    out.extend(rest);
    out
}

/// A cluster of one-letter flags that take no value, such as `-dc` or `-9kq`.
fn is_flag_cluster(s: &str) -> bool {
    s.len() > 2
        && s.starts_with('-')
        && !s.starts_with("--")
        && s[1..].chars().all(|c| "dztlcfkqv123456789".contains(c))
}
