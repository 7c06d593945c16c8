//! Plugins written to hurt the host: floods of map keys, maps, handles,
//! output and huge strings, and a slow neighbour. Each is held by a bound
//! (docs/sandbox.md): the host's memory and output stay bounded, what is
//! refused or dropped is counted exactly, and the other plugins lose nothing.

use std::time::Duration;

use serde_json::Value as Json;

use crate::harness::{Finished, Tracer, child_opens, example_plugins, test_plugins, unique};

/// How long each flood runs while the host's memory is watched.
const FLOOD_TIME: Duration = Duration::from_secs(20);
/// wasmtrace's resident memory stays under this through every flood (it is
/// ~25 MiB idle and peaked at 36 MiB here; a map quota of 16 MiB and the plugins' own linear memory
/// come on top). Without quotas a key flood passed 3 GiB in 30 s.
const RSS_BOUND_MIB: u64 = 96;
/// What the process holds, touched or not (VmData), stays under this with
/// 4,096 one-event batches queued for a plugin: 10 MiB here; 488 MiB when
/// each batch kept a full-size buffer (untouched pages, so RSS hid it).
const DATA_BOUND_MIB: u64 = 64;

/// A config running the `flood` plugin once per (name, what), flooding
/// `per_call` times in every tick (every 200 ms); no event reaches it.
fn flood_config(plugins: &[(&str, &str)], per_call: u64, limits: &str) -> String {
    let mut config = format!(
        "[output]\ninterval = \"200ms\"\n[limits]\n{limits}\n[probe.\"file.open\"]\ncomm = [\"{}\"]\n",
        unique("wt-none-")
    );
    for (name, what) in plugins {
        config += &format!(
            "[plugin.{name}]\npath = \"{}/flood.wasm\"\n[plugin.{name}.config]\nflood = \"{what}\"\nper_call = {per_call}\n",
            test_plugins().display()
        );
    }
    config
}

/// Runs a flood for `how_long`; returns what it printed and the host's peak RSS.
fn run_flood(config: &str, how_long: Duration) -> (Finished, u64) {
    let tracer = Tracer::start(config);
    let peak = tracer.peak_rss_mib(how_long);
    let out = tracer.stop();
    out.assert_clean_exit();
    (out, peak)
}

fn refused(out: &Finished, plugin: &str, what: &str) -> u64 {
    out.plugin(plugin)["refused"][what].as_u64().unwrap()
}

#[test]
fn a_key_flood_stops_at_the_map_memory_quota_and_host_memory_stays_bounded() {
    require_kernel!();
    let config = flood_config(
        &[("hog", "keys")],
        200_000,
        "plugin_keys_per_map = 16777216\nplugin_map_memory_mib = 16",
    );
    let (out, peak) = run_flood(&config, FLOOD_TIME);
    // Each key ("key-" and 16 digits) is counted at 96 + 8 + 40 + 20 = 164 bytes.
    let held = (16u64 << 20) / 164;
    assert_eq!(out.entries("hog", "keys").len() as u64, held);
    let refused_keys = refused(&out, "hog", "memory");
    assert!(refused_keys > 10 * held, "{refused_keys}");
    assert_eq!(refused(&out, "hog", "keys"), 0);
    assert!(
        out.stderr
            .contains("map updates refused by [limits] plugin_map_memory_mib = 16"),
        "{}",
        out.stderr
    );
    eprintln!("key flood: {refused_keys} keys refused, {held} held, peak RSS {peak} MiB");
    assert!(peak < RSS_BOUND_MIB, "peak RSS {peak} MiB");
}

#[test]
fn keys_past_the_per_map_quota_are_refused_and_counted() {
    require_kernel!();
    let config = flood_config(&[("hog", "keys")], 10_000, "plugin_keys_per_map = 1000");
    let (out, _) = run_flood(&config, Duration::from_secs(1));
    let keys = out.entries("hog", "keys");
    assert_eq!(keys.len(), 1000);
    assert_eq!(keys[0]["key"], serde_json::json!(["key-0000000000000001"]));
    // Every flood adds 10,000 keys; all but the first 1,000 are refused.
    let refused_keys = refused(&out, "hog", "keys");
    assert_eq!((refused_keys + 1000) % 10_000, 0, "{refused_keys}");
    assert!(refused_keys >= 9_000);
}

#[test]
fn output_floods_stay_within_the_emit_budget() {
    require_kernel!();
    let plugins = [
        ("rows", "rows"),
        ("columns", "columns"),
        ("logs", "logs"),
        ("findings", "findings"),
    ];
    let per_call = 200_000;
    let config = flood_config(
        &plugins,
        per_call,
        "plugin_emits_per_interval = 1000\nplugin_emit_kib_per_interval = 64",
    );
    let (out, peak) = run_flood(&config, FLOOD_TIME);
    // What one flood may emit of each within 64 KiB. The budget counts what
    // each holds on the host: a string 24 bytes and its text, a cell 24 bytes
    // (a value) and its text. A row is a number and 100 bytes of text; a
    // header 16 names of 6 bytes; a log 100 bytes; a finding its rule
    // ("flood") and its 100-byte message.
    const STRING: u64 = 24;
    const VALUE: u64 = 24;
    let fits = |bytes: u64| (64 << 10) / bytes;
    let per_flood = [
        ("rows", fits(VALUE + VALUE + 100)),
        ("columns", fits(16 * (STRING + 6))),
        ("logs", fits(STRING + 100)),
        ("findings", fits(STRING + 5 + STRING + 100)),
    ];
    let floods = |plugin: &str, fit: u64| {
        let refused = refused(&out, plugin, "emits");
        assert_eq!(refused % (per_call - fit), 0, "{plugin}: {refused}");
        refused / (per_call - fit)
    };
    let emitted = [
        ("rows", out.rows("rows").count() as u64),
        ("logs", out.stderr.matches(&"x".repeat(100)).count() as u64),
        ("findings", out.findings("flood").count() as u64),
    ];
    let mut most = 0;
    for (plugin, fit) in per_flood {
        let n = floods(plugin, fit);
        // Each flood (a tick's or an event's) was cut to the budget: as many
        // cuts as the plugin counted floods.
        assert_eq!(Some(n), out.counter(plugin, "floods", &[]), "{plugin}");
        // One flood per tick: 20 s of 200 ms ticks, and one at exit.
        assert!(n >= 10, "{plugin}: {n} floods");
        most = most.max(n);
        if let Some((_, count)) = emitted.iter().find(|(p, _)| *p == plugin) {
            assert_eq!(*count, n * fit, "{plugin}");
        }
    }
    // Unbounded, these floods would have printed ~3 GB.
    let bound = most as usize * 2 * 3 * (64 << 10);
    eprintln!(
        "output flood: {} bytes on stdout, {} on stderr, peak RSS {peak} MiB",
        out.stdout_bytes,
        out.stderr.len()
    );
    assert!(out.stdout_bytes < bound, "{} bytes", out.stdout_bytes);
    assert!(peak < RSS_BOUND_MIB, "peak RSS {peak} MiB");
}

#[test]
fn huge_strings_are_cut_with_a_visible_mark() {
    require_kernel!();
    let config = flood_config(&[("huge", "huge")], 0, "");
    let (out, _) = run_flood(&config, Duration::from_millis(500));
    let mark = "…[cut from 1048576 bytes]";
    let key = &out.entries("huge", "keys")[0]["key"][0];
    let key = key.as_str().unwrap();
    assert!(key.len() <= 4096 && key.ends_with(mark), "{} bytes", key.len());
    let cell = out.rows("huge").next().unwrap()["column0"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(cell.len() <= 4096 && cell.ends_with(mark), "{} bytes", cell.len());
    let log = out.stderr.lines().find(|l| l.contains("hhhh")).unwrap();
    assert!(log.len() < 4300 && log.contains(mark), "{} bytes", log.len());
}

#[test]
fn maps_past_the_quota_are_refused_and_hoarded_handles_stop_the_plugin() {
    require_kernel!();
    let config = flood_config(&[("mapper", "maps"), ("hoarder", "handles")], 5000, "");
    let (out, _) = run_flood(&config, Duration::from_secs(1));
    let maps: Vec<&Json> = out
        .of_type("map")
        .filter(|m| m["plugin"] == "mapper" && m["name"] != "keys")
        .collect();
    // `keys` is the plugin's first map; 63 more fit in the default 64.
    assert_eq!(maps.len(), 63);
    assert_eq!(maps[0]["name"], "map_1");
    let refused_maps = refused(&out, "mapper", "maps");
    assert_eq!((refused_maps + 63) % 5000, 0, "{refused_maps}");
    let failures: Vec<&str> = out
        .of_type("plugin-failed")
        .filter(|f| f["plugin"] == "hoarder")
        .map(|f| f["reason"].as_str().unwrap())
        .collect();
    assert!(!failures.is_empty(), "{}", out.stderr);
    assert!(failures[0].contains("handle limit"), "{failures:?}");
}

#[test]
fn a_slow_plugin_loses_only_its_own_events() {
    require_kernel!();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, b"").unwrap();
    let comm = unique("wt-slow-");
    let tracer = Tracer::start(&format!(
        r#"
plugin_dir = "{examples}"
[probe."file.open"]
comm = ["{comm}"]
[plugin.tally]
[plugin.misbehave]
path = "{tests}/misbehave.wasm"
[plugin.misbehave.config]
fail_in = "events"
how = "slow"
"#,
        examples = example_plugins().display(),
        tests = test_plugins().display(),
    ));
    let generated = 200_000;
    child_opens(&comm, &path, generated as usize);
    std::thread::sleep(Duration::from_millis(200));
    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(out.probe("file.open"), (generated, 0));
    let tally = out.plugin("tally");
    assert_eq!(
        (tally["events"].as_u64(), tally["dropped"].as_u64()),
        (Some(generated), Some(0))
    );
    assert_eq!(
        out.counter("tally", "events", &[&comm, path.to_str().unwrap()]),
        Some(generated)
    );
    // Live: how long events waited before their call is measured (the
    // figure itself is the bench's to report, not a test's to time).
    let (p50, p99) = (
        tally["latency_p50_ns"].as_u64().unwrap(),
        tally["latency_p99_ns"].as_u64().unwrap(),
    );
    assert!(p50 <= p99, "{tally}");
    let slow = out.plugin("misbehave");
    let (events, dropped, missed) = (
        slow["events"].as_u64().unwrap(),
        slow["dropped"].as_u64().unwrap(),
        slow["missed"].as_u64().unwrap(),
    );
    eprintln!("slow neighbour: tally {generated} of {generated}; slow plugin {events} delivered, {dropped} dropped");
    assert_eq!(events + dropped + missed, generated);
    assert!(dropped > 0 && missed == 0, "{slow}");
    assert_eq!(slow["dropped_by_probe"]["file.open"].as_u64(), Some(dropped));
    assert!(out.stderr.contains("plugin `misbehave` fell behind"), "{}", out.stderr);
}

#[test]
fn a_plugin_slow_on_a_sparse_stream_holds_its_queue_in_events_not_buffers() {
    require_kernel!();
    // One open every 2.5 ms reaches the plugin as batches of one event; the
    // plugin spends ~0.3 s on each, so its queue fills with 4,096 of them.
    // Each once kept a 1,024-event buffer (155 KB).
    let comm = unique("wt-sp-");
    let tracer = Tracer::start(&format!(
        r#"
[limits]
plugin_queue_events = 4096
[probe."file.open"]
comm = ["{comm}"]
[plugin.misbehave]
path = "{tests}/misbehave.wasm"
[plugin.misbehave.config]
fail_in = "events"
how = "slow"
spin = 400000000
"#,
        tests = test_plugins().display(),
    ));
    let workload = {
        let comm = comm.clone();
        std::thread::spawn(move || {
            crate::harness::python(
                &comm,
                "for i in range(5000):\n    os.close(os.open('/dev/null', os.O_RDONLY))\n    time.sleep(0.0025)",
            )
        })
    };
    let (peak, data) = tracer.peak_memory_mib(Duration::from_secs(14));
    workload.join().unwrap();
    let out = tracer.stop();
    out.assert_clean_exit();
    let (generated, lost) = out.probe("file.open");
    assert_eq!(lost, 0);
    assert!(generated >= 5000, "{generated}");
    let slow = out.plugin("misbehave");
    let (events, dropped, missed) = (
        slow["events"].as_u64().unwrap(),
        slow["dropped"].as_u64().unwrap(),
        slow["missed"].as_u64().unwrap(),
    );
    assert_eq!(events + dropped + missed, generated, "{slow}");
    assert!(dropped > 0, "{slow}");
    eprintln!(
        "sparse stream behind a slow plugin: {dropped} of {generated} dropped, peak RSS {peak} MiB, data {data} MiB"
    );
    assert!(peak < RSS_BOUND_MIB, "peak RSS {peak} MiB");
    assert!(data < DATA_BOUND_MIB, "peak data {data} MiB");
}
