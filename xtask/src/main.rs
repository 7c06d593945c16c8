//! `cargo xtask`: writes every committed file derived from the WIT and the
//! probe catalog; `cargo xtask --check` says which are stale. A test runs the
//! check, so a WIT or catalog change that forgets them fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};
use wasmtrace_gen::{Wit, go, rust_sdk};

/// A committed file and its current content.
struct Output {
    path: &'static str,
    content: String,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every derived file, formatted as its language's formatter leaves it.
fn outputs() -> Result<Vec<Output>> {
    let wit = Wit::load(&repo().join("wit")).map_err(anyhow::Error::msg)?;
    Ok(vec![
        Output {
            path: "sdk/go/records.go",
            content: format_with(gofmt()?, &[], &go::records(&wit))?,
        },
        Output {
            path: "sdk/go/enums.go",
            content: format_with(gofmt()?, &[], &go::enums(&wit))?,
        },
        Output {
            path: "sdk/rust/src/enums.rs",
            content: format_with(
                "rustfmt".into(),
                &["--edition", "2024", "--config-path", "sdk/rust/rustfmt.toml"],
                &rust_sdk::enums(&wit),
            )?,
        },
        Output {
            path: "docs/probes.md",
            content: wasmtrace::listing::markdown(),
        },
    ])
}

/// Go's own gofmt, which `go env GOROOT` finds.
fn gofmt() -> Result<PathBuf> {
    let goroot = Command::new("go")
        .args(["env", "GOROOT"])
        .output()
        .context("running `go env GOROOT` (install Go: scripts/install-deps)")?;
    Ok(Path::new(String::from_utf8(goroot.stdout)?.trim()).join("bin/gofmt"))
}

fn format_with(tool: PathBuf, args: &[&str], source: &str) -> Result<String> {
    let mut child = Command::new(&tool)
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", tool.display()))?;
    child.stdin.take().expect("piped").write_all(source.as_bytes())?;
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "{} refused the generated code: {}\n{source}",
        tool.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// The outputs that differ from what is committed.
fn stale(outputs: &[Output]) -> Vec<&'static str> {
    outputs
        .iter()
        .filter(|o| std::fs::read_to_string(repo().join(o.path)).ok().as_deref() != Some(o.content.as_str()))
        .map(|o| o.path)
        .collect()
}

fn main() -> Result<()> {
    let outputs = outputs()?;
    match std::env::args().nth(1).as_deref() {
        None => {
            for o in &outputs {
                std::fs::write(repo().join(o.path), &o.content).with_context(|| format!("writing {}", o.path))?;
            }
            Ok(())
        }
        Some("--check") => match stale(&outputs)[..] {
            [] => Ok(()),
            ref paths => bail!("stale: {}; regenerate them with `cargo xtask`", paths.join(", ")),
        },
        Some(other) => {
            bail!("unknown argument {other:?}: `cargo xtask` writes the generated files, `--check` checks them")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_files_are_current() {
        let outputs = outputs().unwrap();
        let stale = stale(&outputs);
        assert!(
            stale.is_empty(),
            "stale: {}; regenerate them with `cargo xtask`",
            stale.join(", ")
        );
    }
}
