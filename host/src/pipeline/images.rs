//! Plugins pulled from OCI registries (`image` in `[plugin.NAME]`): pulled
//! before the session loads anything, or taken from the node's cache when
//! the registry cannot be reached (said once); and, for a tag, looked up
//! again every `refresh`: when the tag has moved, the new version is pulled,
//! checked, and handed to the plugin's worker as hot loading hands a changed
//! file, so that no event is lost or delivered twice.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use oci_client::Reference;
use tokio::sync::mpsc::UnboundedSender;

use super::load::Loader;
use super::reload::Loaded;
use crate::config::{Config, PluginSpec, Registry as RegistrySettings};
use crate::maps::{MapQuota, MapRegistry};
use crate::oci::{self, Cached, OciError, Registry, SigningKey, Store};

/// A plugin whose tag is followed.
pub(super) struct Followed {
    spec: PluginSpec,
    reference: Reference,
    settings: Option<RegistrySettings>,
    key: Option<SigningKey>,
    refresh: Duration,
    /// The manifest digest running now (or last refused: not tried again).
    digest: String,
    store: Arc<Store>,
}

/// Points each image plugin of `config` at its component in the cache,
/// pulled now or (registry down) pulled before; returns those that follow a tag.
pub(super) async fn resolve(config: &mut Config) -> anyhow::Result<Vec<Followed>> {
    if config.plugins.iter().all(|p| p.image.is_none()) {
        return Ok(Vec::new());
    }
    let store =
        Arc::new(Store::open(&config.cache_dir).context(
            "plugins from registries are kept in the cache folder (cache_dir), which must be wasmtrace's own",
        )?);
    let mut followed = Vec::new();
    for spec in &mut config.plugins {
        let Some(image) = spec.image.clone() else { continue };
        let name = spec.name.clone();
        let reference = oci::parse_reference(&image.reference)?;
        let key = match &image.key {
            Some(path) => Some(SigningKey::read(path).with_context(|| format!("plugin `{name}`"))?),
            None => None,
        };
        let settings = Registry::settings_for(&config.registries, &reference);
        let cached = obtain(&name, &store, &reference, settings.as_ref(), key.as_ref())
            .await
            .with_context(|| format!("plugin `{name}` ({}) not loaded", image.reference))?;
        spec.path = store.component_path(&cached.layer_digest);
        if reference.digest().is_none() {
            followed.push(Followed {
                spec: spec.clone(),
                reference,
                settings,
                key,
                refresh: image.refresh,
                digest: cached.manifest_digest,
                store: store.clone(),
            });
        }
    }
    Ok(followed)
}

/// The pulled (and kept) artifact of `reference`; or its cached copy when
/// the registry cannot be reached, or when a digest was pulled before. What
/// the registry refuses, or a copy that fails its checks, is not run.
async fn obtain(
    name: &str,
    store: &Store,
    reference: &Reference,
    settings: Option<&RegistrySettings>,
    key: Option<&SigningKey>,
) -> anyhow::Result<Cached> {
    let whole = reference.whole();
    let cached = || -> anyhow::Result<Option<Cached>> {
        let Some(cached) = store.get(&whole)? else {
            return Ok(None);
        };
        if let Some(key) = key {
            cached.verify(key).map_err(|cause| OciError::Signature {
                reference: whole.clone(),
                cause,
            })?;
        }
        Ok(Some(cached))
    };
    // A digest never changes: a copy pulled before is that artifact (if
    // it has the signature now asked for; else it is pulled again).
    if reference.digest().is_some()
        && let Ok(Some(cached)) = cached()
    {
        return Ok(cached);
    }
    let pulled = match Registry::new(reference, settings) {
        Ok(registry) => registry.pull(reference, key).await,
        Err(e) => Err(e),
    };
    match pulled {
        Ok(pulled) => {
            let cached = store.put(&whole, &pulled)?;
            let signed = key.map_or(String::new(), |k| format!(", signature verified with {}", k.path));
            tracing::info!("plugin `{name}`: pulled {whole} ({}{signed})", cached.manifest_digest);
            Ok(cached)
        }
        Err(e @ (OciError::Unreachable { .. } | OciError::Registry { .. })) => match cached()? {
            Some(cached) => {
                tracing::warn!(
                    "{e}; running the copy of {whole} pulled {} ago ({}) from the cache",
                    age(cached.pulled_at),
                    cached.manifest_digest
                );
                Ok(cached)
            }
            None => Err(anyhow::Error::new(e).context("and this node has no copy of it cached")),
        },
        Err(e) => Err(e.into()),
    }
}

/// How long ago `secs` (since the epoch) was, to the second.
fn age(secs: u64) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    humantime::format_duration(Duration::from_secs(now.saturating_sub(secs))).to_string()
}

/// Follows each tag on a task of its own, until the session is gone.
pub(super) fn follow(
    followed: Vec<Followed>,
    loader: &Loader,
    maps: &MapRegistry,
    quota: MapQuota,
    tx: &UnboundedSender<Loaded>,
) {
    for plugin in followed {
        let (loader, maps, tx) = (loader.clone(), maps.clone(), tx.clone());
        tokio::spawn(plugin.run(loader, maps, quota, tx));
    }
}

impl Followed {
    async fn run(mut self, loader: Loader, maps: MapRegistry, quota: MapQuota, tx: UnboundedSender<Loaded>) {
        let name = self.spec.name.clone();
        let whole = self.reference.whole();
        // Said once while the registry stays away, and once when it is back.
        let mut away = false;
        loop {
            tokio::time::sleep(self.refresh).await;
            if tx.is_closed() {
                return;
            }
            let looked_up = match Registry::new(&self.reference, self.settings.as_ref()) {
                Ok(registry) => registry.digest_of(&self.reference).await.map(|d| (registry, d)),
                Err(e) => Err(e),
            };
            let (registry, digest) = match looked_up {
                Ok(found) => found,
                Err(e) => {
                    if !away {
                        tracing::warn!(
                            "plugin `{name}`: {e}; the running version ({}) stays, and {whole} is looked up again every {}",
                            self.digest,
                            humantime::format_duration(self.refresh)
                        );
                        away = true;
                    }
                    continue;
                }
            };
            if away {
                tracing::info!("plugin `{name}`: {whole} can be looked up again");
                away = false;
            }
            if digest == self.digest {
                continue;
            }
            tracing::info!("plugin `{name}`: {whole} moved to {digest}; pulling it");
            // By the digest looked up, so that what is checked is what was seen, however the tag moves meanwhile.
            let pinned = Reference::with_digest(
                self.reference.registry().to_string(),
                self.reference.repository().to_string(),
                digest.clone(),
            );
            let cached = match registry.pull(&pinned, self.key.as_ref()).await {
                Ok(pulled) => self.store.put(&whole, &pulled).map_err(anyhow::Error::new),
                // What fails its checks is refused until the tag moves again.
                Err(e @ (OciError::Artifact { .. } | OciError::Signature { .. })) => Err(e.into()),
                // Anything else (unreachable, refused credentials, not found yet on a
                // replica) is tried again at the next refresh.
                Err(e) => {
                    tracing::warn!("plugin `{name}`: {e}; the running version stays");
                    continue;
                }
            };
            // Fetched: run, or refused until the tag moves again.
            self.digest = digest.clone();
            let cached = match cached {
                Ok(cached) => cached,
                Err(e) => {
                    tracing::error!(
                        "plugin `{name}`: {digest} of {whole} is not run: {e:#}; the running version stays"
                    );
                    continue;
                }
            };
            let mut spec = self.spec.clone();
            spec.path = self.store.component_path(&cached.layer_digest);
            let result = loader.load(&spec, maps.for_plugin(&name, quota)).await;
            if tx.send((spec, result)).is_err() {
                return;
            }
        }
    }
}
