//! Plugins from OCI registries: `image`, `key` and `refresh` in a
//! `[plugin.NAME]` table, and `[registry."HOST"]` tables for how to reach
//! a registry (its CA, plain HTTP on a test host, credentials). As for the
//! metrics endpoint, credentials come from files or the environment, never
//! from the config itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::bounded::{BadDuration, duration_within};
use super::metrics::{self, Auth, RawAuth};
use super::{Invalid, Located};

/// A plugin's component as an OCI artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `REGISTRY/REPOSITORY:TAG` or `REGISTRY/REPOSITORY@sha256:…`, checked to parse.
    pub reference: String,
    /// A cosign public key (PEM): the artifact runs only with a signature that it verifies.
    pub key: Option<PathBuf>,
    /// How often a tag is looked up again (a digest never moves).
    pub refresh: Duration,
}

/// How to reach one registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    /// PEM certificates trusted besides the system's, for a private CA.
    pub ca_file: Option<PathBuf>,
    /// Plain HTTP instead of HTTPS (a registry on loopback or a lab network).
    pub plain_http: bool,
    /// Credentials, read from their file or variable at each pull.
    pub auth: Option<Credentials>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A username and password, or a bearer token (`[output.prometheus_auth]`'s keys).
    Given(Auth),
    /// The credentials that `podman login`, `docker login` or `oras login`
    /// saved for this registry (an `auths` JSON file).
    AuthFile(PathBuf),
}

pub const DEFAULT_REFRESH: Duration = Duration::from_secs(60);
/// Faster than this would be a registry's load, not a deploy's latency.
const MIN_REFRESH: Duration = Duration::from_secs(1);
const MAX_REFRESH: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegistry {
    ca_file: Option<String>,
    #[serde(default)]
    plain_http: bool,
    auth_file: Option<Spanned<String>>,
    username: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    bearer_token_file: Option<Spanned<String>>,
    bearer_token_env: Option<Spanned<String>>,
}

/// The `[registry."HOST"]` tables, by host (with its port, if any).
pub(super) fn registries(
    raw: &BTreeMap<Spanned<String>, Spanned<RawRegistry>>,
    base: &Path,
) -> Result<BTreeMap<String, Registry>, Located> {
    let mut registries = BTreeMap::new();
    for (host, table) in raw {
        let name = host.get_ref();
        if name.is_empty() || name.contains(['/', '@', ' ']) || name.contains("://") {
            return Err((
                Some(host.span()),
                format!(
                    "[registry.\"{name}\"]: name a registry by its host and port, e.g. \"registry.example.com\" or \"localhost:5000\""
                ),
            ));
        }
        let r = table.get_ref();
        let given = [
            &r.username,
            &r.password_file,
            &r.password_env,
            &r.bearer_token_file,
            &r.bearer_token_env,
        ]
        .iter()
        .any(|k| k.is_some());
        let auth = match (&r.auth_file, given) {
            (Some(file), true) => {
                return Err((
                    Some(file.span()),
                    "give auth_file, or username and password or a bearer token, not both".into(),
                ));
            }
            (Some(file), false) => Some(Credentials::AuthFile(base.join(file.get_ref()))),
            (None, true) => {
                let raw_auth = RawAuth {
                    username: r.username.clone(),
                    password_file: r.password_file.clone(),
                    password_env: r.password_env.clone(),
                    bearer_token_file: r.bearer_token_file.clone(),
                    bearer_token_env: r.bearer_token_env.clone(),
                };
                let table_name = format!("[registry.\"{name}\"]");
                Some(Credentials::Given(
                    metrics::auth(base, &raw_auth, table.span(), &table_name).map_err(|(s, m)| (Some(s), m))?,
                ))
            }
            (None, false) => None,
        };
        registries.insert(
            name.clone(),
            Registry {
                ca_file: r.ca_file.as_ref().map(|f| base.join(f)),
                plain_http: r.plain_http,
                auth,
            },
        );
    }
    Ok(registries)
}

/// A `[plugin.NAME]`'s `image`, `key` and `refresh`.
pub(super) fn image(
    plugin: &str,
    reference: &Spanned<String>,
    key: &Option<String>,
    refresh: &Option<Spanned<String>>,
    base: &Path,
) -> Result<Image, Invalid> {
    let parsed = crate::oci::parse_reference(reference.get_ref()).map_err(|e| (reference.span(), e.to_string()))?;
    let by_digest = parsed.digest().is_some();
    if by_digest && let Some(r) = refresh {
        return Err((
            r.span(),
            format!("plugin.{plugin}.refresh: an image pinned by digest never changes; refresh is for tags"),
        ));
    }
    let refresh = duration_within(
        refresh,
        MIN_REFRESH..=MAX_REFRESH,
        DEFAULT_REFRESH,
        |s, bad| match bad {
            BadDuration::OutOfRange => format!("plugin.{plugin}.refresh `{s}`: give from 1s to 7 days"),
            BadDuration::Unreadable(e) => {
                format!("plugin.{plugin}.refresh: bad duration `{s}`: {e} (write e.g. \"1m\")")
            }
        },
    )?;
    Ok(Image {
        reference: reference.get_ref().clone(),
        key: key.as_ref().map(|k| base.join(k)),
        refresh,
    })
}
