use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::harness::{Tracer, example_plugins, unique};

#[test]
fn execsnoop_reports_a_uniquely_named_program() {
    require_kernel!();
    let dir = tempfile::tempdir().unwrap();
    let name = unique("wt-exec-");
    let binary = dir.path().join(&name);
    std::fs::copy("/bin/true", &binary).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = format!(
        r#"
plugin_dir = "{}"
[probe."process.exec"]
comm = ["{name}"]
[plugin.execsnoop]
"#,
        example_plugins().display()
    );

    let tracer = Tracer::start(&config);
    let child = Command::new(&binary).args(["--first", "second arg"]).spawn().unwrap();
    let pid = child.id();
    assert!(child.wait_with_output().unwrap().status.success());
    let out = tracer.stop();
    out.assert_clean_exit();

    let rows: Vec<_> = out.rows("execsnoop").collect();
    assert_eq!(rows.len(), 1, "stderr:\n{}", out.stderr);
    let row = rows[0];
    assert_eq!(row["PID"], pid);
    assert_eq!(row["PPID"], std::process::id());
    assert_eq!(row["RET"], 0);
    assert_eq!(row["ARGS"], format!("{} --first second arg", binary.display()));
    assert_eq!(out.probe("process.exec"), (1, 0));
}
