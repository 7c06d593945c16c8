//! Compiled components, cached on disk by content hash, so that a restart
//! does not compile again (seconds for a Python or JavaScript plugin). The
//! least recently used are removed past `KEEP`, so that a deploy pipeline
//! pushing new builds for months does not fill the disk.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::trust;

/// Compiled components kept (each 0.1 to 20 MB).
const KEEP: usize = 64;

pub struct Cache {
    dir: PathBuf,
    /// Changes with the wasmtime version and engine settings.
    engine_key: String,
}

/// How a component was obtained, for the start-up message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Compiled,
    Cached,
}

impl Cache {
    /// A cache in `dir`, created private (0700) when missing. `None` when the
    /// folder cannot be made or is not trusted: then every start compiles.
    pub fn open(dir: &Path, engine: &Engine) -> Option<Cache> {
        use std::os::unix::fs::DirBuilderExt;
        if let Err(e) = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
            tracing::warn!("not caching compiled plugins: cannot create {}: {e}", dir.display());
            return None;
        }
        // Loading a cached artefact runs it as native code: the folder must be ours alone.
        if let Err(e) = trust::check(dir) {
            tracing::warn!("not caching compiled plugins: {e}");
            return None;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Some(Cache {
            dir: dir.to_path_buf(),
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    fn path_for(&self, bytes: &[u8]) -> PathBuf {
        let digest = Sha256::digest(bytes);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}-{}.cwasm", self.engine_key))
    }

    /// The component for `bytes`, from the cache or compiled (and then cached).
    pub fn component(cache: Option<&Cache>, engine: &Engine, bytes: &[u8]) -> wasmtime::Result<(Component, Source)> {
        let Some(cache) = cache else {
            return Ok((Component::new(engine, bytes)?, Source::Compiled));
        };
        let path = cache.path_for(bytes);
        if path.exists() {
            // SAFETY: the file was written by `Component::serialize` with this
            // engine's settings (the name carries their hash) into a folder
            // only we can write.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => {
                    // Used now: the last to be evicted.
                    let _ = std::fs::File::options()
                        .write(true)
                        .open(&path)
                        .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                    return Ok((component, Source::Cached));
                }
                Err(e) => tracing::warn!("ignoring cached {}: {e}", path.display()),
            }
        }
        let component = Component::new(engine, bytes)?;
        match component.serialize() {
            Ok(artefact) => {
                let tmp = path.with_extension("tmp");
                if let Err(e) = std::fs::write(&tmp, artefact).and_then(|()| std::fs::rename(&tmp, &path)) {
                    tracing::warn!("cannot cache {}: {e}", path.display());
                }
                evict(&cache.dir, KEEP);
            }
            Err(e) => tracing::warn!("cannot serialize a compiled plugin: {e}"),
        }
        Ok((component, Source::Compiled))
    }
}

/// Removes the least recently used compiled components past `keep`.
fn evict(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut artefacts: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    if artefacts.len() <= keep {
        return;
    }
    artefacts.sort();
    for (_, path) in &artefacts[..artefacts.len() - keep] {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!("cannot remove the old compiled plugin {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn the_least_recently_used_go_past_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let start = SystemTime::now() - Duration::from_secs(3600);
        for n in 0..5u64 {
            let path = dir.path().join(format!("{n}.cwasm"));
            std::fs::write(&path, b"x").unwrap();
            let f = std::fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(start + Duration::from_secs(n * 60)).unwrap();
        }
        std::fs::write(dir.path().join("other.toml"), b"kept").unwrap();
        evict(dir.path(), 3);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["2.cwasm", "3.cwasm", "4.cwasm", "other.toml"]);
    }
}
