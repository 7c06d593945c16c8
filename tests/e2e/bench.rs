//! `wasmtrace bench` counts right: what it generates is what it reports delivered.
//! (Its times are figures to read, not to assert.)

use crate::harness::{example_plugins, wasmtrace};

#[test]
fn bench_reports_every_generated_event_as_delivered() {
    require_kernel!();
    let out = wasmtrace()
        .args([
            "bench",
            "-w",
            "open",
            "-w",
            "exec",
            "-w",
            "lookup",
            "-c",
            "300",
            "--repeat",
            "2",
            "--no-compare",
            "--plugin-dir",
        ])
        .arg(example_plugins())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.contains("wasmtrace (") && !l.contains("distinct stacks"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    // open: tally, no plugin, 4 plugins, tally beside opentop, tally with
    // stacks; exec and lookup: tally. (The switch storm's runs are the
    // scheduler's to make: not every pass needs a wakeup.)
    assert_eq!(rows.len(), 7, "{stdout}");
    for row in &rows {
        let at = row.iter().position(|w| w.ends_with('x')).expect("a slowdown column");
        let (generated, delivered, lost) = (row[at + 1], row[at + 2], row[at + 3]);
        assert_eq!(generated, "600", "{stdout}");
        let expected = if row.contains(&"plugin)") { "0" } else { "600" };
        assert_eq!((delivered, lost), (expected, "0"), "{stdout}");
    }
}
