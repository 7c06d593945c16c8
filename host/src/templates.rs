//! `wasmtrace new-plugin`: writes a plugin skeleton that builds as is, in
//! Rust, C, Python, JavaScript or Go. The files are embedded from sdk/ and wit/,
//! so a new plugin needs nothing from this repository.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    C,
    Python,
    Js,
    Go,
}

impl Lang {
    pub const ALL: [Lang; 5] = [Lang::Rust, Lang::C, Lang::Python, Lang::Js, Lang::Go];

    /// The name `--lang` takes.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::C => "c",
            Lang::Python => "python",
            Lang::Js => "js",
            Lang::Go => "go",
        }
    }
}

impl std::str::FromStr for Lang {
    type Err = String;

    fn from_str(s: &str) -> Result<Lang, String> {
        Lang::ALL.into_iter().find(|l| l.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Lang::ALL.iter().map(|l| l.name()).collect();
            format!("no template for `{s}`: pick one of {}", names.join(", "))
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("plugin name `{0}` must start with a lowercase letter and hold only a-z, 0-9 and `_`")]
    BadName(String),
    #[error("{} already exists: pick another name or folder", .0.display())]
    Exists(PathBuf),
    #[error("writing {}: {cause}", path.display())]
    Write { path: PathBuf, cause: std::io::Error },
}

const WIT: &str = include_str!("../../wit/plugin.wit");

/// (path in the new folder, contents with `{{name}}` placeholders, executable)
type TemplateFile = (&'static str, &'static [u8], bool);

macro_rules! text {
    ($path:literal, $file:literal) => {
        ($path, include_bytes!(concat!("../../", $file)).as_slice(), false)
    };
    ($path:literal, $file:literal, exec) => {
        ($path, include_bytes!(concat!("../../", $file)).as_slice(), true)
    };
}

fn files(lang: Lang) -> Vec<TemplateFile> {
    match lang {
        Lang::Rust => vec![
            text!("Cargo.toml", "sdk/templates/rust/Cargo.toml"),
            text!(".cargo/config.toml", "sdk/templates/rust/config.toml"),
            text!("src/lib.rs", "sdk/templates/rust/lib.rs"),
            text!("build.sh", "sdk/templates/rust/build.sh", exec),
            text!("sdk/Cargo.toml", "sdk/rust/Cargo.toml"),
            text!("sdk/src/lib.rs", "sdk/rust/src/lib.rs"),
            text!("sdk/src/config.rs", "sdk/rust/src/config.rs"),
            text!("sdk/src/enums.rs", "sdk/rust/src/enums.rs"),
            text!("sdk/src/event.rs", "sdk/rust/src/event.rs"),
            text!("sdk/src/maps.rs", "sdk/rust/src/maps.rs"),
            text!("sdk/src/output.rs", "sdk/rust/src/output.rs"),
            text!("sdk/src/tools.rs", "sdk/rust/src/tools.rs"),
            ("sdk/wit/plugin.wit", WIT.as_bytes(), false),
        ],
        Lang::C => vec![
            text!("plugin.c", "sdk/templates/c/plugin.c"),
            text!("build.sh", "sdk/templates/c/build.sh", exec),
            (
                "wasi_snapshot_preview1.reactor.wasm",
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
                false,
            ),
            ("wit/plugin.wit", WIT.as_bytes(), false),
        ],
        Lang::Python => vec![
            text!("app.py", "sdk/templates/python/app.py"),
            text!("build.sh", "sdk/templates/python/build.sh", exec),
            text!("wasmtrace.py", "sdk/python/wasmtrace.py"),
            ("wit/plugin.wit", WIT.as_bytes(), false),
        ],
        Lang::Js => vec![
            text!("plugin.js", "sdk/templates/js/plugin.js"),
            text!("package.json", "sdk/templates/js/package.json"),
            text!("build.sh", "sdk/templates/js/build.sh", exec),
            text!("componentize.mjs", "sdk/js/componentize.mjs"),
            text!("wasmtrace.js", "sdk/js/wasmtrace.js"),
            ("wit/plugin.wit", WIT.as_bytes(), false),
        ],
        Lang::Go => vec![
            text!("main.go", "sdk/templates/go/main.go"),
            text!("go.mod", "sdk/templates/go/go.mod"),
            text!("build.sh", "sdk/templates/go/build.sh", exec),
            text!("sdk/go.mod", "sdk/go/go.mod"),
            text!("sdk/abi.go", "sdk/go/abi.go"),
            text!("sdk/enums.go", "sdk/go/enums.go"),
            text!("sdk/config.go", "sdk/go/config.go"),
            text!("sdk/events.go", "sdk/go/events.go"),
            text!("sdk/imports.go", "sdk/go/imports.go"),
            text!("sdk/lift.go", "sdk/go/lift.go"),
            text!("sdk/maps.go", "sdk/go/maps.go"),
            text!("sdk/names.go", "sdk/go/names.go"),
            text!("sdk/output.go", "sdk/go/output.go"),
            text!("sdk/plugin.go", "sdk/go/plugin.go"),
            text!("sdk/records.go", "sdk/go/records.go"),
            text!("sdk/adapter/adapter.wat", "sdk/go/adapter/adapter.wat"),
            text!("sdk/adapter/adapter.wit", "sdk/go/adapter/adapter.wit"),
            ("wit/plugin.wit", WIT.as_bytes(), false),
        ],
    }
}

/// A template's text with the plugin's name filled in.
pub fn render(template: &[u8], name: &str) -> Vec<u8> {
    match std::str::from_utf8(template) {
        Ok(text) => text.replace("{{name}}", name).into_bytes(),
        Err(_) => template.to_vec(),
    }
}

/// Writes a new plugin called `name` into `dir/name`; returns that folder.
pub fn create(lang: Lang, name: &str, dir: &Path) -> Result<PathBuf, TemplateError> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(TemplateError::BadName(name.to_string()));
    }
    let root = dir.join(name);
    if root.exists() {
        return Err(TemplateError::Exists(root));
    }
    for (path, contents, executable) in files(lang) {
        let path = root.join(path);
        let write = || -> std::io::Result<()> {
            use std::os::unix::fs::PermissionsExt;
            std::fs::create_dir_all(path.parent().expect("template paths have a folder"))?;
            std::fs::write(&path, render(contents, name))?;
            let mode = if executable { 0o755 } else { 0o644 };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
        };
        write().map_err(|cause| TemplateError::Write {
            path: path.clone(),
            cause,
        })?;
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example plugins (and the Go test plugin) build with their
    /// template's script, so the two cannot drift.
    #[test]
    fn example_build_scripts_are_rendered_templates() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for (folder, name, lang) in [
            ("plugins/lifetime", "lifetime", Lang::C),
            ("plugins/shellspawn", "shellspawn", Lang::Python),
            ("plugins/opentop", "opentop", Lang::Js),
            ("plugins/secretwatch", "secretwatch", Lang::Go),
            ("tests/plugins/echo-go", "echo_go", Lang::Go),
        ] {
            let (_, template, _) = files(lang).into_iter().find(|(p, _, _)| *p == "build.sh").unwrap();
            let script = std::fs::read(repo.join(folder).join("build.sh")).unwrap();
            assert_eq!(
                String::from_utf8(render(template, name)).unwrap(),
                String::from_utf8(script).unwrap()
            );
        }
    }

    /// Every source file of the Rust and Go SDKs goes into a new plugin: a
    /// file added to an SDK (as the generated enums.rs was) and not listed
    /// above fails here, not in a user's first build.
    #[test]
    fn every_sdk_file_is_in_its_template() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for (lang, dir, ext) in [(Lang::Rust, "sdk/rust/src", "rs"), (Lang::Go, "sdk/go", "go")] {
            let listed = files(lang);
            for entry in std::fs::read_dir(repo.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == ext) {
                    let bytes = std::fs::read(&path).unwrap();
                    assert!(
                        listed.iter().any(|(_, b, _)| *b == bytes.as_slice()),
                        "{} is not in the {lang:?} template",
                        path.display()
                    );
                }
            }
        }
    }

    #[test]
    fn names_and_existing_folders_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            create(Lang::Rust, "Bad-Name", dir.path()),
            Err(TemplateError::BadName(_))
        ));
        let made = create(Lang::Python, "mine", dir.path()).unwrap();
        assert!(made.join("app.py").exists() && made.join("wit/plugin.wit").exists());
        assert!(matches!(
            create(Lang::Python, "mine", dir.path()),
            Err(TemplateError::Exists(_))
        ));
    }
}
