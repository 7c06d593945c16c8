//! cosign's keyed signatures ("classic" format, as `cosign sign --key`
//! writes them in cosign 2, and cosign 3 with `--new-bundle-format=false`):
//! an image in the same repository, tagged `sha256-<hex>.sig`, whose layers
//! are simple-signing payloads naming the signed manifest's digest, each
//! with an ECDSA P-256 signature over its bytes in an annotation. The
//! payload is checked as cosign checks it: signature first, then its type
//! and the digest it names. Keyless signatures (Fulcio certificates, Rekor)
//! are not checked: a node would have to reach Sigstore's services.

use std::path::Path;

use base64::Engine as _;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;

pub const PAYLOAD_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
const PAYLOAD_TYPE: &str = "cosign container image signature";
/// A payload is a few hundred bytes; more is not one.
pub const MAX_PAYLOAD_BYTES: u64 = 64 << 10;
const MAX_KEY_BYTES: u64 = 64 << 10;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error(
        "it is not signed: no cosign signature at {tag} (sign it with `cosign sign --key cosign.key \
         REGISTRY/REPOSITORY@DIGEST`), and plugin key {key} asks for one"
    )]
    Unsigned { tag: String, key: String },
    #[error("its signature does not verify with {key}: {why}; it is not run")]
    Bad { key: String, why: String },
    #[error(
        "the public key {path} cannot be used: {why} (give cosign's public key, a PEM `PUBLIC KEY` for ECDSA P-256)"
    )]
    Key { path: String, why: String },
}

/// A public key that signatures must verify with.
#[derive(Clone)]
pub struct SigningKey {
    key: VerifyingKey,
    /// How it was given, for messages.
    pub path: String,
}

impl SigningKey {
    pub fn read(path: &Path) -> Result<SigningKey, SignatureError> {
        let fail = |why: String| SignatureError::Key {
            path: path.display().to_string(),
            why,
        };
        // The key decides which code runs: root's alone, as a plugin file is.
        let bytes = crate::trust::read_trusted(path, MAX_KEY_BYTES).map_err(|e| fail(e.to_string()))?;
        let pem = std::str::from_utf8(&bytes).map_err(|_| fail("it is not text".into()))?;
        let key = VerifyingKey::from_public_key_pem(pem).map_err(|e| fail(e.to_string()))?;
        Ok(SigningKey {
            key,
            path: path.display().to_string(),
        })
    }

    /// Checks one signature layer: `signature` (base64 of ASN.1 DER) over
    /// `payload`, which must name `digest` of `repository` (on any registry,
    /// so that a mirror's copy verifies, but not another repository's
    /// artifact signed by the same key).
    pub fn verify(
        &self,
        payload: &[u8],
        signature: &str,
        digest: &str,
        repository: &str,
    ) -> Result<(), SignatureError> {
        let bad = |why: String| SignatureError::Bad {
            key: self.path.clone(),
            why,
        };
        let der = base64::engine::general_purpose::STANDARD
            .decode(signature.trim())
            .map_err(|_| bad("the signature annotation is not base64".into()))?;
        let signature = Signature::from_der(&der).map_err(|_| bad("the signature is not an ECDSA signature".into()))?;
        self.key
            .verify(payload, &signature)
            .map_err(|_| bad("the signature was made with another key, or the payload was changed".into()))?;
        let json: serde_json::Value =
            serde_json::from_slice(payload).map_err(|_| bad("the signed payload is not JSON".into()))?;
        let critical = &json["critical"];
        if critical["type"] != PAYLOAD_TYPE {
            return Err(bad(format!("the signed payload's type is not \"{PAYLOAD_TYPE}\"")));
        }
        let signed = critical["image"]["docker-manifest-digest"].as_str().unwrap_or_default();
        if signed != digest {
            return Err(bad(format!(
                "the signature is for {}, not for this artifact ({digest})",
                crate::escape::terminal(signed)
            )));
        }
        let identity = critical["identity"]["docker-reference"].as_str().unwrap_or_default();
        if repository_of(identity) != repository {
            return Err(bad(format!(
                "the signature is for the repository {}, not {repository}",
                crate::escape::terminal(identity)
            )));
        }
        Ok(())
    }
}

/// The repository of a docker reference, without its registry host.
fn repository_of(reference: &str) -> &str {
    match reference.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => rest,
        _ => reference,
    }
}

/// The tag cosign keeps the signatures of `digest` under.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

/// The payload cosign signs for `digest` of `repository`.
#[cfg(test)]
pub fn payload(repository: &str, digest: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": digest},
            "type": PAYLOAD_TYPE,
        },
        "optional": null,
    }))
    .expect("plain data")
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::{EncodePublicKey, LineEnding};

    fn key_pair(dir: &Path, name: &str) -> (p256::ecdsa::SigningKey, SigningKey) {
        let secret = p256::ecdsa::SigningKey::from_slice(&[name.len() as u8 + 1; 32]).unwrap();
        let pem = secret.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        (secret, SigningKey::read(&path).unwrap())
    }

    fn sign(secret: &p256::ecdsa::SigningKey, payload: &[u8]) -> String {
        let signature: Signature = secret.sign(payload);
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }

    #[test]
    fn verifies_cosign_payloads_for_the_right_digest_and_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let (secret, key) = key_pair(dir.path(), "team.pub");
        let (_, other) = key_pair(dir.path(), "other-team.pub");
        let digest = crate::oci::sha256(b"manifest");
        let payload = payload("localhost:5000/p", &digest);
        let signature = sign(&secret, &payload);
        assert_eq!(key.verify(&payload, &signature, &digest, "p"), Ok(()));
        let why = |r: Result<(), SignatureError>| match r {
            Err(SignatureError::Bad { why, .. }) => why,
            other => panic!("{other:?}"),
        };
        assert!(why(other.verify(&payload, &signature, &digest, "p")).contains("another key"));
        // The same artifact signed for another repository (another plugin, same key).
        assert!(why(key.verify(&payload, &signature, &digest, "q")).contains("the repository localhost:5000/p, not q"));
        // A good signature of another artifact's digest.
        let elsewhere = crate::oci::sha256(b"other manifest");
        assert!(why(key.verify(&payload, &signature, &elsewhere, "p")).contains("not for this artifact"));
        // One changed byte of the payload.
        let mut changed = payload.clone();
        changed[10] ^= 1;
        assert!(why(key.verify(&changed, &signature, &digest, "p")).contains("payload was changed"));
        assert!(why(key.verify(&payload, "%%", &digest, "p")).contains("not base64"));
        let wrong_type = br#"{"critical":{"type":"x","image":{"docker-manifest-digest":"d"}}}"#;
        assert!(why(key.verify(wrong_type, &sign(&secret, wrong_type), "d", "p")).contains("type"));
        assert_eq!(signature_tag(&digest), format!("sha256-{}.sig", &digest[7..]));
    }

    #[test]
    fn refuses_what_is_not_a_p256_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pub");
        std::fs::write(&path, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").unwrap();
        assert!(matches!(SigningKey::read(&path), Err(SignatureError::Key { .. })));
        let err = SigningKey::read(&dir.path().join("missing.pub")).err().unwrap();
        assert!(err.to_string().contains("missing.pub"), "{err}");
    }
}
