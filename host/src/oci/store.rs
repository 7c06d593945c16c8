//! Pulled plugins on disk, so that a node whose registry is down still
//! starts them: each component under its layer digest, and for each
//! reference the digests it named at its last pull (and the signature that
//! verified then). The folder is wasmtrace's alone, checked as plugin
//! folders are; a component is used only if its bytes still match its
//! digest, and a signature is verified again on every use.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::signature::{SignatureError, SigningKey};
use super::{Pulled, is_sha256, sha256};
use crate::trust;

/// A record is a few hundred bytes.
const MAX_RECORD_BYTES: u64 = 1 << 20;

pub struct Store {
    dir: PathBuf,
}

/// What a reference named at its last pull.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cached {
    pub reference: String,
    pub manifest_digest: String,
    pub layer_digest: String,
    /// Seconds since the epoch.
    pub pulled_at: u64,
    /// The payload (base64) and signature that verified at the pull.
    signature: Option<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the plugin cache {}: {why}", dir.display())]
    Folder { dir: PathBuf, why: String },
    #[error("the cached copy of {reference} cannot be used: {why}")]
    Damaged { reference: String, why: String },
    #[error("cannot write to the plugin cache {}: {cause}", path.display())]
    Write { path: PathBuf, cause: std::io::Error },
}

impl Store {
    /// The cache below `cache_dir`, created private (0700) when missing.
    pub fn open(cache_dir: &Path) -> Result<Store, StoreError> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = cache_dir.join("oci");
        let folder = |why: String| StoreError::Folder { dir: dir.clone(), why };
        for sub in ["components", "refs"] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir.join(sub))
                .map_err(|e| folder(e.to_string()))?;
        }
        // What is cached here is run: the folders must be ours alone.
        for checked in [
            cache_dir.to_path_buf(),
            dir.clone(),
            dir.join("components"),
            dir.join("refs"),
        ] {
            trust::check(&checked).map_err(|e| folder(e.to_string()))?;
        }
        Ok(Store { dir })
    }

    fn record_path(&self, reference: &str) -> PathBuf {
        let key = sha256(reference.as_bytes());
        self.dir.join("refs").join(format!("{}.json", &key[7..]))
    }

    /// Where the component of `layer_digest` is kept.
    pub fn component_path(&self, layer_digest: &str) -> PathBuf {
        debug_assert!(is_sha256(layer_digest));
        self.dir
            .join("components")
            .join(format!("{}.wasm", layer_digest.replace(':', "-")))
    }

    /// The last pull of `reference`, if any, with its component checked
    /// against its digest. `Ok(None)`: never pulled on this node.
    pub fn get(&self, reference: &str) -> Result<Option<Cached>, StoreError> {
        let damaged = |why: String| StoreError::Damaged {
            reference: reference.to_string(),
            why,
        };
        let Some(cached) = read_record(&self.record_path(reference)).map_err(damaged)? else {
            return Ok(None);
        };
        if cached.reference != reference {
            return Err(damaged("its record names another artifact".into()));
        }
        let component = self.component_path(&cached.layer_digest);
        let bytes = trust::read_trusted(&component, super::artifact::MAX_COMPONENT_BYTES)
            .map_err(|e| damaged(e.to_string()))?;
        let actual = sha256(&bytes);
        if actual != cached.layer_digest {
            return Err(damaged(format!(
                "{} does not match its digest {} (it is {actual})",
                component.display(),
                cached.layer_digest
            )));
        }
        Ok(Some(cached))
    }

    /// Keeps a pull: its component first, then the record naming it, each
    /// written whole (a temporary file renamed), so that a crash leaves the
    /// previous record usable.
    pub fn put(&self, reference: &str, pulled: &Pulled) -> Result<Cached, StoreError> {
        // One writer at a time (tags followed together, or two wasmtraces on one cache):
        // a component is not removed between another's write of it and of its record.
        let _locked = self.lock()?;
        // Only its digest is needed: the component it names is not read.
        let previous = read_record(&self.record_path(reference)).ok().flatten();
        let component = self.component_path(&pulled.layer_digest);
        write_whole(&component, &pulled.component)?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let cached = Cached {
            reference: reference.to_string(),
            manifest_digest: pulled.manifest_digest.clone(),
            layer_digest: pulled.layer_digest.clone(),
            pulled_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            signature: pulled
                .signature
                .as_ref()
                .map(|(payload, signature)| (b64.encode(payload), signature.clone())),
        };
        write_whole(
            &self.record_path(reference),
            &serde_json::to_vec(&cached).expect("plain data"),
        )?;
        // The component the reference named before, unless another reference still names it.
        if let Some(previous) = previous
            && previous.layer_digest != cached.layer_digest
            && !self.named_by_any(&previous.layer_digest)
        {
            let _ = std::fs::remove_file(self.component_path(&previous.layer_digest));
        }
        Ok(cached)
    }

    /// An exclusive lock on the cache, held until the returned file is dropped.
    fn lock(&self) -> Result<std::fs::File, StoreError> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.dir.join(".lock");
        let failed = |cause| StoreError::Write {
            path: path.clone(),
            cause,
        };
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(failed)?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(failed(std::io::Error::last_os_error()));
        }
        Ok(file)
    }

    fn named_by_any(&self, layer_digest: &str) -> bool {
        let Ok(entries) = std::fs::read_dir(self.dir.join("refs")) else {
            return true;
        };
        // A record that cannot be read may name it: kept.
        entries.flatten().any(|entry| {
            read_record(&entry.path())
                .ok()
                .flatten()
                .is_none_or(|c| c.layer_digest == layer_digest)
        })
    }
}

/// The record at `path`, checked as plugin files are and to hold two sha256
/// digests. `Ok(None)`: there is none.
fn read_record(path: &Path) -> Result<Option<Cached>, String> {
    let bytes = match trust::read_trusted(path, MAX_RECORD_BYTES) {
        Ok(bytes) => bytes,
        Err(trust::TrustError::Missing { .. }) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let cached: Cached = serde_json::from_slice(&bytes).map_err(|e| format!("its record: {e}"))?;
    if !is_sha256(&cached.layer_digest) || !is_sha256(&cached.manifest_digest) {
        return Err("its record names another artifact".into());
    }
    Ok(Some(cached))
}

impl Cached {
    /// Checks the signature kept with this pull against `key`, as at the pull.
    pub fn verify(&self, key: &SigningKey) -> Result<(), SignatureError> {
        let Some((payload, signature)) = &self.signature else {
            return Err(SignatureError::Bad {
                key: key.path.clone(),
                why: "the cached copy was pulled without a signature check".into(),
            });
        };
        let payload = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .map_err(|_| SignatureError::Bad {
                key: key.path.clone(),
                why: "the cached payload is damaged".into(),
            })?;
        let repository = super::parse_reference(&self.reference)
            .map(|r| r.repository().to_string())
            .unwrap_or_default();
        key.verify(&payload, signature, &self.manifest_digest, &repository)
    }
}

/// Writes `bytes` to `path` whole, owner-only, through a temporary file in the same folder.
fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let failed = |cause| StoreError::Write {
        path: path.to_path_buf(),
        cause,
    };
    let dir = path.parent().expect("a file in the cache");
    let mut file = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(dir)
        .map_err(failed)?;
    file.write_all(bytes).map_err(failed)?;
    file.as_file().sync_all().map_err(failed)?;
    file.persist(path).map_err(|e| failed(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn pulled(component: &[u8]) -> Pulled {
        Pulled {
            manifest_digest: sha256(b"manifest"),
            layer_digest: sha256(component),
            component: component.to_vec(),
            signature: None,
            annotations: Vec::new(),
        }
    }

    #[test]
    fn keeps_the_last_pull_and_refuses_a_changed_copy() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let reference = "localhost:5000/p:1";
        assert!(store.get(reference).unwrap().is_none());
        let first = store.put(reference, &pulled(b"version one")).unwrap();
        assert_eq!(store.get(reference).unwrap(), Some(first.clone()));
        let mode = std::fs::metadata(store.component_path(&first.layer_digest))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");

        // A moved tag: the old component goes, the new one is named.
        let second = store.put(reference, &pulled(b"version two")).unwrap();
        assert!(!store.component_path(&first.layer_digest).exists());
        assert_eq!(store.get(reference).unwrap().unwrap().layer_digest, second.layer_digest);

        // Changed on disk (by whoever could): refused, with the reason.
        std::fs::write(store.component_path(&second.layer_digest), b"version evil").unwrap();
        let err = store.get(reference).unwrap_err().to_string();
        assert!(err.contains("does not match its digest"), "{err}");

        // A record pointing elsewhere.
        let other = "localhost:5000/q:1";
        store.put(other, &pulled(b"q")).unwrap();
        std::fs::copy(store.record_path(other), store.record_path(reference)).unwrap();
        assert!(
            store
                .get(reference)
                .unwrap_err()
                .to_string()
                .contains("another artifact")
        );
    }

    #[test]
    fn a_cache_others_may_write_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = Store::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("writable by group or others"), "{err}");
    }

    #[test]
    fn a_cached_signature_is_verified_on_use() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let secret = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        let pem = p256::pkcs8::EncodePublicKey::to_public_key_pem(secret.verifying_key(), Default::default()).unwrap();
        std::fs::write(dir.path().join("k.pub"), pem).unwrap();
        let key = SigningKey::read(&dir.path().join("k.pub")).unwrap();
        let mut p = pulled(b"signed");
        let payload = super::super::signature::payload("localhost:5000/p", &p.manifest_digest);
        let signature: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(&secret, &payload);
        p.signature = Some((
            payload,
            base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes()),
        ));
        let cached = store.put("localhost:5000/p:1", &p).unwrap();
        assert!(cached.verify(&key).is_ok());
        let unsigned = store.put("localhost:5000/p:2", &pulled(b"unsigned")).unwrap();
        assert!(
            unsigned
                .verify(&key)
                .unwrap_err()
                .to_string()
                .contains("without a signature check")
        );
    }
}
