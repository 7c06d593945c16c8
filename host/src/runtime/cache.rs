//! Compiled components, cached on disk by content hash, so that a restart
//! does not compile again (seconds for a Python or JavaScript plugin). The
//! least recently used are removed past `KEEP`, so that a deploy pipeline
//! pushing new builds for months does not fill the disk.
//!
//! A cached artefact is native code that runs as wasmtrace: it is loaded
//! only from a folder and a file that are ours (or root's) alone, checked on
//! the descriptor it is read from, and only if it ends with the SHA-256 of
//! its bytes, so that a damaged or cut file is compiled again rather than run.

use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::safe_file::{self, Access};
use crate::trust::{self, TrustError};

/// Compiled components kept (each 0.1 to 20 MB).
const KEEP: usize = 64;
/// No compiled component comes near this; a larger file is not one of ours.
const MAX_ARTEFACT_BYTES: u64 = 1 << 30;
/// The SHA-256 that ends each artefact file.
const DIGEST_BYTES: usize = 32;
/// In the names of artefacts that end with their SHA-256, so that those of
/// earlier versions, without it, are not taken for damaged ones.
const FORMAT: &str = "sha256";

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
        self.dir.join(format!("{hex}-{}-{FORMAT}.cwasm", self.engine_key))
    }

    /// The component for `bytes`, from the cache or compiled (and then cached).
    pub fn component(cache: Option<&Cache>, engine: &Engine, bytes: &[u8]) -> wasmtime::Result<(Component, Source)> {
        let Some(cache) = cache else {
            return Ok((Component::new(engine, bytes)?, Source::Compiled));
        };
        let path = cache.path_for(bytes);
        if path.symlink_metadata().is_ok() {
            match load(engine, &path) {
                Ok(component) => return Ok((component, Source::Cached)),
                Err(e) => tracing::warn!(
                    "ignoring the cached {}: {e}; compiling the plugin again",
                    path.display()
                ),
            }
        }
        let component = Component::new(engine, bytes)?;
        match component.serialize() {
            Ok(artefact) => {
                if let Err(e) = store(&path, &artefact) {
                    tracing::warn!("cannot cache {}: {e}", path.display());
                }
                evict(&cache.dir, KEEP);
            }
            Err(e) => tracing::warn!("cannot serialize a compiled plugin: {e}"),
        }
        Ok((component, Source::Compiled))
    }
}

/// Why a cached artefact is not used.
#[derive(Debug, thiserror::Error)]
enum Unusable {
    #[error(transparent)]
    Untrusted(#[from] TrustError),
    #[error("cannot read it: {0}")]
    Read(#[from] std::io::Error),
    #[error("its bytes are not those wasmtrace wrote (their SHA-256 differs): it was damaged or changed")]
    Changed,
    #[error("{0}")]
    Deserialize(wasmtime::Error),
}

/// The component cached at `path`, if its folder and file are ours alone and
/// its bytes are those that `store` wrote.
fn load(engine: &Engine, path: &Path) -> Result<Component, Unusable> {
    let mut file = trust::open_trusted(path, MAX_ARTEFACT_BYTES)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let Some(end) = bytes.len().checked_sub(DIGEST_BYTES) else {
        return Err(Unusable::Changed);
    };
    let (artefact, digest) = bytes.split_at(end);
    if Sha256::digest(artefact).as_slice() != digest {
        return Err(Unusable::Changed);
    }
    // SAFETY: these are the bytes that `Component::serialize` gave `store`
    // with this engine's settings (the name carries their hash), read from a
    // file that only we or root can change, in a folder that only we or root
    // can write.
    let component = unsafe { Component::deserialize(engine, artefact) }.map_err(Unusable::Deserialize)?;
    // Used now: the last to be evicted.
    let _ = file.set_modified(SystemTime::now());
    Ok(component)
}

/// Writes an artefact followed by its SHA-256: into a new file of ours
/// (never through a link) beside it, then renamed into place, so that a
/// reader finds the whole file or none.
fn store(path: &Path, artefact: &[u8]) -> std::io::Result<()> {
    let tmp = tmp_for(path);
    let mut file = safe_file::open(&tmp, Access::CreateNew, 0o600)?;
    let written = file
        .write_all(artefact)
        .and_then(|()| file.write_all(&Sha256::digest(artefact)));
    drop(file);
    let stored = written.and_then(|()| std::fs::rename(&tmp, path));
    if stored.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    stored
}

/// Where `store` writes before renaming: a name of this process's.
fn tmp_for(path: &Path) -> PathBuf {
    path.with_extension(format!("{}.tmp", std::process::id()))
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
    use crate::safe_file::test_support::Victim;
    use std::time::Duration;

    /// The smallest component: its preamble alone.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

    fn source(cache: &Cache, engine: &Engine) -> Source {
        Cache::component(Some(cache), engine, EMPTY_COMPONENT).unwrap().1
    }

    #[test]
    fn a_changed_artefact_is_compiled_again_and_never_deserialized() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = Cache::open(&dir.path().join("cache"), &engine).unwrap();
        assert_eq!(source(&cache, &engine), Source::Compiled);
        assert_eq!(source(&cache, &engine), Source::Cached);

        let path = cache.path_for(EMPTY_COMPONENT);
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        // Refused on its digest, before `Component::deserialize` sees it.
        assert!(matches!(load(&engine, &path), Err(Unusable::Changed)));
        assert_eq!(source(&cache, &engine), Source::Compiled, "compiled again");
        assert_eq!(source(&cache, &engine), Source::Cached, "and cached again");

        // Cut short: the same.
        std::fs::write(&path, &bytes[..10]).unwrap();
        assert!(matches!(load(&engine, &path), Err(Unusable::Changed)));
    }

    #[test]
    fn links_planted_at_an_artefact_or_its_temporary_file_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = Victim::new(dir.path());
        let engine = Engine::default();
        let cache = Cache::open(&dir.path().join("cache"), &engine).unwrap();
        let path = cache.path_for(EMPTY_COMPONENT);

        // At the temporary file's name: nothing is written, nor cached.
        let tmp = tmp_for(&path);
        std::os::unix::fs::symlink(&victim.path, &tmp).unwrap();
        let err = store(&path, b"artefact").unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("{} is a symbolic link: ", tmp.display())),
            "{err}"
        );
        assert_eq!(source(&cache, &engine), Source::Compiled);
        victim.assert_untouched();
        assert!(path.symlink_metadata().is_err(), "nothing cached");
        std::fs::remove_file(&tmp).unwrap();

        // At the artefact's name: not loaded, and replaced by a new artefact.
        std::os::unix::fs::symlink(&victim.path, &path).unwrap();
        let Err(err) = load(&engine, &path) else {
            panic!("loaded {} through a link", path.display());
        };
        assert!(
            matches!(&err, Unusable::Untrusted(TrustError::Link { path: p }) if *p == path),
            "{err}"
        );
        assert_eq!(source(&cache, &engine), Source::Compiled);
        victim.assert_untouched();
        assert!(path.symlink_metadata().unwrap().is_file(), "the link was replaced");
        assert_eq!(source(&cache, &engine), Source::Cached);
    }

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
