//! Container attribution and filters, with real podman containers (runc)
//! of a busybox image built here from Debian's busybox-static.

use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value as Json;

use crate::harness::run_command as run;
use crate::harness::{Tracer, child_opens, test_plugins, unique};

pub const IMAGE: &str = "localhost/wasmtrace-test:busybox";

/// Imports the image once per test run: a root filesystem holding
/// /bin/busybox (static), /bin/wthot (tests/data/wthot.c, static), and
/// /bin/wtlookup (tests/data/wtlookup.c) with copies of the libraries it
/// loads, tarred, as `podman import` takes it.
pub fn image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("bin")).unwrap();
        std::fs::copy("/bin/busybox", root.path().join("bin/busybox"))
            .expect("/bin/busybox (scripts/install-deps installs busybox-static)");
        crate::profile::build_wthot(&root.path().join("bin"), "wthot", &["-static"]);
        let lookup = root.path().join("bin/wtlookup");
        run(Command::new("cc")
            .arg("-O1")
            .arg("-o")
            .arg(&lookup)
            .arg(crate::harness::repo().join("tests/data/wtlookup.c")));
        // Its libraries and loader, at the paths it loads them from (`ldd`: `=> /path` or `/path`).
        let libraries = run(Command::new("ldd").arg(&lookup));
        for library in libraries.split_whitespace().filter(|w| w.starts_with('/')) {
            let copy = root.path().join(library.trim_start_matches('/'));
            std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
            std::fs::copy(library, &copy).unwrap();
        }
        let tar = root.path().join("root.tar");
        let top: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "root.tar")
            .collect();
        run(Command::new("tar")
            .arg("-C")
            .arg(root.path())
            .arg("-cf")
            .arg(&tar)
            .args(&top));
        run(Command::new("podman").arg("import").arg(&tar).arg(IMAGE));
    });
    IMAGE
}

/// `podman run` as this machine allows it (runc: crun refuses hybrid
/// cgroups; podman's default ulimits cannot be set here; no network).
pub fn podman_run(name: &str, extra: &[&str], command: &[&str]) -> String {
    let mut cmd = Command::new("podman");
    cmd.args(["--runtime", "runc", "run", "--name", name, "--network=none"])
        .args(["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"])
        .args(extra)
        .arg(image())
        .args(command);
    run(&mut cmd)
}

/// A container that stays up until it is removed; returns its id.
struct Running(String);

impl Running {
    fn start(name: &str, extra: &[&str]) -> Running {
        let mut args = vec!["-d"];
        args.extend_from_slice(extra);
        Running(podman_run(name, &args, &["/bin/busybox", "sleep", "120"]))
    }

    fn exec(&self, script: &str) {
        run(Command::new("podman").args(["exec", &self.0, "/bin/busybox", "sh", "-c", script]));
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("podman").args(["rm", "-f", "-t", "0", &self.0]).output();
    }
}

fn remove(name: &str) {
    let _ = Command::new("podman").args(["rm", "-f", "-t", "0", name]).output();
}

/// The echo plugin's `container` field: `runtime id name image namespace/pod/container`.
fn echoed(out: &crate::harness::Finished, rule: &str, path_field: &str, path: &str) -> Vec<String> {
    echoed_by(out, "echo", rule, path_field, path)
}

/// The same, from the Rust echo plugin or its Go twin.
pub fn echoed_by(
    out: &crate::harness::Finished,
    plugin: &str,
    rule: &str,
    path_field: &str,
    path: &str,
) -> Vec<String> {
    out.of_type("finding")
        .filter(|f| f["plugin"] == plugin && f["rule"] == rule && f["fields"][path_field] == path)
        .map(|f| f["fields"]["container"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// echo and echo_go on the opens and execs of `comms`.
fn echo_config(comms: &[&str], extra: &str) -> String {
    let comms = comms.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ");
    let plugin = |name: &str, dir: &std::path::Path| {
        format!(
            "[plugin.{name}]\npath = \"{}/{name}.wasm\"\nprobes = [\"file.open\", \"process.exec\"]\n",
            dir.display()
        )
    };
    format!(
        "[probe.\"file.open\"]\ncomm = [{comms}]\n{extra}[probe.\"process.exec\"]\ncomm = [{comms}]\n{extra}{}{}",
        plugin("echo", test_plugins()),
        plugin("echo_go", crate::harness::go_test_plugins())
    )
}

/// A container's exec and opens carry its runtime, id, name and image,
/// whether it started before wasmtrace (a `podman exec` into it) or after;
/// the host's opens carry none.
#[test]
fn container_events_carry_its_id_and_name_and_the_hosts_carry_none() {
    require_kernel!();
    let (early, late) = (unique("wt-early-"), unique("wt-late-"));
    let before = Running::start(&early, &[]);
    let host = unique("wt-host-");
    let tracer = Tracer::start(&echo_config(&["busybox", &host], ""));
    before.exec("/bin/busybox cat /etc/hostname");
    podman_run(&late, &[], &["/bin/busybox", "cat", "/etc/hostname"]);
    let late_id = run(Command::new("podman").args(["inspect", "--format", "{{.Id}}", &late]));
    remove(&late);
    child_opens(&host, std::path::Path::new("/etc/hostname"), 3);
    let out = tracer.stop();
    out.assert_clean_exit();

    let container = |id: &str, name: &str| format!("podman {id} {name} {IMAGE} -");
    let opens = echoed(&out, "file.open", "path", "/etc/hostname");
    let early_opens = opens.iter().filter(|c| **c == container(&before.0, &early)).count();
    let late_opens = opens.iter().filter(|c| **c == container(&late_id, &late)).count();
    let host_opens = opens.iter().filter(|c| *c == "-").count();
    assert_eq!(
        (early_opens, late_opens, host_opens),
        (1, 1, 3),
        "{opens:#?}\n{}",
        out.stderr
    );
    // The late container's one exec (its busybox), from its very start.
    let execs = echoed(&out, "process.exec", "filename", "/bin/busybox");
    assert!(execs.contains(&container(&late_id, &late)), "{execs:#?}");
    assert!(execs.contains(&container(&before.0, &early)), "{execs:#?}");
}

/// Kubernetes identity comes only from a CRI runtime's records (the
/// records.rs tests read containerd's and CRI-O's): podman lets whoever
/// starts a container set the same annotations, so a podman container that
/// claims a pod is shown as the podman container it is, in the plugin's
/// view and in the JSON finding's `container` object.
#[test]
fn kubernetes_annotations_from_podman_claim_no_pod() {
    require_kernel!();
    let name = unique("wt-pod-");
    let tracer = Tracer::start(&echo_config(&["busybox"], ""));
    let annotations = [
        "--annotation",
        "io.kubernetes.pod.namespace=kube-system",
        "--annotation",
        "io.kubernetes.pod.name=etcd-0",
        "--annotation",
        "io.kubernetes.container.name=etcd",
    ];
    podman_run(&name, &annotations, &["/bin/busybox", "cat", "/etc/hostname"]);
    let id = run(Command::new("podman").args(["inspect", "--format", "{{.Id}}", &name]));
    remove(&name);
    let out = tracer.stop();
    out.assert_clean_exit();
    // Tests run in parallel: other tests' containers run busybox too.
    let opens: Vec<String> = echoed(&out, "file.open", "path", "/etc/hostname")
        .into_iter()
        .filter(|c| c.contains(&id))
        .collect();
    assert_eq!(opens, [format!("podman {id} {name} {IMAGE} -")]);
    // The Go SDK reads the same container.
    let go: Vec<String> = echoed_by(&out, "echo_go", "file.open", "path", "/etc/hostname")
        .into_iter()
        .filter(|c| c.contains(&id))
        .collect();
    assert_eq!(go, opens);
    let line: &Json = out
        .of_type("finding")
        .find(|l| l["rule"] == "file.open" && l["fields"]["path"] == "/etc/hostname" && l["container"]["id"] == id)
        .unwrap();
    assert_eq!(
        line["container"],
        serde_json::json!({"runtime": "podman", "id": id, "name": name, "image": IMAGE})
    );
}

/// A cgroup the test makes (and removes, with the folders it made for it).
struct TestCgroup(Vec<std::path::PathBuf>);

fn cgroup_v2_mount() -> std::path::PathBuf {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo
        .lines()
        .find_map(|l| {
            let (before, after) = l.split_once(" - ")?;
            after
                .starts_with("cgroup2 ")
                .then(|| before.split(' ').nth(4).unwrap().into())
        })
        .expect("a cgroup v2 mount")
}

impl TestCgroup {
    /// Made by someone else, named like a running container's (`libpod-<its
    /// id>`), somewhere its runtime did not put it.
    fn named_like(container_id: &str) -> TestCgroup {
        let parent = cgroup_v2_mount().join(unique("wt-fake-"));
        let path = parent.join(format!("libpod-{container_id}"));
        std::fs::create_dir_all(&path).unwrap();
        TestCgroup(vec![path, parent])
    }

    /// One below a running container's own cgroup, as a container may make.
    fn below(container: &Running) -> TestCgroup {
        let pid = run(Command::new("podman").args(["inspect", "--format", "{{.State.Pid}}", &container.0]));
        let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let own = cgroups.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
        let path = cgroup_v2_mount()
            .join(own.trim_start_matches('/'))
            .join(unique("wt-sub-"));
        std::fs::create_dir(&path).unwrap();
        TestCgroup(vec![path])
    }

    /// Forks a child named `comm` that moves into this cgroup and opens /etc/hostname `n` times.
    fn opens(&self, comm: &str, n: usize) {
        let procs =
            std::ffi::CString::new(self.0[0].join("cgroup.procs").into_os_string().into_encoded_bytes()).unwrap();
        let path = c"/etc/hostname";
        crate::harness::fork_child(comm, || {
            // SAFETY: valid NUL-terminated paths and a buffer of one byte.
            unsafe {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                assert!(fd >= 0 && libc::write(fd, b"0".as_ptr().cast(), 1) == 1);
                libc::close(fd);
                for _ in 0..n {
                    let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
                    if fd >= 0 {
                        libc::close(fd);
                    }
                }
            }
        });
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A process in a cgroup named like a running container's is not that
/// container: its runtime's record says where the container's cgroup is.
#[test]
fn a_cgroup_named_like_a_container_is_not_that_container() {
    require_kernel!();
    let victim = unique("wt-victim-");
    let running = Running::start(&victim, &[]);
    let fake = TestCgroup::named_like(&running.0);
    let framer = unique("wt-framer-");
    let tracer = Tracer::start(&echo_config(&[&framer, "busybox"], ""));
    fake.opens(&framer, 5);
    running.exec("/bin/busybox cat /etc/hostname");
    let out = tracer.stop();
    out.assert_clean_exit();
    let framed: Vec<String> = out
        .of_type("finding")
        .filter(|f| {
            f["plugin"] == "echo"
                && f["rule"] == "file.open"
                && f["message"] == framer.as_str()
                && f["fields"]["path"] == "/etc/hostname"
        })
        .map(|f| f["fields"]["container"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(framed, vec!["-".to_string(); 5], "{}", out.stderr);
    let real = echoed(&out, "file.open", "path", "/etc/hostname");
    assert!(
        real.contains(&format!("podman {} {victim} {IMAGE} -", running.0)),
        "the real container is still itself: {real:#?}"
    );
}

/// Fakes cannot crowd a container out of the kernel's container filter
/// (16 cgroups at most): 20 cgroups named like it are not followed, and its
/// events (from a cgroup it made below its own, too) all pass.
#[test]
fn fakes_do_not_crowd_a_container_filter() {
    require_kernel!();
    let wanted = unique("wt-crowded-");
    let container = Running::start(&wanted, &[]);
    let fakes: Vec<TestCgroup> = (0..20).map(|_| TestCgroup::named_like(&container.0)).collect();
    let below = TestCgroup::below(&container);
    let framer = unique("wt-crowd-");
    let tracer = Tracer::start(&format!(
        "plugin_dir = \"{}\"\n[probe.\"file.open\"]\ncontainer = [\"{wanted}\"]\n[plugin.opensnoop]\n[plugin.opensnoop.config]\ncontainer = true\n",
        crate::harness::example_plugins().display()
    ));
    for fake in &fakes {
        fake.opens(&framer, 1);
    }
    container.exec(LOOP);
    // In a cgroup below the container's: still the container.
    below.opens(&framer, OPENS);
    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(
        rows_by_container(&out, &[&wanted, "-"]),
        [(wanted.clone(), 2 * OPENS)].into(),
        "{}",
        out.stderr
    );
}

/// How many times LOOP opens /etc/hostname: 25 `cat`s, one open each (and
/// nothing else opens a file: no redirection, no rc file for `sh -c`).
const OPENS: usize = 25;
const LOOP: &str = "i=0; while [ $i -lt 25 ]; do /bin/busybox cat /etc/hostname; i=$((i+1)); done";

/// opensnoop's rows of /etc/hostname, by CONTAINER, among `containers` (a
/// name, or `-` for the host): tests run in parallel, and other tests'
/// containers run busybox too.
fn rows_by_container(out: &crate::harness::Finished, containers: &[&str]) -> std::collections::BTreeMap<String, usize> {
    let mut by = std::collections::BTreeMap::new();
    for row in out.columns("opensnoop", &["CONTAINER", "PATH"]) {
        if row[1] == "/etc/hostname" && containers.contains(&row[0].as_str()) {
            *by.entry(row[0].clone()).or_default() += 1;
        }
    }
    by
}

/// opensnoop (with its CONTAINER column) on file.open under `filter`,
/// while LOOP runs in each container and as many opens on the host by `host_comm`.
fn loops_traced(filter: &str, containers: &[&Running], host_comm: &str) -> crate::harness::Finished {
    let tracer = Tracer::start(&format!(
        "plugin_dir = \"{}\"\n[probe.\"file.open\"]\n{filter}\n[plugin.opensnoop]\n[plugin.opensnoop.config]\ncontainer = true\n",
        crate::harness::example_plugins().display()
    ));
    for c in containers {
        c.exec(LOOP);
    }
    child_opens(host_comm, std::path::Path::new("/etc/hostname"), OPENS);
    let out = tracer.stop();
    out.assert_clean_exit();
    out
}

/// `container = [NAME]` passes exactly that container's events, in the
/// kernel: the same loop in another container and on the host shows nothing.
#[test]
fn a_container_filter_passes_exactly_that_containers_events() {
    require_kernel!();
    let (wanted, other) = (unique("wt-want-"), unique("wt-other-"));
    let (a, b) = (Running::start(&wanted, &[]), Running::start(&other, &[]));
    let out = loops_traced(&format!("container = [\"{wanted}\"]"), &[&a, &b], &unique("wt-hostf-"));
    assert_eq!(
        rows_by_container(&out, &[&wanted, &other, "-"]),
        [(wanted.clone(), OPENS)].into(),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.counter("opensnoop", "opens", &[&wanted, "busybox"]),
        Some(OPENS as u64)
    );
}

/// `scope` splits the host from the containers by pid namespace.
#[test]
fn scope_passes_only_the_host_or_only_containers() {
    require_kernel!();
    let name = unique("wt-scope-");
    let container = Running::start(&name, &[]);
    for (scope, expected) in [("containers", name.as_str()), ("host", "-")] {
        let host = unique("wt-hosts-");
        let filter = format!("scope = \"{scope}\"\ncomm = [\"busybox\", \"{host}\"]");
        let out = loops_traced(&filter, &[&container], &host);
        assert_eq!(
            rows_by_container(&out, &[&name, "-"]),
            [(expected.to_string(), OPENS)].into(),
            "scope {scope}: {}",
            out.stderr
        );
    }
}

/// A uprobe is set on a file: a container's libc is its own file, not the
/// host's. wasmtrace finds it as the container's processes see it, for a
/// container that ran before it started and for one that starts after (its
/// process waits 3 s, so that a tick has seen its mount namespace).
#[test]
fn uprobes_reach_a_containers_own_libc_before_and_after_wasmtrace_starts() {
    require_kernel!();
    let (early, late) = (unique("wt-ube-"), unique("wt-ubl-"));
    remove(&early);
    remove(&late);
    let running = Running::start(&early, &[]);
    let tracer = Tracer::start(&format!(
        "[probe.\"net.dns\"]\ncomm = [\"wtlookup\"]\n[plugin.echo]\npath = \"{}/echo.wasm\"\nprobes = [\"net.dns\"]\n",
        test_plugins().display()
    ));
    running.exec("/bin/wtlookup 127.0.0.1 3");
    podman_run(&late, &[], &["/bin/wtlookup", "127.0.0.2", "2", "3"]);
    let out = tracer.stop();
    remove(&late);
    out.assert_clean_exit();
    let lookups = |host: &str| -> Vec<String> {
        out.findings("net.dns")
            .filter(|f| f["host"] == host)
            .map(|f| f["container"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let in_container = |name: &str, n: usize, seen: Vec<String>| {
        assert_eq!(seen.len(), n, "{seen:?}; stderr:\n{}", out.stderr);
        assert!(seen.iter().all(|c| c.split(' ').nth(2) == Some(name)), "{seen:?}");
    };
    in_container(&early, 3, lookups("127.0.0.1"));
    in_container(&late, 2, lookups("127.0.0.2"));
    assert!(
        out.stderr.contains("a container's own copy) is traced too"),
        "{}",
        out.stderr
    );
}

/// A program in a container is named from the container's own files: its
/// binary exists only in the image, and its stacks name its functions.
#[test]
fn a_containers_program_is_profiled_by_its_own_binarys_symbols() {
    require_kernel!();
    assert!(
        !std::path::Path::new("/bin/wthot").exists(),
        "the host must not have the image's /bin/wthot"
    );
    let name = unique("wt-prof-");
    remove(&name);
    let dir = tempfile::tempdir().unwrap();
    let folded = dir.path().join("out.folded");
    let tracer = Tracer::start(&format!(
        "plugin_dir = \"{}\"\n[plugin.profile]\n[probe.\"cpu.sample\"]\ncomm = [\"wthot\"]\nfrequency = 999\n\
         [output]\nfolded = \"{}\"\n",
        crate::harness::example_plugins().display(),
        folded.display()
    ));
    // It spins 2 s, then sleeps until removed: its stacks are named while it runs.
    let running = Running(podman_run(&name, &["-d"], &["/bin/wthot", "spin", "2", "60"]));
    std::thread::sleep(std::time::Duration::from_millis(3000));
    let out = tracer.stop();
    drop(running);
    out.assert_clean_exit();
    let lines = crate::profile::folded(&folded);
    let (a, a_stacks) = crate::profile::samples_in(&lines, "hot_a");
    let (b, _) = crate::profile::samples_in(&lines, "hot_b");
    assert!(a > b && b > 0, "hot_a {a}, hot_b {b}: {lines:?}");
    assert!(
        a_stacks
            .iter()
            .any(|s| s.ends_with(&["main", "caller_a", "hot_a"].map(String::from))),
        "{a_stacks:?}"
    );
}
