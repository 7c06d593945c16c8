//! The TOML config: which probes (with kernel-side filters), which plugins
//! (with their own config), and how output looks. Every error names the
//! file, line and column, and shows the offending line.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use wasmtrace_ebpf::abi::{COMM_LEN, FILTER_MAX, ProbeId};

use crate::catalog;
use crate::escape;
use crate::trust::{self, TrustError};

mod bounded;
mod limits;
mod metrics;
mod receivers;
mod registries;
use bounded::{BadDuration, duration_within};
use limits::RawLimits;
pub use limits::{Limits, PluginLimits};
pub use metrics::{Auth, Metrics, Secret, SecretError, Tls};
pub use receivers::{Alertmanager, HeaderValue, Queue, Receivers, Spool, Syslog, SyslogAddress, Webhook};
pub use registries::{Credentials, Image, Registry};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {}: {cause}", path.display())]
    Read { path: PathBuf, cause: std::io::Error },
    /// As root: a config that someone else could have changed (it decides what runs, and what it reads).
    #[error("refusing the config: {0}")]
    Untrusted(TrustError),
    #[error("{}:{line}:{column}: {message}\n{line:>5} | {text}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        text: String,
    },
}

/// A validated config.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    /// Where plugin components are looked up, relative paths resolved against the config's folder.
    pub plugin_dir: PathBuf,
    /// Where compiled plugins are cached.
    pub cache_dir: PathBuf,
    /// Load every component in `plugin_dir`, and follow it while running:
    /// new files are loaded, changed ones swapped in, removed ones unloaded.
    pub watch: bool,
    pub output: Output,
    /// Filters for probes named in `[probe."NAME"]`; such probes are enabled
    /// even when no plugin asks for them.
    pub probes: BTreeMap<ProbeId, ProbeFilter>,
    pub plugins: Vec<PluginSpec>,
    /// How to reach registries that plugins are pulled from, by host.
    pub registries: BTreeMap<String, Registry>,
    pub limits: Limits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// When maps are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintMaps {
    /// Once, when wasmtrace stops (like bpftrace).
    Exit,
    /// Every interval, and at exit.
    Interval,
}

#[derive(Debug, Clone)]
pub struct Output {
    pub format: Format,
    /// How often plugins' `on-tick` runs (and maps print, with `print_maps = "interval"`).
    pub interval: Duration,
    pub print_maps: PrintMaps,
    /// Serve maps as Prometheus metrics at http(s)://ADDR/metrics.
    pub prometheus: Option<Metrics>,
    /// Write output to this file instead of stdout, rotated by size.
    pub file: Option<FileOutput>,
    /// Where findings are sent besides the output.
    pub receivers: Receivers,
    /// Profiles of the plugins' stack counters, written at exit.
    pub profiles: Profiles,
}

/// Files the stack counters are written to at exit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profiles {
    /// Folded stacks (`a;b;c count` lines).
    pub folded: Option<PathBuf>,
    /// A flame graph, SVG.
    pub flamegraph: Option<PathBuf>,
    /// pprof's profile.proto.
    pub pprof: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutput {
    pub path: PathBuf,
    /// Rotate when the file would grow past this many bytes.
    pub rotate_bytes: u64,
    /// Rotated files kept: FILE.1 (newest) to FILE.keep.
    pub keep: u32,
}

/// Kernel-side filter: an empty list does not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeFilter {
    pub pids: Vec<u32>,
    pub uids: Vec<u32>,
    pub comms: Vec<String>,
    pub scope: Scope,
    /// Samples per second on each CPU, for a sampling probe (`cpu.sample`).
    pub frequency: Option<u32>,
    /// The stacks its events carry, when its table says (else the catalog's default).
    pub stacks: Option<Stacks>,
}

/// The stacks a probe's events carry (`stacks = "kernel" | "user" | "both" | "none"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stacks {
    None,
    Kernel,
    User,
    Both,
}

impl Stacks {
    const NAMES: [(&'static str, Stacks); 4] = [
        ("none", Stacks::None),
        ("kernel", Stacks::Kernel),
        ("user", Stacks::User),
        ("both", Stacks::Both),
    ];

    pub fn kernel(self) -> bool {
        matches!(self, Stacks::Kernel | Stacks::Both)
    }

    pub fn user(self) -> bool {
        matches!(self, Stacks::User | Stacks::Both)
    }
}

/// A sampling probe's frequency unless its table sets one: bpftrace's and
/// perf's usual 99 Hz, off the beat of timers that run at round rates.
pub const DEFAULT_FREQUENCY: u32 = 99;
/// The highest frequency a table may set: past it, sampling costs more
/// than what it shows (and the kernel lowers it anyway).
const MAX_FREQUENCY: u32 = 10_000;

/// Which tasks a probe passes by where they run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Scope {
    #[default]
    Any,
    /// Processes of the host (the initial pid namespace).
    Host,
    /// Processes in any container (another pid namespace).
    Containers,
    /// Processes in these containers: names, ids (12 hex digits or more)
    /// or Kubernetes `namespace/pod`s, resolved to cgroups as they come and go.
    Named(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct PluginSpec {
    pub name: String,
    /// The component's file: in the plugins folder, or (for an `image`)
    /// in the cache, once pulled.
    pub path: PathBuf,
    /// Pulled from an OCI registry rather than read from the plugins folder.
    pub image: Option<Image>,
    /// Overrides the probes the plugin asks for in `init`.
    pub probes: Option<Vec<ProbeId>>,
    pub config: Vec<(String, PluginValue)>,
    pub grants: Grants,
}

/// What a plugin's sandbox lets through beyond the host interfaces. By
/// default nothing: no files, no environment, frozen clocks, no network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Real wall and monotonic clocks (otherwise both read 0).
    #[serde(default)]
    pub clocks: bool,
    /// Host environment variables passed through by name.
    #[serde(default)]
    pub env: Vec<String>,
    /// Folders the plugin may read, at the same path inside the sandbox.
    #[serde(default)]
    pub read_dirs: Vec<PathBuf>,
}

/// A value in a plugin's own config table.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginValue {
    Boolean(bool),
    Integer(i64),
    Float(f64),
    Text(String),
    Texts(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    plugin_dir: Option<Spanned<String>>,
    cache_dir: Option<String>,
    #[serde(default)]
    watch: bool,
    #[serde(default)]
    output: RawOutput,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    probe: BTreeMap<Spanned<String>, RawProbe>,
    #[serde(default)]
    plugin: BTreeMap<Spanned<String>, RawPlugin>,
    #[serde(default)]
    registry: BTreeMap<Spanned<String>, Spanned<registries::RawRegistry>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    format: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    print_maps: Option<Spanned<String>>,
    prometheus: Option<Spanned<String>>,
    prometheus_tls: Option<metrics::RawTls>,
    prometheus_auth: Option<Spanned<metrics::RawAuth>>,
    alertmanager: Option<receivers::RawAlertmanager>,
    webhook: Option<receivers::RawWebhook>,
    syslog: Option<receivers::RawSyslog>,
    file: Option<String>,
    rotate_mib: Option<Spanned<u64>>,
    keep: Option<u32>,
    folded: Option<String>,
    flamegraph: Option<String>,
    pprof: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    pid: Option<Spanned<Vec<u32>>>,
    uid: Option<Spanned<Vec<u32>>>,
    comm: Option<Spanned<Vec<Spanned<String>>>>,
    container: Option<Spanned<Vec<Spanned<String>>>>,
    scope: Option<Spanned<String>>,
    frequency: Option<Spanned<u32>>,
    stacks: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    path: Option<Spanned<String>>,
    image: Option<Spanned<String>>,
    key: Option<String>,
    refresh: Option<Spanned<String>>,
    probes: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    config: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    grant: Grants,
}

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Ticks further apart than a day are a typo, and timers cannot reach past
/// the far future.
const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_ROTATE_MIB: u64 = 64;
pub const DEFAULT_KEEP: u32 = 5;
/// No config comes near this; a larger file is not one.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

impl Config {
    /// The plugin to run from `path`: the `[plugin.NAME]` whose file it is,
    /// or else one named after the file with no config of its own.
    pub fn plugin_for_file(&self, path: &Path) -> Option<PluginSpec> {
        if let Some(spec) = self.plugins.iter().find(|p| p.path == path) {
            return Some(spec.clone());
        }
        let name = path.file_stem()?.to_str()?;
        is_plugin_name(name).then(|| PluginSpec {
            name: name.to_string(),
            path: path.to_path_buf(),
            image: None,
            probes: None,
            config: Vec::new(),
            grants: Grants::default(),
        })
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let read = |cause| ConfigError::Read {
            path: path.to_path_buf(),
            cause,
        };
        // SAFETY: geteuid has no preconditions.
        let text = if unsafe { libc::geteuid() } == 0 {
            // The config picks the plugins root runs and the folders they
            // read: it must be root's alone, as a plugin must. Its links are
            // resolved first (a Kubernetes ConfigMap is a link in a folder
            // anyone may write to, mounted read-only); the file they lead
            // to and its folder are checked on the descriptors it is read through.
            let real = std::fs::canonicalize(path).map_err(read)?;
            if real.is_dir() {
                // Not a config, whoever's it is: said as reading it says.
                return Err(read(std::io::Error::from_raw_os_error(libc::EISDIR)));
            }
            let bytes = trust::read_trusted(&real, MAX_CONFIG_BYTES).map_err(ConfigError::Untrusted)?;
            std::io::read_to_string(bytes.as_slice()).map_err(read)?
        } else {
            std::fs::read_to_string(path).map_err(read)?
        };
        Config::parse(path, &text)
    }

    /// Parses `text` as if read from `path` (used for messages and relative paths).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let at = |(span, message): Located| invalid(path, text, span.unwrap_or(0..0), message);
        let raw: RawConfig = toml::from_str(text).map_err(|e| at((e.span(), e.message().to_string())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let plugin_dir = match &raw.plugin_dir {
            Some(dir) => base.join(dir.get_ref()),
            None => base.join("plugins"),
        };
        Ok(Config {
            path: path.to_path_buf(),
            cache_dir: raw.cache_dir.map_or_else(default_cache_dir, |dir| base.join(dir)),
            watch: raw.watch,
            output: output(&raw.output, base).map_err(at)?,
            limits: raw.limits.parse().map_err(|e| at(located(e)))?,
            probes: probes(&raw.probe).map_err(at)?,
            plugins: plugins(&raw.plugin, &plugin_dir, base).map_err(at)?,
            registries: registries::registries(&raw.registry, base).map_err(at)?,
            plugin_dir,
        })
    }
}

/// A mistake and where in the file it is (none: the file as a whole).
type Located = (Option<Range<usize>>, String);

/// A mistake in a value, and where the value is.
type Invalid = (Range<usize>, String);

fn located((span, message): Invalid) -> Located {
    (Some(span), message)
}

/// `[output]`.
fn output(raw: &RawOutput, base: &Path) -> Result<Output, Located> {
    let format = match raw.format.as_ref().map(|f| (f.get_ref().as_str(), f.span())) {
        None | Some(("text", _)) => Format::Text,
        Some(("json", _)) => Format::Json,
        Some((other, span)) => {
            return Err((
                Some(span),
                format!("unknown output format `{other}`: use \"text\" or \"json\""),
            ));
        }
    };
    // 1ns is the shortest duration longer than 0s.
    let interval = duration_within(
        &raw.interval,
        Duration::from_nanos(1)..=MAX_INTERVAL,
        DEFAULT_INTERVAL,
        |s, bad| match bad {
            BadDuration::OutOfRange => format!(
                "interval must be longer than 0s and at most {}",
                humantime::format_duration(MAX_INTERVAL)
            ),
            BadDuration::Unreadable(e) => format!("bad interval `{s}`: {e} (write e.g. \"1s\" or \"500ms\")"),
        },
    )
    .map_err(located)?;
    let print_maps = match raw.print_maps.as_ref().map(|p| (p.get_ref().as_str(), p.span())) {
        None | Some(("exit", _)) => PrintMaps::Exit,
        Some(("interval", _)) => PrintMaps::Interval,
        Some((other, span)) => {
            return Err((
                Some(span),
                format!("unknown print_maps `{other}`: use \"exit\" or \"interval\""),
            ));
        }
    };

    Ok(Output {
        format,
        interval,
        print_maps,
        prometheus: prometheus(raw, base)?,
        file: file_output(raw, base)?,
        receivers: receivers(raw, base)?,
        profiles: Profiles {
            folded: raw.folded.as_ref().map(|p| base.join(p)),
            flamegraph: raw.flamegraph.as_ref().map(|p| base.join(p)),
            pprof: raw.pprof.as_ref().map(|p| base.join(p)),
        },
    })
}

/// `[output]`'s Prometheus endpoint, with its TLS and credentials.
fn prometheus(raw: &RawOutput, base: &Path) -> Result<Option<Metrics>, Located> {
    Ok(match &raw.prometheus {
        None => {
            if let Some(auth) = &raw.prometheus_auth {
                return Err((
                    Some(auth.span()),
                    "[output.prometheus_auth] needs `prometheus = \"ADDR\"` in [output]".into(),
                ));
            }
            if raw.prometheus_tls.is_some() {
                return Err((
                    None,
                    "[output.prometheus_tls] needs `prometheus = \"ADDR\"` in [output]".into(),
                ));
            }
            None
        }
        Some(addr) => {
            let listen = addr.get_ref().parse().map_err(|e| {
                (
                    Some(addr.span()),
                    format!(
                        "bad prometheus address `{}`: {e} (write e.g. \"127.0.0.1:9464\" or \"0.0.0.0:9464\")",
                        addr.get_ref()
                    ),
                )
            })?;
            let tls = raw.prometheus_tls.as_ref();
            let auth = raw.prometheus_auth.as_ref();
            Some(metrics::parse(base, listen, tls, auth).map_err(located)?)
        }
    })
}

/// `[output]`'s file, and when it rotates.
fn file_output(raw: &RawOutput, base: &Path) -> Result<Option<FileOutput>, Located> {
    let rotate_bytes = match &raw.rotate_mib {
        None => DEFAULT_ROTATE_MIB << 20,
        Some(mib) => match mib.get_ref().checked_mul(1 << 20) {
            Some(0) => return Err((Some(mib.span()), "rotate_mib must be at least 1".into())),
            Some(bytes) => bytes,
            None => {
                return Err((
                    Some(mib.span()),
                    format!("rotate_mib is too large: at most {} (MiB)", u64::MAX >> 20),
                ));
            }
        },
    };
    Ok(raw.file.as_ref().map(|f| FileOutput {
        path: base.join(f),
        rotate_bytes,
        keep: raw.keep.unwrap_or(DEFAULT_KEEP),
    }))
}

/// `[output]`'s finding receivers.
fn receivers(raw: &RawOutput, base: &Path) -> Result<Receivers, Located> {
    Ok(Receivers {
        alertmanager: raw
            .alertmanager
            .as_ref()
            .map(|r| receivers::alertmanager(base, r))
            .transpose()
            .map_err(located)?,
        webhook: raw
            .webhook
            .as_ref()
            .map(|r| receivers::webhook(base, r))
            .transpose()
            .map_err(located)?,
        syslog: raw
            .syslog
            .as_ref()
            .map(|r| receivers::syslog(base, r))
            .transpose()
            .map_err(located)?,
    })
}

/// The `[probe."NAME"]` tables: each probe's filter.
fn probes(raw: &BTreeMap<Spanned<String>, RawProbe>) -> Result<BTreeMap<ProbeId, ProbeFilter>, Located> {
    let mut probes = BTreeMap::new();
    for (name, raw_probe) in raw {
        let id = probe_id(name).map_err(|m| (Some(name.span()), m))?;
        let filter = probe_filter(raw_probe).map_err(located)?;
        if let Some(frequency) = &raw_probe.frequency {
            let samples = catalog::by_id(id)
                .hooks
                .iter()
                .any(|h| h.attach == catalog::Attach::CpuClock);
            let hz = *frequency.get_ref();
            if !samples {
                return Err(located((
                    frequency.span(),
                    format!(
                        "`frequency` is for sampling probes (cpu.sample); `{}` is not one",
                        name.get_ref()
                    ),
                )));
            }
            if !(1..=MAX_FREQUENCY).contains(&hz) {
                return Err(located((
                    frequency.span(),
                    format!("frequency {hz} Hz: it must be 1 to {MAX_FREQUENCY} samples per second on each CPU"),
                )));
            }
        }
        if let Some(stacks) = &raw_probe.stacks {
            let refused = match (catalog::by_id(id).stacks, filter.stacks) {
                (catalog::StackSupport::Never(why), _) => {
                    Some(format!("`{}` cannot carry stacks: {why}", name.get_ref()))
                }
                (catalog::StackSupport::KernelOnly(why), Some(asked)) if asked.user() => Some(format!(
                    "`{}` can carry only kernel stacks (`stacks = \"kernel\"`): {why}",
                    name.get_ref()
                )),
                _ => None,
            };
            if let Some(message) = refused {
                return Err(located((stacks.span(), message)));
            }
        }
        probes.insert(id, filter);
    }
    Ok(probes)
}

/// The `[plugin.NAME]` tables.
fn plugins(
    raw: &BTreeMap<Spanned<String>, RawPlugin>,
    plugin_dir: &Path,
    base: &Path,
) -> Result<Vec<PluginSpec>, Located> {
    let mut plugins = Vec::new();
    for (name, raw_plugin) in raw {
        let plugin_name = name.get_ref();
        if !is_plugin_name(plugin_name) {
            return Err((
                Some(name.span()),
                format!("plugin name `{plugin_name}` may only hold letters, digits, `_` and `-`"),
            ));
        }
        let (path, image) = match (&raw_plugin.path, &raw_plugin.image) {
            (Some(p), Some(_)) => {
                return Err((
                    Some(p.span()),
                    format!("plugin.{plugin_name}: give path (a file) or image (from a registry), not both"),
                ));
            }
            (Some(p), None) => (plugin_dir.join(p.get_ref()), None),
            (None, None) => (plugin_dir.join(format!("{plugin_name}.wasm")), None),
            // Where the pulled component is, once it is.
            (None, Some(reference)) => (
                PathBuf::new(),
                Some(
                    registries::image(plugin_name, reference, &raw_plugin.key, &raw_plugin.refresh, base)
                        .map_err(located)?,
                ),
            ),
        };
        if image.is_none() && (raw_plugin.key.is_some() || raw_plugin.refresh.is_some()) {
            return Err((
                Some(name.span()),
                format!(
                    "plugin.{plugin_name}: key and refresh are for a plugin pulled from a registry (`image = \"REGISTRY/REPOSITORY:TAG\"`)"
                ),
            ));
        }
        let probes = match &raw_plugin.probes {
            None => None,
            Some(list) => Some(
                list.iter()
                    .map(|p| probe_id(p).map_err(|m| (Some(p.span()), m)))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let config = raw_plugin
            .config
            .iter()
            .map(|(key, value)| {
                plugin_value(value.get_ref())
                    .map(|v| (key.clone(), v))
                    .map_err(|m| (Some(value.span()), format!("plugin.{plugin_name}.config.{key}: {m}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        plugins.push(PluginSpec {
            name: plugin_name.clone(),
            path,
            image,
            probes,
            config,
            grants: raw_plugin.grant.clone(),
        });
    }

    Ok(plugins)
}

/// Letters, digits, `_` and `-`, at least one.
fn is_plugin_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn default_cache_dir() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/cache/wasmtrace");
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("wasmtrace")
}

fn probe_id(name: &Spanned<String>) -> Result<ProbeId, String> {
    let name = name.get_ref();
    catalog::find(name).map(|p| p.id).ok_or_else(|| {
        let hint = catalog::suggest(name)
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        format!("unknown probe `{name}`{hint}; `wasmtrace list` shows the catalog")
    })
}

fn probe_filter(raw: &RawProbe) -> Result<ProbeFilter, Invalid> {
    fn list<T: Clone>(what: &str, raw: &Option<Spanned<Vec<T>>>) -> Result<Vec<T>, Invalid> {
        match raw {
            None => Ok(Vec::new()),
            Some(l) if l.get_ref().len() > FILTER_MAX => {
                Err((l.span(), format!("at most {FILTER_MAX} {what} per probe filter")))
            }
            Some(l) => Ok(l.get_ref().clone()),
        }
    }
    let comms = list("comms", &raw.comm)?;
    for comm in &comms {
        let c = comm.get_ref();
        if c.is_empty() || c.len() >= COMM_LEN || c.contains('\0') {
            return Err((
                comm.span(),
                format!(
                    "comm `{c}` must be 1 to {} bytes: the kernel keeps only that much of a command name",
                    COMM_LEN - 1
                ),
            ));
        }
    }
    Ok(ProbeFilter {
        pids: list("pids", &raw.pid)?,
        uids: list("uids", &raw.uid)?,
        comms: comms.into_iter().map(Spanned::into_inner).collect(),
        scope: scope(raw)?,
        frequency: raw.frequency.as_ref().map(|f| *f.get_ref()),
        stacks: raw.stacks.as_ref().map(stacks).transpose()?,
    })
}

fn stacks(raw: &Spanned<String>) -> Result<Stacks, Invalid> {
    Stacks::NAMES
        .iter()
        .find(|(name, _)| name == raw.get_ref())
        .map(|&(_, stacks)| stacks)
        .ok_or_else(|| {
            (
                raw.span(),
                format!(
                    "stacks `{}`: it must be \"kernel\", \"user\", \"both\" or \"none\"",
                    escape::terminal(raw.get_ref())
                ),
            )
        })
}

fn scope(raw: &RawProbe) -> Result<Scope, Invalid> {
    match (&raw.scope, &raw.container) {
        (Some(scope), Some(_)) => Err((
            scope.span(),
            "`container` already limits this probe to those containers; drop `scope`".into(),
        )),
        (Some(scope), None) => match scope.get_ref().as_str() {
            "host" => Ok(Scope::Host),
            "containers" => Ok(Scope::Containers),
            other => Err((
                scope.span(),
                format!("scope `{other}` must be \"host\" or \"containers\" (or use `container = [...]` to name some)"),
            )),
        },
        (None, Some(names)) => {
            if names.get_ref().is_empty() {
                return Err((
                    names.span(),
                    "`container` names no container; remove it to trace every process".into(),
                ));
            }
            if let Some(empty) = names.get_ref().iter().find(|n| n.get_ref().trim().is_empty()) {
                return Err((
                    empty.span(),
                    "a container is named by its name, its id (12 hex digits or more) or `namespace/pod`".into(),
                ));
            }
            Ok(Scope::Named(
                names.get_ref().iter().map(|n| n.get_ref().clone()).collect(),
            ))
        }
        (None, None) => Ok(Scope::Any),
    }
}

fn plugin_value(value: &toml::Value) -> Result<PluginValue, String> {
    Ok(match value {
        toml::Value::Boolean(b) => PluginValue::Boolean(*b),
        toml::Value::Integer(n) => PluginValue::Integer(*n),
        toml::Value::Float(f) => PluginValue::Float(*f),
        toml::Value::String(s) => PluginValue::Text(s.clone()),
        toml::Value::Array(items) => PluginValue::Texts(
            items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or("lists may only hold strings")?,
        ),
        toml::Value::Datetime(_) | toml::Value::Table(_) => {
            return Err("plugin config values are booleans, integers, floats, strings or lists of strings".into());
        }
    })
}

fn invalid(path: &Path, text: &str, span: Range<usize>, message: String) -> ConfigError {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    ConfigError::Invalid {
        path: path.to_path_buf(),
        line: text[..start].matches('\n').count() + 1,
        column: text[line_start..start].chars().count() + 1,
        message,
        text: text[line_start..line_end].trim_end_matches('\r').to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn as_root_a_config_others_could_change_is_refused_and_its_links_are_resolved() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: the config is checked only when wasmtrace runs as root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let chmod = |path: &Path, mode| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        let folder = dir.path().join("..2025_01_01");
        std::fs::create_dir(&folder).unwrap();
        chmod(&folder, 0o755);
        let file = folder.join("wasmtrace.toml");
        std::fs::write(&file, "watch = true\n").unwrap();
        chmod(&file, 0o644);
        // As a ConfigMap is mounted: the path is a link, in a folder anyone may write to.
        let mounted = dir.path().join("mounted");
        std::fs::create_dir(&mounted).unwrap();
        chmod(&mounted, 0o1777);
        let link = mounted.join("wasmtrace.toml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(Config::load(&link).unwrap().watch);

        chmod(&file, 0o666);
        let err = Config::load(&link).unwrap_err().to_string();
        let real = std::fs::canonicalize(&file).unwrap();
        assert!(
            err.starts_with(&format!(
                "refusing the config: {} is writable by group or others (mode 0666)",
                real.display()
            )),
            "{err}"
        );
        assert!(err.contains(&format!("chmod go-w {}", real.display())), "{err}");
        chmod(&file, 0o644);

        std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
        let err = Config::load(&link).unwrap_err().to_string();
        assert!(err.contains("is owned by uid 65534"), "{err}");
        assert!(err.contains("chown root"), "{err}");
    }

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("/etc/wasmtrace/test.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn full_config() {
        let c = parse(
            r#"
plugin_dir = "build"
[output]
format = "json"
interval = "250ms"
print_maps = "interval"
prometheus = "127.0.0.1:9464"
file = "out/events.jsonl"
rotate_mib = 8
keep = 2
[limits]
ring_buffer_mib = 4
[probe."file.open"]
pid = [1, 2]
comm = ["cat"]
[plugin.opensnoop]
probes = ["file.open"]
[plugin.opensnoop.config]
count_paths = true
names = ["a", "b"]
"#,
        )
        .unwrap();
        assert_eq!(c.plugin_dir, Path::new("/etc/wasmtrace/build"));
        assert_eq!(c.output.format, Format::Json);
        assert_eq!(c.output.interval, Duration::from_millis(250));
        assert_eq!(c.output.print_maps, PrintMaps::Interval);
        assert_eq!(
            c.output.prometheus,
            Some(Metrics {
                listen: "127.0.0.1:9464".parse().unwrap(),
                tls: None,
                auth: None
            })
        );
        assert_eq!(
            c.output.file,
            Some(FileOutput {
                path: "/etc/wasmtrace/out/events.jsonl".into(),
                rotate_bytes: 8 << 20,
                keep: 2
            })
        );
        assert_eq!(c.limits.ring_buffer_bytes, 4 << 20);
        let f = &c.probes[&ProbeId::FileOpen];
        assert_eq!(
            (f.pids.as_slice(), f.comms.as_slice()),
            (&[1, 2][..], &["cat".to_string()][..])
        );
        let p = &c.plugins[0];
        assert_eq!(p.path, Path::new("/etc/wasmtrace/build/opensnoop.wasm"));
        assert_eq!(p.probes.as_deref(), Some(&[ProbeId::FileOpen][..]));
        assert_eq!(
            p.config,
            vec![
                ("count_paths".into(), PluginValue::Boolean(true)),
                ("names".into(), PluginValue::Texts(vec!["a".into(), "b".into()])),
            ]
        );
    }

    #[test]
    fn defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.plugin_dir, Path::new("/etc/wasmtrace/plugins"));
        assert_eq!(c.output.format, Format::Text);
        assert_eq!(c.output.interval, DEFAULT_INTERVAL);
        assert_eq!(c.limits, Limits::default());
    }

    #[test]
    fn stacks_are_asked_of_probes_that_can_carry_them() {
        let c =
            parse("[probe.\"file.open\"]\nstacks = \"both\"\n[probe.\"net.tcp.drop\"]\nstacks = \"kernel\"\n").unwrap();
        assert_eq!(c.probes[&ProbeId::FileOpen].stacks, Some(Stacks::Both));
        assert_eq!(c.probes[&ProbeId::NetTcpDrop].stacks, Some(Stacks::Kernel));
        let e = parse("[probe.\"sched.runq-latency\"]\nstacks = \"kernel\"\n").unwrap_err();
        assert!(
            e.contains("cannot carry stacks") && e.contains("another task's stack"),
            "{e}"
        );
        let e = parse("[probe.\"net.tcp.drop\"]\nstacks = \"both\"\n").unwrap_err();
        assert!(e.contains("only kernel stacks") && e.contains("softirq"), "{e}");
        let e = parse("[probe.\"cpu.sample\"]\nstacks = \"all\\u001b[2J\"\n").unwrap_err();
        assert!(
            e.contains("\"kernel\", \"user\", \"both\" or \"none\"") && !e.contains('\u{1b}'),
            "{e}"
        );
    }

    #[test]
    fn unknown_probe_names_line_and_suggests() {
        let e = parse("\n[probe.\"file.opne\"]\npid = [1]\n").unwrap_err();
        assert!(
            e.starts_with("/etc/wasmtrace/test.toml:2:8: unknown probe `file.opne` (did you mean `file.open`?)"),
            "{e}"
        );
        assert!(e.contains("[probe.\"file.opne\"]"), "{e}");
    }

    #[test]
    fn unknown_probe_in_plugin_probes() {
        let e = parse("[plugin.x]\nprobes = [\"net.nope\"]\n").unwrap_err();
        assert!(
            e.starts_with("/etc/wasmtrace/test.toml:2:11: unknown probe `net.nope`;"),
            "{e}"
        );
    }

    /// Where a probe's processes run: by pid namespace, or named containers;
    /// not both, and never an empty list (it would trace nothing, silently).
    #[test]
    fn scope_and_container_filters() {
        let scope = |table: &str| {
            parse(&format!("[probe.\"file.open\"]\n{table}\n")).map(|c| c.probes[&ProbeId::FileOpen].scope.clone())
        };
        assert_eq!(scope(""), Ok(Scope::Any));
        assert_eq!(scope("scope = \"host\""), Ok(Scope::Host));
        assert_eq!(scope("scope = \"containers\""), Ok(Scope::Containers));
        assert_eq!(
            scope("container = [\"web\", \"shop/cart-5c7f9\"]"),
            Ok(Scope::Named(vec!["web".into(), "shop/cart-5c7f9".into()]))
        );
        for (table, message) in [
            (
                "scope = \"pods\"",
                "2:9: scope `pods` must be \"host\" or \"containers\"",
            ),
            (
                "scope = \"host\"\ncontainer = [\"web\"]",
                "2:9: `container` already limits this probe",
            ),
            ("container = []", "2:13: `container` names no container"),
            ("container = [\" \"]", "2:14: a container is named by its name"),
        ] {
            let e = scope(table).unwrap_err();
            assert!(
                e.starts_with(&format!("/etc/wasmtrace/test.toml:{message}")),
                "{table}: {e}"
            );
        }
    }

    #[test]
    fn bad_type_names_line() {
        let e = parse("[probe.\"file.open\"]\npid = [\"one\"]\n").unwrap_err();
        assert!(
            e.starts_with("/etc/wasmtrace/test.toml:2:8: invalid type: string \"one\", expected u32"),
            "{e}"
        );
        assert!(e.contains("pid = [\"one\"]"), "{e}");
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = parse("[output]\nformat = \"text\"\ncolour = true\n").unwrap_err();
        assert!(
            e.starts_with("/etc/wasmtrace/test.toml:3:1: unknown field `colour`"),
            "{e}"
        );
    }

    #[test]
    fn bad_values() {
        let e = parse("[output]\nformat = \"xml\"\n").unwrap_err();
        assert!(e.contains(":2:10: unknown output format `xml`"), "{e}");
        let e = parse("[output]\nprometheus = \"localhost\"\n").unwrap_err();
        assert!(e.contains(":2:14: bad prometheus address `localhost`"), "{e}");
        let e = parse("[output]\nfile = \"x\"\nrotate_mib = 0\n").unwrap_err();
        assert!(e.contains(":3:14: rotate_mib must be at least 1"), "{e}");
        let e = parse("[output]\ninterval = \"soon\"\n").unwrap_err();
        assert!(e.contains(":2:12: bad interval `soon`"), "{e}");
        let e = parse("[limits]\nring_buffer_mib = 3\n").unwrap_err();
        assert!(e.contains(":2:19: ring_buffer_mib must be a power of two"), "{e}");
        let e = parse("[limits]\nplugin_keys_per_map = 0\n").unwrap_err();
        assert!(
            e.contains(":2:23: plugin_keys_per_map must be from 1 to 16777216, not 0"),
            "{e}"
        );
        let e = parse("[limits]\nplugin_cpu_per_call = \"1us\"\n").unwrap_err();
        assert!(e.contains(":2:23: plugin_cpu_per_call must be from 10ms to 1h"), "{e}");
        let e = parse("[probe.\"file.open\"]\ncomm = [\"a-very-long-command-name\"]\n").unwrap_err();
        assert!(
            e.contains(":2:9: comm `a-very-long-command-name` must be 1 to 15 bytes"),
            "{e}"
        );
        let e = parse("[probe.\"file.open\"]\npid = [1,2,3,4,5,6,7,8,9]\n").unwrap_err();
        assert!(e.contains(":2:7: at most 8 pids"), "{e}");
        let e = parse("[plugin.x.config]\nwhen = 1979-05-27\n").unwrap_err();
        assert!(
            e.contains(":2:8: plugin.x.config.when: plugin config values are"),
            "{e}"
        );
    }

    #[test]
    fn syntax_error_names_line() {
        let e = parse("[output\nformat = 1\n").unwrap_err();
        assert!(e.starts_with("/etc/wasmtrace/test.toml:1:"), "{e}");
    }

    /// A config line: a known key (sometimes misspelt) with a value of any type.
    fn fuzz_line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("format"),
            Just("interval"),
            Just("print_maps"),
            Just("prometheus"),
            Just("file"),
            Just("rotate_mib"),
            Just("keep"),
            Just("ring_buffer_mib"),
            Just("plugin_queue_events"),
            Just("plugin_cpu_per_call"),
            Just("plugin_wall_per_call"),
            Just("plugin_memory_mib"),
            Just("plugin_emits_per_interval"),
            Just("plugin_emit_kib_per_interval"),
            Just("plugin_maps"),
            Just("plugin_keys_per_map"),
            Just("plugin_map_memory_mib"),
            Just("plugin_string_bytes"),
            Just("pid"),
            Just("uid"),
            Just("comm"),
            Just("path"),
            Just("probes"),
            Just("plugin_dir"),
            Just("watch"),
            Just("fromat"),
        ];
        let value = prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            (0u32..5000).prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| format!("{f:?}")),
            any::<bool>().prop_map(|b| b.to_string()),
            "[^\"\\\\]{0,12}".prop_map(|s| format!("{s:?}")),
            Just("\"1s\"".to_string()),
            Just("\"99999999999y\"".to_string()),
            Just("\"json\"".to_string()),
            Just("\"127.0.0.1:0\"".to_string()),
            Just("[\"file.open\", \"net.nope\"]".to_string()),
            proptest::collection::vec(any::<u32>(), 0..3).prop_map(|v| format!("{v:?}")),
            Just("{ a = 1 }".to_string()),
        ];
        (key, value).prop_map(|(k, v)| format!("{k} = {v}"))
    }

    fn fuzz_section() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let header = prop_oneof![
            Just(String::new()),
            Just("[output]".to_string()),
            Just("[limits]".to_string()),
            Just("[probe.\"file.open\"]".to_string()),
            Just("[probe.\"nope\"]".to_string()),
            Just("[plugin.p]".to_string()),
            Just("[plugin.p.config]".to_string()),
            Just("[plugin.p.grant]".to_string()),
        ];
        (header, proptest::collection::vec(fuzz_line(), 0..4))
            .prop_map(|(h, lines)| format!("{h}\n{}\n", lines.join("\n")))
    }

    /// Where an error points must be in the text it quotes.
    fn check_located(
        text: &str,
        result: Result<Config, ConfigError>,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        match result {
            Ok(_) => {}
            Err(ConfigError::Invalid {
                line,
                column,
                text: quoted,
                ..
            }) => {
                let lines: Vec<&str> = text.split('\n').collect();
                proptest::prop_assert!(line >= 1 && line <= lines.len(), "line {line} of {}", lines.len());
                let whole = lines[line - 1];
                proptest::prop_assert_eq!(quoted.as_str(), whole.trim_end_matches('\r'));
                proptest::prop_assert!(column >= 1 && column <= whole.chars().count() + 1);
            }
            Err(e) => proptest::prop_assert!(false, "parse gave {e}"),
        }
        Ok(())
    }

    proptest::proptest! {
        /// Any text: a valid config or an error naming a line and column inside it.
        #[test]
        fn fuzz_config_any_text_parses_or_errs_with_a_location(text in "(\\PC|\n|\r|\t|\"|=|\\[|\\]){0,200}") {
            check_located(&text, Config::parse(Path::new("/x/c.toml"), &text))?;
        }

        /// Known sections and keys with values of any type and size.
        #[test]
        fn fuzz_config_any_values_parse_or_err_with_a_location(sections in proptest::collection::vec(fuzz_section(), 1..5)) {
            let text = sections.concat();
            check_located(&text, Config::parse(Path::new("/x/c.toml"), &text))?;
        }
    }

    #[test]
    fn metrics_endpoint_with_tls_and_auth() {
        let c = parse(
            "[output]\nprometheus = \"0.0.0.0:9464\"\n[output.prometheus_tls]\ncert_file = \"tls/crt.pem\"\n\
             key_file = \"/k.pem\"\n[output.prometheus_auth]\nusername = \"prom\"\npassword_env = \"PW\"\n",
        )
        .unwrap();
        assert_eq!(
            c.output.prometheus.unwrap(),
            Metrics {
                listen: "0.0.0.0:9464".parse().unwrap(),
                tls: Some(Tls {
                    cert_file: "/etc/wasmtrace/tls/crt.pem".into(),
                    key_file: "/k.pem".into()
                }),
                auth: Some(Auth::Basic {
                    username: "prom".into(),
                    password: Secret::Env("PW".into())
                }),
            }
        );
        let c = parse("[output]\nprometheus = \"127.0.0.1:1\"\n[output.prometheus_auth]\nbearer_token_file = \"t\"\n")
            .unwrap();
        assert_eq!(
            c.output.prometheus.unwrap().auth,
            Some(Auth::Bearer {
                token: Secret::File("/etc/wasmtrace/t".into())
            })
        );
    }

    #[test]
    fn metrics_auth_mistakes_are_named() {
        let head = "[output]\nprometheus = \"127.0.0.1:1\"\n[output.prometheus_auth]\n";
        for (auth, wanted) in [
            (
                "username = \"u\"\n",
                ":4:12: a username needs password_file or password_env",
            ),
            ("password_env = \"P\"\n", "a password needs a username"),
            (
                "username = \"u\"\npassword_env = \"P\"\npassword_file = \"f\"\n",
                ":5:16: give password_file or password_env, not both",
            ),
            (
                "username = \"u\"\npassword_env = \"P\"\nbearer_token_env = \"T\"\n",
                "a bearer token, not both",
            ),
            ("password = \"inline\"\n", "unknown field `password`"),
        ] {
            let e = parse(&format!("{head}{auth}")).unwrap_err();
            assert!(e.contains(wanted), "{auth}: {e}");
        }
        let e = parse("[output.prometheus_auth]\nbearer_token_env = \"T\"\n").unwrap_err();
        assert!(e.contains("needs `prometheus = \"ADDR\"` in [output]"), "{e}");
    }

    #[test]
    fn overflowing_sizes_and_intervals_are_errors_that_say_so() {
        let e = parse("[output]\nfile = \"x\"\nrotate_mib = 18446744073709551615\n").unwrap_err();
        assert!(
            e.contains(":3:14: rotate_mib is too large: at most 17592186044415 (MiB)"),
            "{e}"
        );
        let e = parse("[output]\ninterval = \"500000y\"\n").unwrap_err();
        assert!(
            e.contains(":2:12: interval must be longer than 0s and at most 1day"),
            "{e}"
        );
    }
}
