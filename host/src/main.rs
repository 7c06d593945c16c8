//! The `wasmtrace` command.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use wasmtrace::config::{Config, Format};
use wasmtrace::output::Output;
use wasmtrace::pipeline::{Mode, Replay, Session, Stop};
use wasmtrace::rotate::RotatingFile;
use wasmtrace::{catalog, escape, listing, recorder, templates, tracefs};

// `wasmtrace bench` drives other tracers (bpftrace, libbpf-tools): a part of
// the command line, not of the library.
mod bench;
mod plugin_command;

/// Trace Linux with eBPF probes and sandboxed WebAssembly plugins.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the probe catalog: each probe's hooks, fields, and availability here.
    List {
        /// Print docs/probes.md instead.
        #[arg(long)]
        markdown: bool,
    },
    /// Validate a config file without loading anything.
    Check {
        #[arg(long, short, default_value = "wasmtrace.toml")]
        config: PathBuf,
    },
    /// Write a new plugin that builds as is (with its build.sh) into ./NAME.
    NewPlugin {
        /// rust, c, python, js or go.
        #[arg(long)]
        lang: templates::Lang,
        name: String,
        /// The folder to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Write the WASI preview1 reactor adapter that turns a C (wasm32-wasi)
    /// module into a component: `wasm-tools component new --adapt`.
    WasiAdapter {
        /// Where to write it.
        out: PathBuf,
    },
    /// Attach the probes and run the plugins of a config.
    Run {
        #[arg(long, short, default_value = "wasmtrace.toml")]
        config: PathBuf,
        /// Stop after this long (e.g. `10s`, `1m`); otherwise run until Ctrl-C.
        #[arg(long, short, value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
        /// Overrides the config's `[output] format`.
        #[arg(long, short)]
        output: Option<OutputFormat>,
    },
    /// The same as `run`, shown live in the terminal: probes, plugins, the
    /// selected plugin's maps, and a feed of rows, findings and logs.
    Top {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Record probes' raw events into a file, for `replay`.
    Record {
        /// The probes to record (as well as the config's [probe] tables and its plugins' `probes`).
        #[arg(long, short)]
        probe: Vec<String>,
        /// Filters and probes from this config, if given.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Stop after this long; otherwise record until Ctrl-C.
        #[arg(long, short, value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
        /// The recording to write.
        file: PathBuf,
    },
    /// Deliver a recording's events to the config's plugins, as `run` would
    /// deliver live ones (no root needed; ticks follow the recorded time).
    Replay {
        #[arg(long, short, default_value = "wasmtrace.toml")]
        config: PathBuf,
        /// Overrides the config's `[output] format`.
        #[arg(long, short)]
        output: Option<OutputFormat>,
        /// The recording to replay.
        file: PathBuf,
    },
    /// Measure what tracing costs: generated workloads run untraced, under
    /// wasmtrace, and under bpftrace and libbpf-tools where installed.
    Bench {
        /// Which workloads (default: all).
        #[arg(long, short, value_enum)]
        workload: Vec<bench::Workload>,
        /// Repetitions per workload (default: about a second's worth each).
        #[arg(long, short)]
        count: Option<u64>,
        /// Where the built example plugins are (`tally` counts every event).
        #[arg(long, default_value = "plugins/target/components")]
        plugin_dir: PathBuf,
        /// Runs of each workload per tracer; the fastest is reported.
        #[arg(long, default_value_t = 3)]
        repeat: u32,
        /// Do not run bpftrace and libbpf-tools.
        #[arg(long)]
        no_compare: bool,
        /// Also measure the time the kernel spends in eBPF programs per event
        /// (every tracer's): the kernel's run-time statistics, which add two
        /// clock reads to each program run, so slowdowns are a little higher.
        #[arg(long)]
        kernel_time: bool,
    },
    /// Names stacks for `run`, in a process of its own (stdin to stdout).
    /// Plugins in OCI registries: push a component, pull one, or inspect
    /// what one asks for before running it.
    Plugin {
        #[command(subcommand)]
        command: plugin_command::PluginCommand,
    },
    #[command(hide = true)]
    StackNamer,
    /// One workload of `bench`, in a process of its own.
    #[command(hide = true)]
    BenchWorkload {
        #[arg(value_enum)]
        workload: bench::Workload,
        count: u64,
        program: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

fn main() {
    init_logging();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("wasmtrace: error: {}", escape::terminal_lines(&format!("{e:#}")));
        std::process::exit(1);
    }
}

/// Log lines on stderr, one per event: fields and messages carry plugin and
/// event text, so every control character in them is escaped.
fn init_logging() {
    use tracing_subscriber::field::MakeExt;
    let fields = tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let text = format!("{value:?}");
        let text = escape::terminal(&text);
        match field.name() {
            "message" => write!(w, "{text}"),
            name => write!(w, "{name}={text}"),
        }
    })
    .delimited(" ");
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("WASMTRACE_LOG").unwrap_or_else(|_| "info".into()))
        .fmt_fields(fields)
        .with_writer(wasmtrace::top::log_writer)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .init();
}

fn load_for_output(path: &std::path::Path, output: Option<OutputFormat>) -> anyhow::Result<Config> {
    let mut config = Config::load(path)?;
    if let Some(format) = output {
        config.output.format = match format {
            OutputFormat::Text => Format::Text,
            OutputFormat::Json => Format::Json,
        };
    }
    Ok(config)
}

/// Standard output, or the config's `[output] file` (rotated by size).
fn output_for(config: &Config) -> anyhow::Result<Output> {
    let out: Box<dyn Write + Send> = match &config.output.file {
        None => Box::new(std::io::stdout()),
        Some(file) => Box::new(
            RotatingFile::open(&file.path, file.rotate_bytes, file.keep)
                .with_context(|| format!("opening the output file {}", file.path.display()))?,
        ),
    };
    let deliveries = wasmtrace::deliver::Deliveries::start(&config.output.receivers)?;
    Ok(Output::new(config.output.format, out, config.plugins.len() > 1).with_deliveries(deliveries))
}

/// Runs a session on a single-threaded tokio runtime: the reader, ticks,
/// signals, the plugin-folder watcher and the Prometheus endpoint share it;
/// plugins run on threads of their own. The blocking pool's threads (plugin
/// loads, scrapes) carry a name of their own, so that a count of threads can
/// tell the pool's idle ones, which end after tokio's keep-alive, from a leak.
fn event_loop<F: std::future::Future<Output = anyhow::Result<()>>>(f: impl FnOnce() -> F) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("blocking-pool")
        .build()
        .context("starting the event loop")?;
    let result = runtime.block_on(f());
    // A plugin stuck in a host call may hold a pool thread: not waited for.
    runtime.shutdown_background();
    result
}

/// One function per subcommand, as ripgrep lays out its commands.
fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::List { markdown } => list(markdown),
        Command::NewPlugin { lang, name, dir } => new_plugin(lang, &name, &dir),
        Command::WasiAdapter { out } => std::fs::write(
            &out,
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )
        .with_context(|| format!("writing {}", out.display())),
        Command::Check { config } => check(&config),
        Command::Run {
            config,
            duration,
            output,
        } => trace(&config, duration, output),
        Command::Top { config } => top(&config),
        Command::Replay { config, output, file } => replay(&config, output, &file),
        Command::Record {
            probe,
            config,
            duration,
            file,
        } => record(&probe, config.as_deref(), duration, &file),
        Command::Bench {
            workload,
            count,
            plugin_dir,
            repeat,
            no_compare,
            kernel_time,
        } => bench::run(&bench::Options {
            workloads: if workload.is_empty() {
                bench::Workload::ALL.to_vec()
            } else {
                workload
            },
            count,
            plugin_dir,
            repeat,
            compare: !no_compare,
            kernel_time,
        }),
        Command::BenchWorkload {
            workload,
            count,
            program,
        } => bench::workload::generate(workload, count, &program).map(drop),
        Command::Plugin { command } => plugin_command::run(command),
        Command::StackNamer => wasmtrace::stacks::serve_namer(),
    }
}

fn list(markdown: bool) -> anyhow::Result<()> {
    let text = if markdown {
        listing::markdown()
    } else {
        let dir = tracefs::events_dir().map_err(|e| e.to_string());
        listing::text(dir.as_deref().map_err(Clone::clone))
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(())
}

fn new_plugin(lang: templates::Lang, name: &str, dir: &Path) -> anyhow::Result<()> {
    let root = templates::create(lang, name, dir)?;
    println!(
        "created {root}: build it with `{root}/build.sh`, then run it with a config holding\n\n\
         [plugin.{name}]\npath = \"{wasm}\"\n",
        root = root.display(),
        wasm = std::path::absolute(root.join(format!("{name}.wasm")))?.display(),
    );
    Ok(())
}

fn check(config: &Path) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    println!(
        "{}: ok ({} probe filter(s), {} plugin(s))",
        config.path.display(),
        config.probes.len(),
        config.plugins.len()
    );
    Ok(())
}

/// `wasmtrace run`.
fn trace(config: &Path, duration: Option<Duration>, output: Option<OutputFormat>) -> anyhow::Result<()> {
    event_loop(|| async {
        // Before starting: a signal right after "tracing" must stop it cleanly.
        let mut stop = Stop::listen().context("installing the signal handlers")?;
        let config = load_for_output(config, output)?;
        let output = output_for(&config)?;
        Session::start(config, output, Mode::Run)
            .await?
            .run(&mut stop, duration)
            .await
    })
}

fn top(config: &Path) -> anyhow::Result<()> {
    wasmtrace::top::check_terminal()?;
    event_loop(|| async {
        let mut stop = Stop::listen().context("installing the signal handlers")?;
        let config = load_for_output(config, Some(OutputFormat::Text))?;
        let feed = wasmtrace::top::Feed::default();
        wasmtrace::top::capture_logs(&feed);
        let deliveries = wasmtrace::deliver::Deliveries::start(&config.output.receivers)?;
        let output =
            Output::new(Format::Text, Box::new(feed.stdout()), config.plugins.len() > 1).with_deliveries(deliveries);
        let session = Session::start(config.clone(), output, Mode::Run).await?;
        let (maps, stats) = session.figures();
        let view = wasmtrace::top::View::open(config, maps, stats, feed).context("opening the view")?;
        let result = session.run(&mut stop, None).await;
        view.close().context("closing the view")?;
        result
    })
}

fn replay(config: &Path, output: Option<OutputFormat>, file: &Path) -> anyhow::Result<()> {
    event_loop(|| async {
        let mut stop = Stop::listen().context("installing the signal handlers")?;
        let config = load_for_output(config, output)?;
        let replay = Replay::open(file, config.output.interval)?;
        let output = output_for(&config)?;
        Session::start(config, output, Mode::Replay(Box::new(replay)))
            .await?
            .run(&mut stop, None)
            .await
    })
}

fn record(probes: &[String], config: Option<&Path>, duration: Option<Duration>, file: &Path) -> anyhow::Result<()> {
    event_loop(|| async {
        let mut stop = Stop::listen().context("installing the signal handlers")?;
        let mut config = match config {
            Some(path) => Config::load(path)?,
            None => Config::parse(Path::new("wasmtrace.toml"), "")?,
        };
        let named = probes
            .iter()
            .map(|name| {
                catalog::find(name)
                    .map(|p| p.id)
                    .ok_or_else(|| anyhow::anyhow!("unknown probe `{name}`: `wasmtrace list` shows the catalog"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        // The probes it names are enabled as if by [probe] tables; its plugins do not run.
        config.probes = recorder::wanted(&config, &named);
        if config.probes.is_empty() {
            bail!(
                "nothing to record: name probes with --probe NAME, or in the config as [probe.\"NAME\"] tables or a plugin's `probes`"
            );
        }
        config.plugins.clear();
        config.watch = false;
        config.output.prometheus = None;
        // The figures go to stderr: the recording is the output.
        let output = Output::new(Format::Text, Box::new(std::io::stderr()), false);
        Session::start(config, output, Mode::Record(file.to_path_buf()))
            .await?
            .run(&mut stop, duration)
            .await
    })
}
