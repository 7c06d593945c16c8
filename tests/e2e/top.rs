//! `wasmtrace top` used as a person would: in a real terminal (tmux), keys
//! sent with `send-keys`, the screen read with `capture-pane`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{child_opens, example_plugins, test_plugins, unique, wasmtrace};

/// A tmux server of the test's own, running one command in a 200×50 pane.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Runs `command` in a shell that then says how it exited and stays, so
    /// the screen after quitting can be read too.
    fn start(command: &str) -> Tmux {
        let tmux = Tmux {
            socket: unique("wt-tmux-"),
        };
        let shell = format!("{command}; echo \"exit=$?\"; sleep 600");
        tmux.run(&["new-session", "-d", "-s", "top", "-x", "200", "-y", "50", &shell]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("running tmux (scripts/install-deps installs it)");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "top"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend(keys);
        self.run(&args);
    }

    /// The screen once `ready` holds for it (up to 60 s).
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "the screen never showed {what}:\n{screen}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).status();
    }
}

fn line_of(screen: &str, needle: &str) -> Option<usize> {
    screen.lines().position(|l| l.contains(needle))
}

#[test]
fn top_shows_a_storm_sorts_feeds_a_finding_and_quits_printing_the_maps() {
    require_kernel!();
    let dir = tempfile::tempdir().unwrap();
    let (comm, service) = (unique("wt-top"), unique("wt-svc"));
    let config = dir.path().join("top.toml");
    std::fs::write(
        &config,
        format!(
            "plugin_dir = \"{}\"\n[output]\ninterval = \"500ms\"\n[probe.\"file.open\"]\ncomm = [\"{comm}\"]\n\
             [probe.\"process.exec\"]\ncomm = [\"sh\"]\n[plugin.tally]\nprobes = [\"file.open\"]\n\
             [plugin.shellspawn]\n[plugin.shellspawn.config]\nservices = [\"{service}\"]\n\
             [plugin.crash]\npath = \"{}/misbehave.wasm\"\n[plugin.crash.config]\nfail_in = \"tick\"\n",
            example_plugins().display(),
            test_plugins().display()
        ),
    )
    .unwrap();
    let exe = env!("CARGO_BIN_EXE_wasmtrace");
    let tmux = Tmux::start(&format!("{exe} top --config {}", config.display()));
    tmux.wait_for("the plugins table", |s| s.contains("PLUGIN") && s.contains("tally"));
    // A plugin that fails on every tick is shown down, with its restart's countdown.
    tmux.wait_for("the failing plugin down", |s| {
        s.lines()
            .any(|l| l.contains("crash") && l.contains("down ") && l.contains('s'))
    });

    // "a" gets fewer opens than "b": by value b comes first, by key a does.
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for f in [&a, &b] {
        std::fs::write(f, b"x").unwrap();
    }
    child_opens(&comm, &a, 321);
    child_opens(&comm, &b, 1234);
    // The plugins table lists crash, shellspawn, then tally: select tally.
    tmux.keys(&["Down", "Down"]);
    tmux.wait_for("tally's maps", |s| s.contains("maps of tally"));
    let key_a = format!("@events[{comm}, {}]: 321", a.display());
    let key_b = format!("@events[{comm}, {}]: 1234", b.display());
    let screen = tmux.wait_for("the storm's counts in the map pane", |s| {
        s.contains(&key_a) && s.contains(&key_b)
    });
    assert!(
        line_of(&screen, &key_b) < line_of(&screen, &key_a),
        "largest first:\n{screen}"
    );
    assert!(screen.contains("sorted by value"), "{screen}");
    tmux.keys(&["s"]);
    let screen = tmux.wait_for("the maps sorted by key", |s| s.contains("sorted by key"));
    assert!(line_of(&screen, &key_a) < line_of(&screen, &key_b), "by key:\n{screen}");

    // A finding in the feed, and the feed filtered down to it.
    let daemon = dir.path().join(&service);
    std::fs::copy("/bin/bash", &daemon).unwrap(); // with its mode, 0755
    let status = Command::new(&daemon)
        .args(["-c", "/bin/sh -c 'exit 0'"])
        .status()
        .unwrap();
    assert!(status.success());
    let finding = format!("[HIGH] shellspawn/shell-from-network-service: {service} started a shell");
    tmux.wait_for("the finding in the feed", |s| s.contains(&finding));
    tmux.keys(&["/", "shell-from", "Enter"]);
    tmux.wait_for("the filter in the status line", |s| {
        s.contains("filter: shell-from") && s.contains(&finding)
    });

    // Quitting restores the terminal and prints the final maps as `run` does.
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the final maps after quitting", |s| s.contains("exit=0"));
    assert!(screen.contains("--- tally ---"), "{screen}");
    assert!(screen.contains(&key_b), "{screen}");
    assert!(!screen.contains("PLUGIN"), "the view is gone:\n{screen}");
}

#[test]
fn top_refuses_a_pipe_and_a_dumb_terminal_and_points_to_run() {
    let config = Path::new("/nonexistent.toml");
    let out = wasmtrace().args(["top", "--config"]).arg(config).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("its output is not a terminal") && err.contains("`wasmtrace run`"),
        "{err}"
    );

    let exe = env!("CARGO_BIN_EXE_wasmtrace");
    let tmux = Tmux::start(&format!("TERM=dumb {exe} top --config {}", config.display()));
    let screen = tmux.wait_for("the refusal", |s| s.contains("exit=1"));
    assert!(
        screen.contains("TERM is \"dumb\"") && screen.contains("`wasmtrace run`"),
        "{screen}"
    );
}
