//! Tools on user-space functions (uprobes): bashreadline on an interactive
//! bash in a pty (beside bashreadline.bt), threadsnoop on a Python thread.

use crate::harness::{Original, Tracer, example_plugins, python, unique};

#[test]
fn bashreadline_shows_each_typed_line_and_agrees_with_bashreadline_bt() {
    require_kernel!();
    let tracer = Tracer::start(&format!(
        "plugin_dir = \"{}\"\n[plugin.bashreadline]\n",
        example_plugins().display()
    ));
    let original = Original::bpftrace("/usr/sbin/bashreadline.bt");
    let marker = unique("echo wt-typed-");
    let bash = crate::harness::typed_into_bash(&marker);
    let out = tracer.stop();
    let bt = original.stop();
    out.assert_clean_exit();

    let bash = bash.as_str();
    let ours: Vec<(String, String)> = out
        .rows("bashreadline")
        .filter(|r| r["PID"].as_u64().is_some_and(|p| p.to_string() == bash))
        .map(|r| (r["PID"].to_string(), r["COMMAND"].as_str().unwrap().to_string()))
        .collect();
    let expected = vec![
        (bash.to_string(), marker.clone()),
        (bash.to_string(), "exit".to_string()),
    ];
    assert_eq!(ours, expected, "stderr:\n{}", out.stderr);
    // bashreadline.bt: TIME PID COMMAND...
    let theirs: Vec<(String, String)> = bt
        .iter()
        .filter(|l| l.get(1).is_some_and(|p| p == bash))
        .map(|l| (l[1].clone(), l[2..].join(" ")))
        .collect();
    assert_eq!(theirs, expected);
}

#[test]
fn threadsnoop_shows_each_new_thread() {
    require_kernel!();
    let comm = unique("wt-thr-");
    let tracer = Tracer::tool("threadsnoop", "process.thread", &comm);
    let pid = python(
        &comm,
        r#"
for _ in range(3):
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
print(os.getpid())
"#,
    );
    let out = tracer.stop();
    out.assert_clean_exit();
    let rows: Vec<_> = out.rows("threadsnoop").collect();
    assert_eq!(rows.len(), 3, "stderr:\n{}", out.stderr);
    for row in &rows {
        assert_eq!(row["PID"].to_string(), pid.trim());
        assert_eq!(row["COMM"], comm.as_str());
        let func = row["FUNC"].as_str().unwrap();
        assert!(func.starts_with("0x") && func != "0x0", "{row}");
    }
    // Python starts every thread through the same function.
    assert!(rows.iter().all(|r| r["FUNC"] == rows[0]["FUNC"]));
    assert_eq!(out.counter("threadsnoop", "threads", &[&comm]), Some(3));
}
