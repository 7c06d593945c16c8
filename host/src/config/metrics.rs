//! The Prometheus endpoint's settings: `prometheus = "ADDR"` in `[output]`,
//! and optionally `[output.prometheus_tls]` and `[output.prometheus_auth]`.
//! The endpoint shows the node's paths and commands, so it can be closed
//! like any exporter; secrets come from a file or an environment variable,
//! never from the config itself.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::Invalid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    pub listen: SocketAddr,
    pub tls: Option<Tls>,
    pub auth: Option<Auth>,
}

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Basic { username: String, password: Secret },
    Bearer { token: Secret },
}

/// Where a secret is read from when the endpoint starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    File(PathBuf),
    Env(String),
}

/// No password or token comes near this.
const MAX_SECRET_BYTES: u64 = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the secret file {}: {cause}", path.display())]
    File { path: PathBuf, cause: std::io::Error },
    #[error("the secret file {} is empty", path.display())]
    EmptyFile { path: PathBuf },
    #[error("the environment variable {0} that should hold the secret is not set or empty")]
    Env(String),
}

impl Secret {
    /// The secret; a file's trailing line break is not part of it (as
    /// Prometheus reads `password_file`).
    pub fn read(&self) -> Result<String, SecretError> {
        match self {
            Secret::File(path) => {
                // Bounded, and a regular file only (a FIFO would block).
                let bytes =
                    crate::uprobe_target::read_small(path, MAX_SECRET_BYTES).map_err(|e| SecretError::File {
                        path: path.clone(),
                        cause: std::io::Error::other(e),
                    })?;
                let text = String::from_utf8(bytes).map_err(|_| SecretError::File {
                    path: path.clone(),
                    cause: std::io::Error::other("it is not UTF-8 text"),
                })?;
                let secret = text.trim_end_matches(['\n', '\r']);
                if secret.is_empty() {
                    return Err(SecretError::EmptyFile { path: path.clone() });
                }
                Ok(secret.to_string())
            }
            Secret::Env(name) => std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| SecretError::Env(name.clone())),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    cert_file: String,
    key_file: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    pub(super) username: Option<Spanned<String>>,
    pub(super) password_file: Option<Spanned<String>>,
    pub(super) password_env: Option<Spanned<String>>,
    pub(super) bearer_token_file: Option<Spanned<String>>,
    pub(super) bearer_token_env: Option<Spanned<String>>,
}

/// One secret from a `*_file` or `*_env` pair: exactly one of them.
fn secret(
    base: &Path,
    what: &str,
    file: &Option<Spanned<String>>,
    env: &Option<Spanned<String>>,
) -> Result<Option<Secret>, Invalid> {
    match (file, env) {
        (None, None) => Ok(None),
        (Some(file), None) => Ok(Some(Secret::File(base.join(file.get_ref())))),
        (None, Some(env)) if !env.get_ref().is_empty() => Ok(Some(Secret::Env(env.get_ref().clone()))),
        (None, Some(env)) => Err((env.span(), format!("{what}_env must name an environment variable"))),
        (Some(_), Some(env)) => Err((env.span(), format!("give {what}_file or {what}_env, not both"))),
    }
}

/// The endpoint's settings; `at` is where to point when something is missing.
pub(super) fn parse(
    base: &Path,
    listen: SocketAddr,
    tls: Option<&RawTls>,
    auth: Option<&Spanned<RawAuth>>,
) -> Result<Metrics, Invalid> {
    let tls = tls.map(|t| Tls {
        cert_file: base.join(&t.cert_file),
        key_file: base.join(&t.key_file),
    });
    let auth = match auth {
        None => None,
        Some(spanned) => Some(self::auth(
            base,
            spanned.get_ref(),
            spanned.span(),
            "[output.prometheus_auth]",
        )?),
    };
    Ok(Metrics { listen, tls, auth })
}

/// A username and password, or a bearer token, from `table` (spanning `at`).
pub(super) fn auth(base: &Path, a: &RawAuth, at: std::ops::Range<usize>, table: &str) -> Result<Auth, Invalid> {
    let password = secret(base, "password", &a.password_file, &a.password_env)?;
    let token = secret(base, "bearer_token", &a.bearer_token_file, &a.bearer_token_env)?;
    match (&a.username, password, token) {
        (Some(user), Some(password), None) if !user.get_ref().is_empty() => Ok(Auth::Basic {
            username: user.get_ref().clone(),
            password,
        }),
        (None, None, Some(token)) => Ok(Auth::Bearer { token }),
        (Some(user), _, Some(_)) => Err((
            user.span(),
            "give a username and password, or a bearer token, not both".into(),
        )),
        (Some(user), None, None) => Err((user.span(), "a username needs password_file or password_env".into())),
        (Some(user), Some(_), None) => Err((user.span(), "username must not be empty".into())),
        (None, Some(_), _) => Err((at, "a password needs a username".into())),
        (None, None, None) => Err((
            at,
            format!(
                "{table} needs username with password_file or password_env, or bearer_token_file or \
                 bearer_token_env"
            ),
        )),
    }
}
