//! The Prometheus exposition endpoint: every plugin's maps as metrics
//! (`wasmtrace_PLUGIN_MAP`, map labels as labels; log2 histograms as
//! Prometheus histograms), and wasmtrace's own per-probe event and loss
//! counters. `server` serves them at `/metrics`.
//!
//! Plugins choose their maps' names, labels and keys, so the exposition is
//! bounded against them: label names are made valid and distinct, a map whose
//! metric names another family already has is left out (and said), and a
//! scrape stops at `Limits::scrape_bytes`, each plugin getting a fair share
//! of it. Whatever plugins do, the text is one that Prometheus accepts whole.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::maps::{Key, Log2Hist, Map, MapKind, PluginMaps, Values};
use crate::output::{PluginStats, ProbeStats};

mod server;
pub use server::serve;

/// The session's own figures, as of its last tick.
#[derive(Debug, Clone, Default)]
pub struct Published {
    pub probes: Vec<ProbeStats>,
    pub plugins: Vec<PluginStats>,
    pub deliveries: Vec<crate::deliver::DeliveryStats>,
}

/// What the session publishes for the endpoint.
pub type SharedStats = Arc<Mutex<Published>>;

/// What the endpoint counts across scrapes; every scrape shows it.
#[derive(Debug, Default)]
pub struct Counters {
    /// Scrapes cut at `Limits::scrape_bytes`.
    pub truncated: AtomicU64,
    /// Connections closed for going `Limits::idle` without a request in
    /// progress, or with a response the client stopped taking.
    pub closed_idle: AtomicU64,
    /// Connections closed to make room for a new one.
    pub closed_evicted: AtomicU64,
    /// New connections closed at once: every open one had a scrape in progress.
    pub closed_full: AtomicU64,
    /// Scrapes answered `503`: the renders stayed taken for `Limits::idle`.
    pub busy: AtomicU64,
    /// When a cut scrape was last warned about.
    last_warning: Mutex<Option<Instant>>,
}

/// A cut scrape is warned about at most this often; the rest are counted.
const WARN_EVERY: Duration = Duration::from_secs(60);

impl Counters {
    fn warn_cut(&self, message: impl FnOnce() -> String) {
        let mut last = self.last_warning.lock().expect("warning lock");
        if last.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!("{}", message());
        }
    }
}

/// The exposition's family types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Counter,
    Gauge,
    Histogram,
}

impl Type {
    fn of(kind: MapKind) -> Type {
        match kind {
            MapKind::Counter | MapKind::StackCounter => Type::Counter,
            MapKind::Gauge => Type::Gauge,
            MapKind::Log2Histogram => Type::Histogram,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Type::Counter => "counter",
            Type::Gauge => "gauge",
            Type::Histogram => "histogram",
        }
    }
}

/// Every metric name a family of this type and name holds: its samples'
/// names, and a counter's name without `_total` (OpenMetrics names the
/// family so), so that no two families can be read as one.
fn occupied(name: &str, ty: Type) -> Vec<String> {
    match ty {
        Type::Counter => {
            let mut names = vec![name.to_string()];
            names.extend(name.strip_suffix("_total").map(str::to_string));
            names
        }
        Type::Gauge => vec![name.to_string()],
        Type::Histogram => ["", "_bucket", "_sum", "_count"]
            .iter()
            .map(|suffix| format!("{name}{suffix}"))
            .collect(),
    }
}

/// Families the host writes itself, and their names.
#[derive(Default)]
struct Families {
    text: String,
    names: Vec<(&'static str, Type)>,
}

impl Families {
    /// A family per figure: (labels, value) rows.
    fn add<T>(&mut self, name: &'static str, ty: Type, help: &str, rows: impl Iterator<Item = (String, T)>)
    where
        T: fmt::Display,
    {
        self.names.push((name, ty));
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {}", ty.as_str());
        for (labels, value) in rows {
            if labels.is_empty() {
                let _ = writeln!(self.text, "{name} {value}");
            } else {
                let _ = writeln!(self.text, "{name}{{{labels}}} {value}");
            }
        }
    }
}

/// wasmtrace's own figures: per probe, plugin and receiver.
fn own_families(published: &Published) -> Families {
    let mut own = Families::default();
    let probe = |s: &ProbeStats| format!("probe=\"{}\"", escape(s.probe));
    own.add(
        "wasmtrace_probe_events_total",
        Type::Counter,
        "Events a probe delivered.",
        published.probes.iter().map(|s| (probe(s), s.events)),
    );
    own.add(
        "wasmtrace_probe_lost_total",
        Type::Counter,
        "Events a probe dropped in the kernel: its ring buffer (syscall.count: its kernel map) was full.",
        published.probes.iter().map(|s| (probe(s), s.lost)),
    );
    own.add(
        "wasmtrace_probe_skipped_total",
        Type::Counter,
        "Calls of a probe's programs the kernel skipped (another eBPF program was running on that CPU): an upper bound on events missed.",
        published.probes.iter().map(|s| (probe(s), s.skipped)),
    );
    let plugin = |s: &PluginStats| format!("plugin=\"{}\"", escape(&s.plugin));
    let plugins = &published.plugins;
    own.add(
        "wasmtrace_plugin_events_total",
        Type::Counter,
        "Events a plugin handled.",
        plugins.iter().map(|s| (plugin(s), s.events)),
    );
    own.add(
        "wasmtrace_plugin_busy_seconds_total",
        Type::Counter,
        "Time a plugin spent handling events.",
        plugins.iter().map(|s| (plugin(s), s.busy.as_secs_f64())),
    );
    own.add(
        "wasmtrace_plugin_dropped_total",
        Type::Counter,
        "Events dropped for a plugin because its queue was full (it fell behind).",
        plugins.iter().flat_map(|s| {
            s.dropped
                .iter()
                .map(move |(probe, n)| (format!("{},probe=\"{}\"", plugin(s), escape(probe)), *n))
        }),
    );
    own.add(
        "wasmtrace_plugin_missed_total",
        Type::Counter,
        "Events a plugin missed while down after a failure, or failed on.",
        plugins.iter().map(|s| (plugin(s), s.missed)),
    );
    own.add(
        "wasmtrace_plugin_failures_total",
        Type::Counter,
        "Times a plugin trapped, overran a limit, or failed to restart.",
        plugins.iter().map(|s| (plugin(s), s.failures)),
    );
    own.add(
        "wasmtrace_plugin_refused_total",
        Type::Counter,
        "Updates and output a plugin's quotas refused, by [limits] setting.",
        plugins.iter().flat_map(|s| {
            [
                ("plugin_maps", s.refused.maps),
                ("plugin_keys_per_map", s.refused.keys),
                ("plugin_map_memory_mib", s.refused.bytes),
                ("plugin_emits_per_interval", s.emits_refused),
            ]
            .map(|(limit, n)| (format!("{},limit=\"{limit}\"", plugin(s)), n))
        }),
    );
    let output = |s: &crate::deliver::DeliveryStats| format!("output=\"{}\"", s.output);
    let deliveries = &published.deliveries;
    own.add(
        "wasmtrace_findings_delivered_total",
        Type::Counter,
        "Findings a receiver (alertmanager, webhook, syslog) accepted.",
        deliveries.iter().map(|s| (output(s), s.delivered)),
    );
    own.add(
        "wasmtrace_findings_dropped_total",
        Type::Counter,
        "Findings that found a receiver's queue (and spool file) full, or that it refused.",
        deliveries.iter().map(|s| (output(s), s.dropped)),
    );
    own.add(
        "wasmtrace_findings_refused_total",
        Type::Counter,
        "Findings a receiver refused even when sent alone (also counted as dropped).",
        deliveries.iter().map(|s| (output(s), s.refused)),
    );
    own.add(
        "wasmtrace_findings_failed_attempts_total",
        Type::Counter,
        "Deliveries to a receiver that failed and were retried.",
        deliveries.iter().map(|s| (output(s), s.failed_attempts)),
    );
    own
}

/// Why a map family is left out of a scrape: `wasmtrace_scrape_left_out_families{reason}`.
const LEFT_OUT: [&str; 2] = ["size", "name"];
const SIZE: usize = 0;
const NAME: usize = 1;

/// Why the endpoint closed a connection: `wasmtrace_endpoint_closed_total{reason}`.
const CLOSED: [&str; 3] = ["idle", "evicted", "full"];

/// The figures the scrape's last families show.
struct Figures {
    truncated: u64,
    closed: [u64; 3],
    busy: u64,
    /// Per plugin, by `LEFT_OUT` reason.
    left_out: Vec<[u64; 2]>,
    /// Map families this scrape left out for size, when it was cut.
    cut: Option<u64>,
}

impl Figures {
    /// Every figure at its widest: the room the last families may take.
    fn widest(plugins: usize) -> Figures {
        Figures {
            truncated: u64::MAX,
            closed: [u64::MAX; 3],
            busy: u64::MAX,
            left_out: vec![[u64::MAX; 2]; plugins],
            cut: Some(u64::MAX),
        }
    }
}

/// The scrape's own figures, written last: whether it was cut, what it left
/// out, and what the endpoint closed or refused.
fn scrape_families(plugins: &[PluginMaps], figures: &Figures, max_bytes: usize) -> Families {
    let mut out = Families::default();
    if let Some(n) = figures.cut {
        let _ = writeln!(
            out.text,
            "# wasmtrace: this scrape reached its bound of {max_bytes} bytes: {n} map families left out \
             (wasmtrace_scrape_left_out_families)"
        );
    }
    out.add(
        "wasmtrace_scrape_truncated_total",
        Type::Counter,
        "Scrapes cut at the endpoint's byte bound; the map families that did not fit were left out.",
        std::iter::once((String::new(), figures.truncated)),
    );
    out.add(
        "wasmtrace_scrape_left_out_families",
        Type::Gauge,
        "Map families this scrape left out, by plugin and reason: size (past the scrape's byte bound, \
         each plugin having had a fair share of it) or name (its metric name is another family's).",
        plugins.iter().zip(&figures.left_out).flat_map(|(p, counts)| {
            LEFT_OUT
                .into_iter()
                .zip(counts.iter().copied())
                .map(move |(reason, n)| (format!("plugin=\"{}\",reason=\"{reason}\"", escape(&p.plugin)), n))
        }),
    );
    out.add(
        "wasmtrace_endpoint_closed_total",
        Type::Counter,
        "Connections the metrics endpoint closed: idle (no request in progress for its idle timeout, or \
         a response the client stopped taking), evicted (the longest idle one, to make room for a new \
         one), full (a new one, while every open one had a scrape in progress).",
        CLOSED
            .into_iter()
            .zip(figures.closed)
            .map(|(reason, n)| (format!("reason=\"{reason}\""), n)),
    );
    out.add(
        "wasmtrace_endpoint_busy_total",
        Type::Counter,
        "Scrapes answered 503 because the endpoint's renders stayed taken for its idle timeout.",
        std::iter::once((String::new(), figures.busy)),
    );
    out
}

/// One plugin map's place in the exposition.
enum Item<'a> {
    /// Written as the family `base` (with its type's suffixes).
    Family { plugin: usize, base: String, map: &'a Map },
    /// Left out, since `metric` is `holder`'s; a comment says so.
    Taken {
        plugin: usize,
        map: &'a Map,
        metric: String,
        holder: String,
    },
}

impl Item<'_> {
    fn plugin(&self) -> usize {
        match self {
            Item::Family { plugin, .. } | Item::Taken { plugin, .. } => *plugin,
        }
    }
}

/// Every map in order, each with its family name, or left out when a name it
/// needs is taken: by the host's families, or by an earlier map. Names can
/// meet once sanitised (plugins `a-b` and `a_b`) or through suffixes (a
/// gauge `x_total` beside a counter `x`, a gauge `y_sum` beside a histogram `y`).
fn plan<'a>(plugins: &'a [PluginMaps], mut taken: HashMap<String, String>) -> Vec<Item<'a>> {
    let mut items = Vec::new();
    for (index, plugin) in plugins.iter().enumerate() {
        for map in plugin.maps() {
            let base = format!("wasmtrace_{}_{}", sanitize(&plugin.plugin), sanitize(&map.name));
            let ty = Type::of(map.values.kind());
            let names = occupied(&family_name(&base, ty), ty);
            let clash = names
                .iter()
                .find_map(|n| taken.get(n).map(|holder| (n.clone(), holder.clone())));
            match clash {
                Some((metric, holder)) => items.push(Item::Taken {
                    plugin: index,
                    map,
                    metric,
                    holder,
                }),
                None => {
                    let holder = format!("map @{} of plugin {}", map.name, escape(&plugin.plugin));
                    for name in names {
                        taken.insert(name, holder.clone());
                    }
                    items.push(Item::Family {
                        plugin: index,
                        base,
                        map,
                    });
                }
            }
        }
    }
    items
}

/// The name a map's `# TYPE` line gives.
fn family_name(base: &str, ty: Type) -> String {
    match ty {
        Type::Counter => format!("{base}_total"),
        Type::Gauge | Type::Histogram => base.to_string(),
    }
}

/// Text written up to a bound: a write past it fails, so that the writer
/// stops there. Without a string it only counts.
struct Bounded<'a> {
    out: Option<&'a mut String>,
    written: usize,
    room: usize,
}

impl fmt::Write for Bounded<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.len() > self.room - self.written {
            return Err(fmt::Error);
        }
        self.written += s.len();
        if let Some(out) = self.out.as_deref_mut() {
            out.push_str(s);
        }
        Ok(())
    }
}

/// An item's size, or `room + 1` when it is larger than `room`.
fn measure(plugins: &[PluginMaps], item: &Item, room: usize) -> usize {
    let mut w = Bounded {
        out: None,
        written: 0,
        room,
    };
    match write_item(&mut w, plugins, item) {
        Ok(()) => w.written,
        Err(_) => room.saturating_add(1),
    }
}

/// The text exposition format (version 0.0.4), at most `max_bytes` long:
/// map families that do not fit are left out whole, each plugin having
/// first had a fair share (max-min) of the room, so that one plugin's maps
/// cannot push out the others'. The host's own families are always written.
pub fn render(plugins: &[PluginMaps], published: &Published, max_bytes: usize, counters: &Counters) -> String {
    let own = own_families(published);
    let widest = scrape_families(plugins, &Figures::widest(plugins.len()), max_bytes);
    let mut taken = HashMap::new();
    for (name, ty) in own.names.iter().chain(&widest.names) {
        for n in occupied(name, *ty) {
            taken.insert(n, "wasmtrace's own metrics".to_string());
        }
    }
    let items = plan(plugins, taken);
    let budget = max_bytes.saturating_sub(own.text.len() + widest.text.len());

    let (mut out, sizes, whole) = write_while_room(plugins, &items, budget);
    let mut left_out = vec![[0u64; 2]; plugins.len()];
    for item in &items {
        if let Item::Taken { plugin, .. } = item {
            left_out[*plugin][NAME] += 1;
        }
    }
    let mut cut = None;
    let mut truncated = counters.truncated.load(Ordering::Relaxed);
    if !whole {
        let n;
        (out, n) = write_cut(plugins, &items, &sizes, budget, &mut left_out);
        cut = Some(n);
        truncated = counters.truncated.fetch_add(1, Ordering::Relaxed) + 1;
        counters.warn_cut(|| {
            let by: Vec<String> = plugins
                .iter()
                .zip(&left_out)
                .filter(|(_, c)| c[SIZE] > 0)
                .map(|(p, c)| format!("{} {}", p.plugin, c[SIZE]))
                .collect();
            format!(
                "a Prometheus scrape reached its bound of {max_bytes} bytes: {n} map families left out (by plugin: {}). \
                 Key Prometheus-facing maps by bounded things; cut scrapes are counted in \
                 wasmtrace_scrape_truncated_total, and this warning repeats at most once a minute",
                by.join(", ")
            )
        });
    }
    out.push_str(&own.text);
    let figures = Figures {
        truncated,
        closed: [
            counters.closed_idle.load(Ordering::Relaxed),
            counters.closed_evicted.load(Ordering::Relaxed),
            counters.closed_full.load(Ordering::Relaxed),
        ],
        busy: counters.busy.load(Ordering::Relaxed),
        left_out,
        cut,
    };
    out.push_str(&scrape_families(plugins, &figures, max_bytes).text);
    out
}

/// Writes the items while they fit in `budget` (most scrapes do: written
/// at once); past it, the rest is only measured. The text, every item's
/// size, and whether all were written.
fn write_while_room(plugins: &[PluginMaps], items: &[Item], budget: usize) -> (String, Vec<usize>, bool) {
    let mut out = String::new();
    let mut sizes = Vec::with_capacity(items.len());
    let mut whole = true;
    for item in items {
        let size = if whole {
            let mark = out.len();
            let mut w = Bounded {
                out: Some(&mut out),
                written: 0,
                room: budget - mark,
            };
            let written = write_item(&mut w, plugins, item).map(|()| w.written);
            match written {
                Ok(size) => size,
                Err(_) => {
                    out.truncate(mark);
                    whole = false;
                    measure(plugins, item, budget)
                }
            }
        } else {
            measure(plugins, item, budget)
        };
        sizes.push(size);
    }
    (out, sizes, whole)
}

/// The items `choose` keeps, written; the families left out counted per
/// plugin in `left_out`, and in all.
fn write_cut(
    plugins: &[PluginMaps],
    items: &[Item],
    sizes: &[usize],
    budget: usize,
    left_out: &mut [[u64; 2]],
) -> (String, u64) {
    let keep = choose(items, sizes, plugins.len(), budget);
    let mut out = String::new();
    let mut n = 0;
    for (item, keep) in items.iter().zip(keep) {
        if keep {
            let _ = write_item(&mut out, plugins, item);
        } else if let Item::Family { plugin, .. } = item {
            left_out[*plugin][SIZE] += 1;
            n += 1;
        }
    }
    (out, n)
}

/// Which items a cut scrape keeps. Each plugin gets a max-min fair share of
/// `budget` (what it needs, or the level every larger one gets), and keeps
/// its items in order while they fit in it; what the shares left unused goes
/// to the items left over, in order.
fn choose(items: &[Item], sizes: &[usize], plugins: usize, budget: usize) -> Vec<bool> {
    let mut wants = vec![0usize; plugins];
    for (item, size) in items.iter().zip(sizes) {
        wants[item.plugin()] = wants[item.plugin()].saturating_add(*size);
    }
    let mut room = shares(&wants, budget);
    let mut keep = vec![false; items.len()];
    let mut used = 0;
    for (i, item) in items.iter().enumerate() {
        let share = &mut room[item.plugin()];
        if sizes[i] <= *share {
            *share -= sizes[i];
            used += sizes[i];
            keep[i] = true;
        }
    }
    let mut spare = budget - used;
    for (i, size) in sizes.iter().enumerate() {
        if !keep[i] && *size <= spare {
            spare -= size;
            keep[i] = true;
        }
    }
    keep
}

/// Max-min fair shares of `budget`: the smaller wants are met in full, and
/// the larger ones share what is left equally.
fn shares(wants: &[usize], budget: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..wants.len()).collect();
    order.sort_by_key(|&i| wants[i]);
    let mut left = budget;
    let mut shares = vec![0; wants.len()];
    for (k, &i) in order.iter().enumerate() {
        let level = left / (wants.len() - k);
        shares[i] = wants[i].min(level);
        left -= shares[i];
    }
    shares
}

fn write_item(w: &mut impl fmt::Write, plugins: &[PluginMaps], item: &Item) -> fmt::Result {
    match item {
        Item::Family { plugin, base, map } => write_map(w, base, &plugins[*plugin].plugin, map),
        Item::Taken {
            plugin,
            map,
            metric,
            holder,
        } => writeln!(
            w,
            "# wasmtrace: map @{} of plugin {} left out: its metric name {metric} is taken by {holder}",
            map.name,
            escape(&plugins[*plugin].plugin)
        ),
    }
}

fn write_map(w: &mut impl fmt::Write, base: &str, plugin: &str, map: &Map) -> fmt::Result {
    let labels = label_names(&map.labels);
    let help = map_help(plugin, map, &labels);
    match &map.values {
        Values::Counter(m) => {
            writeln!(w, "# HELP {base}_total {help}\n# TYPE {base}_total counter")?;
            for (key, v) in m {
                writeln!(w, "{base}_total{} {v}", Braced(&pairs(&labels, key)))?;
            }
        }
        Values::Gauge(m) => {
            writeln!(w, "# HELP {base} {help}\n# TYPE {base} gauge")?;
            for (key, v) in m {
                writeln!(w, "{base}{} {v}", Braced(&pairs(&labels, key)))?;
            }
        }
        Values::Log2Histogram(m) => {
            writeln!(w, "# HELP {base} {help}\n# TYPE {base} histogram")?;
            for (key, h) in m {
                write_histogram(w, base, &pairs(&labels, key), h)?;
            }
        }
        // Stacks are profiles, not series: [output] writes them as flame graphs and pprof.
        Values::StackCounter(_) => {}
    }
    Ok(())
}

/// Bucket `b` holds integers in `[2^(b-1), 2^b)`, so its Prometheus upper
/// bound (`le`, inclusive) is `2^b - 1`; buckets are cumulative.
fn write_histogram(w: &mut impl fmt::Write, base: &str, pairs: &str, h: &Log2Hist) -> fmt::Result {
    let last = h.buckets.iter().rposition(|&n| n > 0).unwrap_or(0);
    let comma = if pairs.is_empty() { "" } else { "," };
    let mut cumulative = 0;
    for (b, n) in h.buckets.iter().enumerate().take(last + 1) {
        cumulative += n;
        let le = if b == 64 { u64::MAX } else { (1u64 << b) - 1 };
        writeln!(w, "{base}_bucket{{{pairs}{comma}le=\"{le}\"}} {cumulative}")?;
    }
    writeln!(w, "{base}_bucket{{{pairs}{comma}le=\"+Inf\"}} {}", h.count)?;
    writeln!(w, "{base}_sum{} {}", Braced(pairs), h.sum)?;
    writeln!(w, "{base}_count{} {}", Braced(pairs), h.count)
}

/// A map's `# HELP` text; it names the labels that were renamed.
fn map_help(plugin: &str, map: &Map, labels: &[String]) -> String {
    let mut help = format!("Map @{} of plugin {}.", map.name, escape_help(plugin));
    let renamed: Vec<String> = map
        .labels
        .iter()
        .zip(labels)
        .filter(|(raw, name)| raw != name)
        .map(|(raw, name)| format!("{} as {name}", escape_help(&format!("{raw:?}"))))
        .collect();
    if !renamed.is_empty() {
        let _ = write!(
            help,
            " Labels renamed to be valid and distinct: {}.",
            renamed.join(", ")
        );
    }
    help
}

/// `name="value"` pairs, one per label, as the exposition quotes values.
fn pairs(labels: &[String], key: &Key) -> String {
    let mut out = String::new();
    for (i, (label, value)) in labels.iter().zip(key).enumerate() {
        let comma = if i == 0 { "" } else { "," };
        let _ = write!(out, "{comma}{label}=\"{}\"", escape(value));
    }
    out
}

/// Label pairs in braces, or nothing when there are none.
struct Braced<'a>(&'a str);

impl fmt::Display for Braced<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, "{{{}}}", self.0)
        }
    }
}

/// Label names no map may use: `le` is a histogram bucket's bound (the host
/// adds it), `quantile` a summary's.
const RESERVED_LABELS: [&str; 2] = ["le", "quantile"];

/// A map's label names as the exposition can carry them: valid (see
/// `label_name`), not reserved, and distinct. A name that is reserved or
/// already used gets `_2` (or `_3`…).
fn label_names(raw: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(raw.len());
    for label in raw {
        let base = label_name(label);
        let mut name = base.clone();
        let mut n = 2;
        while RESERVED_LABELS.contains(&name.as_str()) || names.contains(&name) {
            name = if base.ends_with('_') {
                format!("{base}{n}")
            } else {
                format!("{base}_{n}")
            };
            n += 1;
        }
        names.push(name);
    }
    names
}

/// A label name matches `[a-zA-Z_][a-zA-Z0-9_]*`, and a leading `__` is
/// Prometheus's own: other characters become `_`, a leading digit gets a
/// `_` before it, leading underscores become one, and an empty name is `_`.
fn label_name(raw: &str) -> String {
    let name = sanitize(raw);
    let rest = name.trim_start_matches('_');
    if name.is_empty() || rest.len() + 1 < name.len() {
        format!("_{rest}")
    } else {
        name
    }
}

/// Metric and label names allow `[a-zA-Z0-9_]` (and no leading digit).
fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

/// A label value as the exposition format quotes it; any other byte,
/// control characters included, is allowed as is.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `# HELP` text: `\\` and `\n` escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::maps::{MapQuota, Refused};

    const QUOTA: MapQuota = MapQuota {
        maps: 8,
        keys_per_map: 8,
        bytes: 1 << 20,
    };

    fn key(parts: &[&str]) -> Key {
        parts.iter().map(|s| s.to_string()).collect()
    }

    /// The exposition with no bound, no figures of the session's own.
    fn render_all(plugins: &[PluginMaps]) -> String {
        render(plugins, &Published::default(), usize::MAX, &Counters::default())
    }

    fn valid_label(name: &str) -> bool {
        let mut chars = name.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with("__")
    }

    /// The exposition read as strictly as Prometheus's own text parser
    /// (expfmt), and more: each family's HELP and TYPE once, before its
    /// samples; its samples together and named after it (a histogram's with
    /// `_bucket`, `_sum`, `_count`); no sample named as another family;
    /// label names valid, not Prometheus's own (`__…`), distinct within a
    /// sample; `le` on buckets only (and always there), `quantile` never.
    fn check(text: &str) -> Result<(), String> {
        let mut types: HashMap<String, String> = HashMap::new();
        let mut helps: HashSet<String> = HashSet::new();
        let mut owner: HashMap<String, String> = HashMap::new();
        let mut current: Option<(String, String)> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or_default();
                if !helps.insert(name.to_string()) {
                    return Err(format!("a second HELP for {name}"));
                }
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, ty) = rest.split_once(' ').ok_or_else(|| format!("bad TYPE line {line:?}"))?;
                if types.insert(name.to_string(), ty.to_string()).is_some() {
                    return Err(format!("a second TYPE for {name}"));
                }
                if let Some(other) = owner.get(name) {
                    return Err(format!("family {name} is a sample name of family {other}"));
                }
                current = Some((name.to_string(), ty.to_string()));
            } else if line.starts_with('#') {
                continue;
            } else {
                let (name, labels) = sample(line);
                let (family, ty) = current
                    .as_ref()
                    .ok_or_else(|| format!("a sample before any TYPE: {line:?}"))?;
                let suffix = name
                    .strip_prefix(family.as_str())
                    .ok_or_else(|| format!("sample {name} in family {family}"))?;
                let bucket = match (ty.as_str(), suffix) {
                    ("histogram", "_bucket") => true,
                    ("histogram", "_sum" | "_count") => false,
                    ("counter" | "gauge", "") => false,
                    _ => return Err(format!("sample {name} in {ty} family {family}")),
                };
                if name != family && types.contains_key(name) {
                    return Err(format!("sample {name} of family {family} is named as another family"));
                }
                if let Some(other) = owner.insert(name.to_string(), family.clone()).filter(|f| f != family) {
                    return Err(format!("sample {name} in families {other} and {family}"));
                }
                let mut seen: HashSet<&str> = HashSet::new();
                for (label, _) in &labels {
                    if !valid_label(label) {
                        return Err(format!("label name {label:?} in {line:?}"));
                    }
                    if !seen.insert(label.as_str()) {
                        return Err(format!("label {label} twice in {line:?}"));
                    }
                    if label == "quantile" || (label == "le" && !bucket) {
                        return Err(format!("reserved label {label} in {line:?}"));
                    }
                }
                if bucket && !seen.contains("le") {
                    return Err(format!("a bucket without le: {line:?}"));
                }
            }
        }
        Ok(())
    }

    #[test]
    fn maps_become_metrics() {
        let mut snoop = PluginMaps::new("open-snoop", QUOTA);
        let opens = snoop.create("opens", MapKind::Counter, key(&["comm"])).unwrap();
        snoop.add(opens, &key(&["ca\"t\\"]), 3).unwrap();
        let mut q = PluginMaps::new("q", QUOTA);
        let depth = q.create("depth", MapKind::Gauge, vec![]).unwrap();
        q.set(depth, &[], -2).unwrap();
        let lat = q.create("latency", MapKind::Log2Histogram, key(&["op"])).unwrap();
        for v in [0, 1, 5, 6] {
            q.record(lat, &key(&["read"]), v).unwrap();
        }
        let published = Published {
            probes: vec![ProbeStats {
                probe: "file.open",
                events: 9,
                lost: 1,
                skipped: 2,
            }],
            plugins: vec![PluginStats {
                plugin: "q".into(),
                state: "running",
                restart_in: None,
                reloads: 0,
                events: 8,
                busy: std::time::Duration::from_millis(1500),
                dropped: vec![("file.open", 1)],
                missed: 0,
                failures: 2,
                refused: Refused {
                    maps: 0,
                    keys: 4,
                    bytes: 0,
                },
                emits_refused: 5,
                memory_bytes: 1 << 20,
                latency: Default::default(),
            }],
            deliveries: vec![crate::deliver::DeliveryStats {
                output: "webhook",
                delivered: 6,
                dropped: 2,
                refused: 1,
                spooled: 0,
                failed_attempts: 3,
            }],
        };
        let text = render(&[snoop, q], &published, usize::MAX, &Counters::default());
        check(&text).unwrap();
        assert_eq!(
            text,
            "# HELP wasmtrace_open_snoop_opens_total Map @opens of plugin open-snoop.\n\
             # TYPE wasmtrace_open_snoop_opens_total counter\n\
             wasmtrace_open_snoop_opens_total{comm=\"ca\\\"t\\\\\"} 3\n\
             # HELP wasmtrace_q_depth Map @depth of plugin q.\n\
             # TYPE wasmtrace_q_depth gauge\n\
             wasmtrace_q_depth -2\n\
             # HELP wasmtrace_q_latency Map @latency of plugin q.\n\
             # TYPE wasmtrace_q_latency histogram\n\
             wasmtrace_q_latency_bucket{op=\"read\",le=\"0\"} 1\n\
             wasmtrace_q_latency_bucket{op=\"read\",le=\"1\"} 2\n\
             wasmtrace_q_latency_bucket{op=\"read\",le=\"3\"} 2\n\
             wasmtrace_q_latency_bucket{op=\"read\",le=\"7\"} 4\n\
             wasmtrace_q_latency_bucket{op=\"read\",le=\"+Inf\"} 4\n\
             wasmtrace_q_latency_sum{op=\"read\"} 12\n\
             wasmtrace_q_latency_count{op=\"read\"} 4\n\
             # HELP wasmtrace_probe_events_total Events a probe delivered.\n\
             # TYPE wasmtrace_probe_events_total counter\n\
             wasmtrace_probe_events_total{probe=\"file.open\"} 9\n\
             # HELP wasmtrace_probe_lost_total Events a probe dropped in the kernel: its ring buffer (syscall.count: its kernel map) was full.\n\
             # TYPE wasmtrace_probe_lost_total counter\n\
             wasmtrace_probe_lost_total{probe=\"file.open\"} 1\n\
             # HELP wasmtrace_probe_skipped_total Calls of a probe's programs the kernel skipped (another eBPF program was running on that CPU): an upper bound on events missed.\n\
             # TYPE wasmtrace_probe_skipped_total counter\n\
             wasmtrace_probe_skipped_total{probe=\"file.open\"} 2\n\
             # HELP wasmtrace_plugin_events_total Events a plugin handled.\n\
             # TYPE wasmtrace_plugin_events_total counter\n\
             wasmtrace_plugin_events_total{plugin=\"q\"} 8\n\
             # HELP wasmtrace_plugin_busy_seconds_total Time a plugin spent handling events.\n\
             # TYPE wasmtrace_plugin_busy_seconds_total counter\n\
             wasmtrace_plugin_busy_seconds_total{plugin=\"q\"} 1.5\n\
             # HELP wasmtrace_plugin_dropped_total Events dropped for a plugin because its queue was full (it fell behind).\n\
             # TYPE wasmtrace_plugin_dropped_total counter\n\
             wasmtrace_plugin_dropped_total{plugin=\"q\",probe=\"file.open\"} 1\n\
             # HELP wasmtrace_plugin_missed_total Events a plugin missed while down after a failure, or failed on.\n\
             # TYPE wasmtrace_plugin_missed_total counter\n\
             wasmtrace_plugin_missed_total{plugin=\"q\"} 0\n\
             # HELP wasmtrace_plugin_failures_total Times a plugin trapped, overran a limit, or failed to restart.\n\
             # TYPE wasmtrace_plugin_failures_total counter\n\
             wasmtrace_plugin_failures_total{plugin=\"q\"} 2\n\
             # HELP wasmtrace_plugin_refused_total Updates and output a plugin's quotas refused, by [limits] setting.\n\
             # TYPE wasmtrace_plugin_refused_total counter\n\
             wasmtrace_plugin_refused_total{plugin=\"q\",limit=\"plugin_maps\"} 0\n\
             wasmtrace_plugin_refused_total{plugin=\"q\",limit=\"plugin_keys_per_map\"} 4\n\
             wasmtrace_plugin_refused_total{plugin=\"q\",limit=\"plugin_map_memory_mib\"} 0\n\
             wasmtrace_plugin_refused_total{plugin=\"q\",limit=\"plugin_emits_per_interval\"} 5\n\
             # HELP wasmtrace_findings_delivered_total Findings a receiver (alertmanager, webhook, syslog) accepted.\n\
             # TYPE wasmtrace_findings_delivered_total counter\n\
             wasmtrace_findings_delivered_total{output=\"webhook\"} 6\n\
             # HELP wasmtrace_findings_dropped_total Findings that found a receiver's queue (and spool file) full, or that it refused.\n\
             # TYPE wasmtrace_findings_dropped_total counter\n\
             wasmtrace_findings_dropped_total{output=\"webhook\"} 2\n\
             # HELP wasmtrace_findings_refused_total Findings a receiver refused even when sent alone (also counted as dropped).\n\
             # TYPE wasmtrace_findings_refused_total counter\n\
             wasmtrace_findings_refused_total{output=\"webhook\"} 1\n\
             # HELP wasmtrace_findings_failed_attempts_total Deliveries to a receiver that failed and were retried.\n\
             # TYPE wasmtrace_findings_failed_attempts_total counter\n\
             wasmtrace_findings_failed_attempts_total{output=\"webhook\"} 3\n\
             # HELP wasmtrace_scrape_truncated_total Scrapes cut at the endpoint's byte bound; the map families that did not fit were left out.\n\
             # TYPE wasmtrace_scrape_truncated_total counter\n\
             wasmtrace_scrape_truncated_total 0\n\
             # HELP wasmtrace_scrape_left_out_families Map families this scrape left out, by plugin and reason: size (past the scrape's byte bound, each plugin having had a fair share of it) or name (its metric name is another family's).\n\
             # TYPE wasmtrace_scrape_left_out_families gauge\n\
             wasmtrace_scrape_left_out_families{plugin=\"open-snoop\",reason=\"size\"} 0\n\
             wasmtrace_scrape_left_out_families{plugin=\"open-snoop\",reason=\"name\"} 0\n\
             wasmtrace_scrape_left_out_families{plugin=\"q\",reason=\"size\"} 0\n\
             wasmtrace_scrape_left_out_families{plugin=\"q\",reason=\"name\"} 0\n\
             # HELP wasmtrace_endpoint_closed_total Connections the metrics endpoint closed: idle (no request in progress for its idle timeout, or a response the client stopped taking), evicted (the longest idle one, to make room for a new one), full (a new one, while every open one had a scrape in progress).\n\
             # TYPE wasmtrace_endpoint_closed_total counter\n\
             wasmtrace_endpoint_closed_total{reason=\"idle\"} 0\n\
             wasmtrace_endpoint_closed_total{reason=\"evicted\"} 0\n\
             wasmtrace_endpoint_closed_total{reason=\"full\"} 0\n\
             # HELP wasmtrace_endpoint_busy_total Scrapes answered 503 because the endpoint's renders stayed taken for its idle timeout.\n\
             # TYPE wasmtrace_endpoint_busy_total counter\n\
             wasmtrace_endpoint_busy_total 0\n"
        );
    }

    #[test]
    fn names_that_coincide_once_sanitised_are_kept_apart() {
        let mut dash = PluginMaps::new("a-b", QUOTA);
        let m = dash.create("m", MapKind::Counter, vec![]).unwrap();
        dash.add(m, &[], 1).unwrap();
        let mut under = PluginMaps::new("a_b", QUOTA);
        let m = under.create("m", MapKind::Gauge, vec![]).unwrap();
        under.set(m, &[], 2).unwrap();
        let text = render_all(&[dash, under]);
        check(&text).unwrap();
        assert_eq!(text.matches("# TYPE wasmtrace_a_b_m").count(), 1, "{text}");
        assert!(text.contains("wasmtrace_a_b_m_total 1\n"), "{text}");
        assert!(
            text.contains("# wasmtrace: map @m of plugin a_b left out: its metric name wasmtrace_a_b_m is taken by map @m of plugin a-b"),
            "{text}"
        );
    }

    #[test]
    fn hostile_label_names_are_made_valid_and_distinct() {
        let mut p = PluginMaps::new("p", QUOTA);
        let raw = [
            "le", "quantile", "__name__", "9lives", "a-b", "a_b", "", "é", "x", "x", "le_2",
        ];
        let h = p.create("h", MapKind::Log2Histogram, key(&raw)).unwrap();
        let values: Vec<String> = (0..raw.len()).map(|i| format!("v{i}")).collect();
        p.record(h, &values, 1).unwrap();
        let c = p.create("c", MapKind::Counter, key(&["le", "x", "x"])).unwrap();
        p.add(c, &key(&["1", "2", "3"]), 7).unwrap();
        let text = render_all(&[p]);
        check(&text).unwrap();
        let labels = "le_2=\"v0\",quantile_2=\"v1\",_name__=\"v2\",_9lives=\"v3\",a_b=\"v4\",a_b_2=\"v5\",\
                      _=\"v6\",_2=\"v7\",x=\"v8\",x_2=\"v9\",le_2_2=\"v10\"";
        let maps = &text[..text.find("# HELP wasmtrace_probe_events_total").unwrap()];
        assert_eq!(
            maps,
            format!(
                "# HELP wasmtrace_p_h Map @h of plugin p. Labels renamed to be valid and distinct: \"le\" as le_2, \
                 \"quantile\" as quantile_2, \"__name__\" as _name__, \"9lives\" as _9lives, \"a-b\" as a_b, \
                 \"a_b\" as a_b_2, \"\" as _, \"é\" as _2, \"x\" as x_2, \"le_2\" as le_2_2.\n\
                 # TYPE wasmtrace_p_h histogram\n\
                 wasmtrace_p_h_bucket{{{labels},le=\"0\"}} 0\n\
                 wasmtrace_p_h_bucket{{{labels},le=\"1\"}} 1\n\
                 wasmtrace_p_h_bucket{{{labels},le=\"+Inf\"}} 1\n\
                 wasmtrace_p_h_sum{{{labels}}} 1\n\
                 wasmtrace_p_h_count{{{labels}}} 1\n\
                 # HELP wasmtrace_p_c_total Map @c of plugin p. Labels renamed to be valid and distinct: \"le\" as le_2, \
                 \"x\" as x_2.\n\
                 # TYPE wasmtrace_p_c_total counter\n\
                 wasmtrace_p_c_total{{le_2=\"1\",x=\"2\",x_2=\"3\"}} 7\n"
            )
        );
    }

    #[test]
    fn family_names_that_meet_through_suffixes_are_kept_apart() {
        let plugin = |name: &str, maps: &[(&str, MapKind)]| {
            let mut p = PluginMaps::new(name, QUOTA);
            for (map, kind) in maps {
                let id = p.create(map, *kind, vec![]).unwrap();
                match kind {
                    MapKind::Counter => p.add(id, &[], 1).unwrap(),
                    MapKind::Gauge => p.set(id, &[], 1).unwrap(),
                    MapKind::Log2Histogram => p.record(id, &[], 1).unwrap(),
                    MapKind::StackCounter => p.add_stacks(id, 0, 0, &[], 1).unwrap(),
                }
            }
            p
        };
        let plugins = [
            plugin(
                "p",
                &[
                    ("x", MapKind::Counter),
                    ("x_total", MapKind::Gauge),
                    ("y", MapKind::Log2Histogram),
                    ("y_sum", MapKind::Counter),
                    ("y_bucket", MapKind::Gauge),
                    ("y_count", MapKind::Gauge),
                    ("y_buckets", MapKind::Gauge),
                ],
            ),
            // wasmtrace's own families take their names first.
            plugin(
                "probe",
                &[
                    ("events_total", MapKind::Gauge),
                    ("events", MapKind::Counter),
                    ("lost", MapKind::Gauge),
                ],
            ),
            plugin("scrape", &[("truncated", MapKind::Counter)]),
        ];
        let text = render_all(&plugins);
        check(&text).unwrap();
        let comments: Vec<&str> = text.lines().filter(|l| l.starts_with("# wasmtrace:")).collect();
        assert_eq!(
            comments,
            [
                "# wasmtrace: map @x_total of plugin p left out: its metric name wasmtrace_p_x_total is taken by map @x of plugin p",
                "# wasmtrace: map @y_sum of plugin p left out: its metric name wasmtrace_p_y_sum is taken by map @y of plugin p",
                "# wasmtrace: map @y_bucket of plugin p left out: its metric name wasmtrace_p_y_bucket is taken by map @y of plugin p",
                "# wasmtrace: map @y_count of plugin p left out: its metric name wasmtrace_p_y_count is taken by map @y of plugin p",
                "# wasmtrace: map @events_total of plugin probe left out: its metric name wasmtrace_probe_events_total is taken by wasmtrace's own metrics",
                "# wasmtrace: map @events of plugin probe left out: its metric name wasmtrace_probe_events_total is taken by wasmtrace's own metrics",
                "# wasmtrace: map @lost of plugin probe left out: its metric name wasmtrace_probe_lost is taken by wasmtrace's own metrics",
                "# wasmtrace: map @truncated of plugin scrape left out: its metric name wasmtrace_scrape_truncated_total is taken by wasmtrace's own metrics",
            ]
        );
        let types: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE wasmtrace_p_"))
            .collect();
        assert_eq!(types, ["x_total counter", "y histogram", "y_buckets gauge"]);
        for (plugin, n) in [("p", 4), ("probe", 3), ("scrape", 1)] {
            let line = format!("wasmtrace_scrape_left_out_families{{plugin=\"{plugin}\",reason=\"name\"}} {n}\n");
            assert!(text.contains(&line), "{line}{text}");
        }
    }

    #[test]
    fn a_scrape_stops_exactly_at_its_byte_bound() {
        let mut hog = PluginMaps::new("hog", QUOTA);
        for name in ["a", "b", "c"] {
            let m = hog.create(name, MapKind::Counter, key(&["k"])).unwrap();
            for i in 0..8 {
                hog.add(m, &key(&[&format!("key{i}")]), 1).unwrap();
            }
        }
        let mut victim = PluginMaps::new("victim", QUOTA);
        let g = victim.create("g", MapKind::Gauge, vec![]).unwrap();
        victim.set(g, &[], 1).unwrap();
        let plugins = [hog, victim];
        let published = Published::default();
        let whole = render(&plugins, &published, usize::MAX, &Counters::default());
        let maps = whole.find("# HELP wasmtrace_probe_events_total").unwrap();
        // The room the host's families and the scrape's own (at their widest) take.
        let fixed = |max: usize| {
            own_families(&published).text.len() + scrape_families(&plugins, &Figures::widest(2), max).text.len()
        };
        let mut bound = maps + fixed(maps);
        for _ in 0..4 {
            bound = maps + fixed(bound);
        }
        assert_eq!(bound, maps + fixed(bound));

        let counters = Counters::default();
        assert_eq!(
            render(&plugins, &published, bound, &counters),
            whole,
            "at the bound, all of it"
        );
        let cut = render(&plugins, &published, bound - 1, &counters);
        check(&cut).unwrap();
        assert!(cut.len() < bound, "{} >= {}", cut.len(), bound);
        // A byte less: the victim keeps its map; the hog, past its share, loses its last.
        let (c, g) = (
            whole.find("# HELP wasmtrace_hog_c_total").unwrap(),
            whole.find("# HELP wasmtrace_victim_g").unwrap(),
        );
        let expected = format!("{}{}", &whole[..c], &whole[g..])
            .replace(
                "# HELP wasmtrace_scrape_truncated_total",
                &format!(
                    "# wasmtrace: this scrape reached its bound of {} bytes: 1 map families left out \
                     (wasmtrace_scrape_left_out_families)\n# HELP wasmtrace_scrape_truncated_total",
                    bound - 1
                ),
            )
            .replace(
                "wasmtrace_scrape_truncated_total 0\n",
                "wasmtrace_scrape_truncated_total 1\n",
            )
            .replace(
                "{plugin=\"hog\",reason=\"size\"} 0\n",
                "{plugin=\"hog\",reason=\"size\"} 1\n",
            );
        assert_eq!(cut, expected);
        assert_eq!(counters.truncated.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_plugin_cannot_push_the_others_out_of_a_scrape() {
        let roomy = MapQuota {
            maps: 64,
            keys_per_map: 100,
            bytes: 1 << 30,
        };
        // Listed first, with 64 maps of 100 keys of 1 KB.
        let mut hog = PluginMaps::new("hog", roomy);
        let long = "x".repeat(1000);
        for m in 0..64 {
            let map = hog.create(&format!("m{m:02}"), MapKind::Counter, key(&["k"])).unwrap();
            for k in 0..100 {
                hog.add(map, &key(&[&format!("{k:03}{long}")]), 1).unwrap();
            }
        }
        let mut victim = PluginMaps::new("victim", QUOTA);
        let up = victim.create("up", MapKind::Gauge, vec![]).unwrap();
        victim.set(up, &[], 1).unwrap();
        let plugins = [hog, victim];
        let published = Published::default();
        let whole = render(&plugins, &published, usize::MAX, &Counters::default());
        let size = |family: &str| {
            let start = whole.find(&format!("# HELP {family} ")).unwrap();
            whole[start + 1..].find("# HELP ").unwrap() + 1
        };
        let (hog_map, victim_map) = (size("wasmtrace_hog_m00_total"), size("wasmtrace_victim_up"));
        assert_eq!(hog_map, size("wasmtrace_hog_m63_total"), "the hog's maps are alike");

        const BOUND: usize = 1 << 20;
        let budget = BOUND
            - own_families(&published).text.len()
            - scrape_families(&plugins, &Figures::widest(2), BOUND).text.len();
        let kept = (budget - victim_map) / hog_map;
        let counters = Counters::default();
        let text = render(&plugins, &published, BOUND, &counters);
        check(&text).unwrap();
        assert!(text.len() <= BOUND, "{}", text.len());
        assert!(
            text.contains("wasmtrace_victim_up 1\n"),
            "the other plugin's map is kept"
        );
        for m in 0..64 {
            let family = format!("# TYPE wasmtrace_hog_m{m:02}_total counter\n");
            assert_eq!(text.contains(&family), m < kept, "{family}");
        }
        let left_out = format!(
            "wasmtrace_scrape_left_out_families{{plugin=\"hog\",reason=\"size\"}} {}\n",
            64 - kept
        );
        assert!(text.contains(&left_out), "{left_out}");
        assert!(text.contains("wasmtrace_scrape_left_out_families{plugin=\"victim\",reason=\"size\"} 0\n"));
        assert!(text.contains("wasmtrace_scrape_truncated_total 1\n"));
        let again = render(&plugins, &published, BOUND, &counters);
        assert!(
            again.contains("wasmtrace_scrape_truncated_total 2\n"),
            "counted across scrapes"
        );
        eprintln!(
            "a plugin's 64 maps of 100 1-KB keys: {} bytes unbounded; at a bound of {BOUND} bytes the scrape takes {}, \
             keeps {kept} of those maps ({hog_map} bytes each), leaves out {}, and keeps the other plugin's map",
            whole.len(),
            text.len(),
            64 - kept
        );
    }

    #[test]
    fn fair_shares_meet_small_wants_and_split_the_rest() {
        assert_eq!(shares(&[10, 1000, 30], 100), [10, 60, 30]);
        assert_eq!(shares(&[500, 500], 100), [50, 50]);
        assert_eq!(shares(&[5, 5], 100), [5, 5]);
        assert_eq!(shares(&[], 100), Vec::<usize>::new());
    }

    /// A label value read back as Prometheus reads it: `\\`, `\"` and `\n` unescaped.
    fn unquote(s: &str) -> (String, &str) {
        let mut out = String::new();
        let mut chars = s.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return (out, &s[i + 1..]),
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => out.push('\n'),
                    Some(c) => out.push(c),
                    None => break,
                },
                c => out.push(c),
            }
        }
        panic!("unterminated label value in {s:?}")
    }

    /// A sample line's metric name and labels.
    fn sample(line: &str) -> (&str, Vec<(String, String)>) {
        let (name, mut rest) = line.split_once('{').unwrap_or((line.split(' ').next().unwrap(), ""));
        let mut labels = Vec::new();
        while let Some((label, after)) = rest.split_once("=\"") {
            let (value, after) = unquote(after);
            labels.push((label.to_string(), value));
            rest = after.strip_prefix(',').unwrap_or(after);
        }
        (name, labels)
    }

    proptest::proptest! {
        /// Any keys: every line is a comment or one sample, and each label
        /// value reads back as the key part it came from.
        #[test]
        fn fuzz_prometheus_any_keys_round_trip(keys in proptest::collection::vec(proptest::collection::vec("(?s).{0,12}", 2), 1..6)) {
            let mut p = PluginMaps::new("p", MapQuota { maps: 8, keys_per_map: 64, bytes: 1 << 20 });
            let c = p.create("c", MapKind::Counter, key(&["a", "b"])).unwrap();
            let h = p.create("h", MapKind::Log2Histogram, key(&["a", "b"])).unwrap();
            for k in &keys {
                p.add(c, k, 1).unwrap();
                p.record(h, k, 3).unwrap();
            }
            let text = render_all(&[p]);
            proptest::prop_assert!(check(&text).is_ok(), "{:?}", check(&text));
            let mut seen = std::collections::BTreeSet::new();
            for line in text.lines().filter(|l| l.starts_with("wasmtrace_p_")) {
                let (_, labels) = sample(line);
                let parts: Vec<String> = labels.iter().filter(|(l, _)| l == "a" || l == "b").map(|(_, v)| v.clone()).collect();
                proptest::prop_assert_eq!(parts.len(), 2, "{:?}", line);
                seen.insert(parts);
            }
            let wanted: std::collections::BTreeSet<Vec<String>> = keys.into_iter().collect();
            proptest::prop_assert_eq!(seen, wanted);
        }
    }
}
