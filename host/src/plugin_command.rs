//! `wasmtrace plugin push|pull|inspect`: plugins as OCI artifacts, from the
//! command line, with the same client, checks and registry settings as a
//! session's `image` plugins.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use wasmtrace::config::{Config, Credentials, Registry as RegistrySettings};
use wasmtrace::escape;
use wasmtrace::oci::{self, Pulled, Registry, SigningKey};

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Push a built component to a registry as a WebAssembly artifact
    /// (config `application/vnd.wasm.config.v0+json`, one `application/wasm` layer).
    Push {
        /// The component (`.wasm`).
        file: PathBuf,
        /// REGISTRY/REPOSITORY:TAG
        reference: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Pull a plugin into a file, its digests (and signature, given --key) checked.
    Pull {
        /// REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST
        reference: String,
        /// Where to write the component (default: the repository's last part, .wasm).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// cosign public key (PEM) the artifact's signature must verify with.
        #[arg(long)]
        key: Option<PathBuf>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Show what a plugin (a file, or an artifact in a registry) asks for before it runs:
    /// the interfaces it imports, and the probes its `init` subscribes to.
    Inspect {
        /// A `.wasm` file, or REGISTRY/REPOSITORY:TAG
        plugin: String,
        /// cosign public key (PEM) to check the artifact's signature with.
        #[arg(long)]
        key: Option<PathBuf>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

/// How to reach the registry: a config's `[registry."HOST"]` table, or these flags.
#[derive(Args)]
pub struct RegistryArgs {
    /// Take the registry's settings from this config's [registry."HOST"] table.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Plain HTTP (a registry on loopback or a lab network).
    #[arg(long)]
    plain_http: bool,
    /// PEM certificates to trust besides the system's.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Credentials saved by `podman login`, `docker login` or `oras login` (an `auths` JSON file).
    #[arg(long)]
    auth_file: Option<PathBuf>,
}

impl RegistryArgs {
    fn settings(&self, reference: &oci_client::Reference) -> anyhow::Result<Option<RegistrySettings>> {
        let mut settings = match &self.config {
            Some(path) => Registry::settings_for(&Config::load(path)?.registries, reference),
            None => None,
        };
        if self.plain_http || self.ca_file.is_some() || self.auth_file.is_some() {
            let s = settings.get_or_insert_with(RegistrySettings::default);
            s.plain_http |= self.plain_http;
            if let Some(ca) = &self.ca_file {
                s.ca_file = Some(ca.clone());
            }
            if let Some(file) = &self.auth_file {
                s.auth = Some(Credentials::AuthFile(file.clone()));
            }
        }
        Ok(settings)
    }

    fn registry(&self, reference: &oci_client::Reference) -> anyhow::Result<Registry> {
        Ok(Registry::new(reference, self.settings(reference)?.as_ref())?)
    }
}

pub fn run(command: PluginCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the event loop")?;
    match command {
        PluginCommand::Push {
            file,
            reference,
            registry,
        } => runtime.block_on(push(&file, &reference, &registry)),
        PluginCommand::Pull {
            reference,
            output,
            key,
            registry,
        } => runtime.block_on(pull_to_file(&reference, output, key.as_deref(), &registry)),
        PluginCommand::Inspect { plugin, key, registry } => {
            runtime.block_on(inspect(&plugin, key.as_deref(), &registry))
        }
    }
}

async fn push(file: &Path, reference: &str, args: &RegistryArgs) -> anyhow::Result<()> {
    let parsed = oci::parse_reference(reference)?;
    let component = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    if oci::check_component(&component).is_err() {
        bail!(
            "{} is not a WebAssembly component (a core module is made one with `wasm-tools component new`)",
            file.display()
        );
    }
    let title = file
        .file_name()
        .map_or("plugin.wasm".into(), |n| n.to_string_lossy().into_owned());
    let digest = args.registry(&parsed)?.push(&parsed, component, &title).await?;
    println!("pushed {} as {reference}@{digest}", file.display());
    Ok(())
}

async fn pull(reference: &str, key: Option<&Path>, args: &RegistryArgs) -> anyhow::Result<(Pulled, Option<String>)> {
    let parsed = oci::parse_reference(reference)?;
    let key = key.map(SigningKey::read).transpose()?;
    let pulled = args.registry(&parsed)?.pull(&parsed, key.as_ref()).await?;
    Ok((pulled, key.map(|k| k.path)))
}

async fn pull_to_file(
    reference: &str,
    output: Option<PathBuf>,
    key: Option<&Path>,
    args: &RegistryArgs,
) -> anyhow::Result<()> {
    let (pulled, verified_with) = pull(reference, key, args).await?;
    let output = output.unwrap_or_else(|| PathBuf::from(format!("{}.wasm", last_name(reference))));
    write_new(&output, &pulled.component).with_context(|| format!("writing {}", output.display()))?;
    let signed = verified_with.map_or(String::new(), |k| format!(", signature verified with {k}"));
    println!(
        "pulled {reference}@{} into {} ({} bytes, layer {}{signed})",
        pulled.manifest_digest,
        output.display(),
        pulled.component.len(),
        pulled.layer_digest
    );
    Ok(())
}

/// The last part of a (parsed) reference's repository: `opensnoop` of `REG/wasmtrace/opensnoop:1`.
fn last_name(reference: &str) -> String {
    oci::parse_reference(reference)
        .ok()
        .and_then(|r| r.repository().rsplit('/').next().map(str::to_string))
        .unwrap_or_else(|| "plugin".into())
}

/// Writes `bytes` to `path` whole, by renaming a new file there: never
/// through a link or into a file hard-linked elsewhere.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // A rename would replace a device or a link itself (`-o /dev/null`): only files are written.
    if let Ok(meta) = path.symlink_metadata()
        && !meta.is_file()
    {
        return Err(std::io::Error::other(
            "it is not a regular file; give the path of a file to write",
        ));
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
    file.persist(path).map(drop).map_err(|e| e.error)
}

async fn inspect(plugin: &str, key: Option<&Path>, args: &RegistryArgs) -> anyhow::Result<()> {
    let mut out = String::new();
    let local = Path::new(plugin);
    // Inspected from a private folder, as `run` would read it.
    let folder = tempfile::tempdir().context("making a temporary folder")?;
    let (component, name) = if local.is_file() {
        out += &format!("plugin:     {}\n", local.display());
        let name = local
            .file_stem()
            .map_or("plugin".into(), |n| n.to_string_lossy().into_owned());
        (std::fs::read(local).with_context(|| format!("reading {plugin}"))?, name)
    } else {
        let (pulled, verified_with) = pull(plugin, key, args).await?;
        out += &format!("plugin:     {plugin}\n");
        out += &format!("digest:     {}\n", pulled.manifest_digest);
        out += &format!(
            "layer:      {} ({} bytes, application/wasm)\n",
            pulled.layer_digest,
            pulled.component.len()
        );
        for (k, v) in &pulled.annotations {
            out += &format!("annotation: {} = {}\n", escape::terminal(k), escape::terminal(v));
        }
        out += &match verified_with {
            Some(k) => format!("signature:  verified with {k}\n"),
            None => "signature:  not checked (give --key to check it)\n".into(),
        };
        (pulled.component, last_name(plugin))
    };
    let path = folder.path().join("plugin.wasm");
    std::fs::write(&path, &component)?;
    let imports = oci::imports_of(&component).context("reading the component's imports")?;
    out += "imports (what it can reach, and what lets it):\n";
    for import in &imports {
        out += &format!("  {:<40} {}\n", escape::terminal(import), oci::inspect::reach(import));
    }
    let cache = folder.path().join("cache");
    match oci::inspect::probes_asked(&path, &name, &cache) {
        Ok(probes) if probes.is_empty() => {
            out += "probes:     none asked for in init (it runs on ticks, or takes `probes` from its [plugin] table)\n"
        }
        Ok(probes) => {
            out += &format!(
                "probes:     {} (asked for by init, run with nothing granted)\n",
                probes.join(", ")
            )
        }
        Err(e) => out += &format!("probes:     unknown: init failed with nothing granted: {e:#}\n"),
    }
    std::io::stdout().write_all(escape::terminal_lines(&out).as_bytes())?;
    Ok(())
}
