//! Shipping: the manifests (docs/deploy/wasmtrace.yaml) against
//! Kubernetes' own schemas, and the image (scripts/build-image) run as the
//! DaemonSet runs it. podman runs no DaemonSet (its `kube play` in Debian 12
//! honours neither DaemonSets nor hostPID), so the test reads the pod spec
//! and gives podman each of its settings: image, args, env, host
//! namespaces, security context, and every mount, with hostPath types
//! handled as the kubelet does. It then traces a host process, another
//! container and the node's bash (a uprobe), with a plugin pulled from a
//! registry.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::containers::{IMAGE, echoed_by, image, podman_run};
use crate::harness::run_command as run;
use crate::harness::{child_opens, example_plugins, repo, test_plugins, unique};
use crate::registry::{Registry, push};

fn manifests_file() -> PathBuf {
    repo().join("docs/deploy/wasmtrace.yaml")
}

/// Every document of the manifests, as JSON (read by PyYAML, which kubernetes-validate brings).
fn manifests() -> Vec<Json> {
    let json = run(Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        ])
        .arg(manifests_file()));
    serde_json::from_str(&json).unwrap()
}

fn of_kind<'a>(manifests: &'a [Json], kind: &str) -> &'a Json {
    manifests
        .iter()
        .find(|m| m["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {}", manifests_file().display()))
}

fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

#[test]
fn the_manifests_pass_kubernetes_schemas_and_name_this_version() {
    let out = Command::new("kubernetes-validate")
        .args(["-k", "1.30", "--strict"])
        .arg(manifests_file())
        .output()
        .expect("running kubernetes-validate (scripts/install-deps installs it)");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for kind in ["namespace", "configmap", "daemonset", "service"] {
        assert!(
            text.contains(&format!("passed for resource {kind}/wasmtrace")),
            "{kind}: {text}"
        );
    }
    // The Prometheus Operator's CRD is not in Kubernetes' schemas: checked here instead.
    let manifests = manifests();
    let monitor = of_kind(&manifests, "ServiceMonitor");
    let service = of_kind(&manifests, "Service");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(
        monitor["spec"]["selector"]["matchLabels"],
        service["metadata"]["labels"]
    );
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        service["spec"]["ports"][0]["name"]
    );
    // The DaemonSet runs the image of this version.
    let daemonset = of_kind(&manifests, "DaemonSet");
    let image = daemonset["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    assert!(
        image.ends_with(&format!(":{}", version())),
        "{image} is not version {}",
        version()
    );
    // The ConfigMap's config is one wasmtrace accepts, and its plugins are in the image.
    let config = of_kind(&manifests, "ConfigMap")["data"]["wasmtrace.toml"]
        .as_str()
        .unwrap();
    let parsed = wasmtrace::config::Config::parse(Path::new("/etc/wasmtrace/wasmtrace.toml"), config).unwrap();
    for plugin in &parsed.plugins {
        let name = plugin.path.file_name().unwrap();
        assert!(
            example_plugins().join(name).exists(),
            "{}: not an example plugin",
            plugin.name
        );
    }
}

/// The podman arguments that run `pod`'s first container as the kubelet
/// would; `config_dir` stands for the ConfigMap's volume.
fn podman_args(pod: &Json, config_dir: &Path, name: &str) -> Vec<String> {
    let container = &pod["containers"][0];
    let mut args: Vec<String> = ["--runtime", "runc", "run", "-d", "--pull=never", "--name", name]
        .map(String::from)
        .to_vec();
    // As this machine allows (containers.rs): podman's default ulimits cannot be set here.
    args.extend(["--ulimit", "nofile=16384:16384", "--ulimit", "nproc=4096:4096"].map(String::from));
    if pod["hostPID"] == true {
        args.push("--pid=host".into());
    }
    if pod["hostNetwork"] == true {
        args.push("--network=host".into());
    }
    let security = &container["securityContext"];
    assert_eq!(security["privileged"], false, "the DaemonSet must not be privileged");
    for cap in security["capabilities"]["drop"].as_array().unwrap() {
        args.push(format!("--cap-drop={}", cap.as_str().unwrap()));
    }
    for cap in security["capabilities"]["add"].as_array().unwrap() {
        args.push(format!("--cap-add={}", cap.as_str().unwrap()));
    }
    match security["seccompProfile"]["type"].as_str() {
        Some("Unconfined") => args.push("--security-opt=seccomp=unconfined".into()),
        Some("RuntimeDefault") | None => {}
        Some(other) => panic!("seccompProfile {other} is not mapped"),
    }
    if security["allowPrivilegeEscalation"] == false {
        args.push("--security-opt=no-new-privileges".into());
    }
    if security["readOnlyRootFilesystem"] == true {
        args.push("--read-only".into());
    }
    for env in container["env"].as_array().into_iter().flatten() {
        args.push(format!(
            "--env={}={}",
            env["name"].as_str().unwrap(),
            env["value"].as_str().unwrap()
        ));
    }
    let volumes = pod["volumes"].as_array().unwrap();
    for mount in container["volumeMounts"].as_array().unwrap() {
        let volume = volumes.iter().find(|v| v["name"] == mount["name"]).unwrap();
        let source = if volume["configMap"].is_object() {
            config_dir.to_path_buf()
        } else {
            let host_path = &volume["hostPath"];
            let path = PathBuf::from(host_path["path"].as_str().unwrap());
            match host_path["type"].as_str() {
                Some("DirectoryOrCreate") => std::fs::create_dir_all(&path).unwrap(),
                Some("Directory") => assert!(path.is_dir(), "hostPath {} must exist", path.display()),
                other => panic!("hostPath type {other:?} is not mapped"),
            }
            path
        };
        let ro = if mount["readOnly"] == true { ":ro" } else { "" };
        args.push(format!(
            "--volume={}:{}{ro}",
            source.display(),
            mount["mountPath"].as_str().unwrap()
        ));
    }
    args.push(container["image"].as_str().unwrap().to_string());
    args.extend(
        container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string()),
    );
    args
}

/// The node mounts tracefs (systemd does at boot); the pod only reads it.
fn host_tracefs() {
    let mounted = std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some("/sys/kernel/tracing"));
    if !mounted {
        run(Command::new("mount").args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"]));
    }
}

struct Removed(String);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = Command::new("podman").args(["rm", "-f", "-t", "0", &self.0]).output();
    }
}

/// The image, built by the one script (with this build's binary and
/// plugins) once per test run, also tagged with the name the DaemonSet
/// gives, as a node would have pulled it; returns the DaemonSet's pod spec.
fn built_image() -> &'static Json {
    static POD: std::sync::OnceLock<Json> = std::sync::OnceLock::new();
    POD.get_or_init(|| {
        let tag = "localhost/wasmtrace:e2e";
        // The example plugins it holds, built from source.
        example_plugins();
        let built = run(Command::new(repo().join("scripts/build-image"))
            .arg(tag)
            .env("WASMTRACE", env!("CARGO_BIN_EXE_wasmtrace")));
        eprintln!("{built}");
        let labels: Json = serde_json::from_str(&run(Command::new("podman").args([
            "image",
            "inspect",
            "--format",
            "{{json .Labels}}",
            tag,
        ])))
        .unwrap();
        assert_eq!(labels["org.opencontainers.image.version"], version().as_str());
        let revision = run(Command::new("git").args(["-C"]).arg(repo()).args(["rev-parse", "HEAD"]));
        assert!(
            labels["org.opencontainers.image.revision"]
                .as_str()
                .unwrap()
                .starts_with(&revision),
            "{labels}"
        );
        let manifests = manifests();
        let pod = of_kind(&manifests, "DaemonSet")["spec"]["template"]["spec"].clone();
        run(Command::new("podman").args(["tag", tag, pod["containers"][0]["image"].as_str().unwrap()]));
        // The previous run's image, now without a name.
        run(Command::new("podman").args(["image", "prune", "--force"]));
        pod
    })
}

/// What docs/deploying.md adds to the pod for uprobe probes: CAP_SYS_ADMIN,
/// and the node's files read-only at /host.
const UPROBES: &[&str] = &[
    "--cap-add=SYS_ADMIN",
    "--volume=/:/host:ro",
    "--env=WASMTRACE_HOST_ROOT=/host",
];

/// The pod's container, started under podman with `config` as its
/// ConfigMap (and `extra` settings beside the manifest's); removed when dropped.
fn start_pod(pod: &Json, config: &str, extra: &[&str]) -> (Removed, tempfile::TempDir) {
    host_tracefs();
    let config_dir = tempfile::tempdir().unwrap();
    std::fs::write(config_dir.path().join("wasmtrace.toml"), config).unwrap();
    let name = unique("wt-daemonset-");
    let mut args = podman_args(pod, config_dir.path(), &name);
    let image_at = args
        .iter()
        .position(|a| a == pod["containers"][0]["image"].as_str().unwrap())
        .unwrap();
    for setting in extra.iter().rev() {
        args.insert(image_at, setting.to_string());
    }
    eprintln!("podman {}", args.join(" "));
    let removed = Removed(name);
    run(Command::new("podman").args(&args));
    (removed, config_dir)
}

/// Stops the pod's container as the kubelet does (SIGTERM), and returns
/// its exit code and log.
fn stop_pod(pod: &Removed) -> (String, crate::harness::Finished) {
    run(Command::new("podman").args(["stop", "-t", "20", &pod.0]));
    exited(pod)
}

fn exited(pod: &Removed) -> (String, crate::harness::Finished) {
    let logs = Command::new("podman").args(["logs", &pod.0]).output().unwrap();
    let stderr = String::from_utf8_lossy(&logs.stderr).into_owned();
    let exit = run(Command::new("podman").args(["inspect", "--format", "{{.State.ExitCode}}", &pod.0]));
    let out = crate::harness::Finished::new(
        std::process::ExitStatus::default(),
        &String::from_utf8_lossy(&logs.stdout),
        stderr,
    );
    (exit, out)
}

#[test]
fn the_image_runs_as_the_daemonset_and_traces_the_host_and_a_container_with_a_pulled_plugin() {
    require_kernel!();
    let pod = built_image();
    let registry = Registry::start();
    let reference = registry.reference("wasmtrace/echo:1");
    let digest = push(&registry, &test_plugins().join("echo.wasm"), &reference);
    let (host_comm, other) = (unique("wt-node-"), unique("wt-other-"));
    image();
    let config = format!(
        "plugin_dir = \"/opt/wasmtrace/plugins\"\ncache_dir = \"/var/cache/wasmtrace\"\n\
         [output]\nformat = \"json\"\n\
         [probe.\"file.open\"]\ncomm = [\"busybox\", \"{host_comm}\"]\n\
         [plugin.echo]\nimage = \"{reference}\"\nprobes = [\"file.open\"]\n{}",
        registry.table()
    );
    let (running, _config) = start_pod(pod, &config, &[]);
    wait_for_log(&running.0, "tracing");

    // The node's own process, and another container.
    child_opens(&host_comm, Path::new("/etc/hostname"), 3);
    podman_run(&other, &[], &["/bin/busybox", "cat", "/etc/hostname"]);
    let _other = Removed(other.clone());
    let other_id = run(Command::new("podman").args(["inspect", "--format", "{{.Id}}", &other]));
    std::thread::sleep(Duration::from_secs(1));
    let (exit, out) = stop_pod(&running);
    assert_eq!(exit, "0", "it stops cleanly on SIGTERM:\n{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("plugin `echo`: pulled {reference} ({digest})")),
        "{}",
        out.stderr
    );
    let opens = echoed_by(&out, "echo", "file.open", "path", "/etc/hostname");
    let host_opens = opens.iter().filter(|c| *c == "-").count();
    let container = format!("podman {other_id} {other} {IMAGE} -");
    let other_opens = opens.iter().filter(|c| **c == container).count();
    assert_eq!((host_opens, other_opens), (3, 1), "{opens:#?}\n{}", out.stderr);
}

#[test]
fn uprobes_in_the_pod_reach_the_nodes_binaries_with_the_documented_additions() {
    require_kernel!();
    let pod = built_image();
    let config = "plugin_dir = \"/opt/wasmtrace/plugins\"\ncache_dir = \"/var/cache/wasmtrace\"\n\
                  [output]\nformat = \"json\"\n[plugin.bashreadline]\n";
    // As written, the pod cannot attach uprobes, and says what to add.
    let (refused, _config) = start_pod(pod, config, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while run(Command::new("podman").args(["inspect", "--format", "{{.State.Status}}", &refused.0])) == "running" {
        assert!(
            Instant::now() < deadline,
            "a pod without CAP_SYS_ADMIN kept running uprobes"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (exit, out) = exited(&refused);
    assert_eq!(exit, "1");
    assert!(
        out.stderr
            .contains("needs CAP_SYS_ADMIN (for the uprobes of shell.readline)"),
        "{}",
        out.stderr
    );

    // With SYS_ADMIN and the node's files (docs/deploying.md), the node's bash, found below /host.
    let (running, _config) = start_pod(pod, config, UPROBES);
    wait_for_log(&running.0, "tracing");
    let marker = unique("echo wt-node-typed-");
    let bash = crate::harness::typed_into_bash(&marker);
    std::thread::sleep(Duration::from_secs(1));
    let (exit, out) = stop_pod(&running);
    assert_eq!(exit, "0", "{}", out.stderr);
    let typed: Vec<_> = out
        .rows("bashreadline")
        .filter(|r| r["PID"].as_u64().is_some_and(|p| p.to_string() == bash))
        .map(|r| r["COMMAND"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(typed, [marker, "exit".to_string()], "{}", out.stderr);
}

fn wait_for_log(container: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let logs = Command::new("podman").args(["logs", container]).output().unwrap();
        let text = String::from_utf8_lossy(&logs.stderr).into_owned() + &String::from_utf8_lossy(&logs.stdout);
        if text.contains(needle) {
            return;
        }
        let state = run(Command::new("podman").args(["inspect", "--format", "{{.State.Status}}", container]));
        assert!(state == "running", "the pod's container is {state}:\n{text}");
        assert!(
            Instant::now() < deadline,
            "no `{needle}` in the container's log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
