//! Plugins as OCI artifacts: the CNCF WebAssembly layout (a
//! `application/vnd.wasm.config.v0+json` config and one `application/wasm`
//! layer, as `wkg oci push` writes), pulled and pushed over the distribution
//! API with oci-client, checked against their digests, signed with cosign's
//! keyed format, and kept in a trusted cache for when the registry is down.

mod artifact;
mod bounded;
mod credentials;
pub mod inspect;
mod registry;
mod signature;
mod store;

pub use artifact::{ArtifactError, CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, check_component, imports_of};
pub use registry::{Pulled, Registry};
pub use signature::{SignatureError, SigningKey};
pub use store::{Cached, Store};

use oci_client::Reference;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error(
        "`{0}` is not an image reference: write REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST, \
         e.g. \"ghcr.io/acme/opensnoop:1.2\""
    )]
    BadReference(String),
    #[error(
        "`{0}` names no registry: write its host first (e.g. \"registry.example.com/{0}\", \"localhost:5000/{0}\"), \
         since wasmtrace does not guess one"
    )]
    NoRegistry(String),
    #[error(
        "cannot reach the registry {registry}: {cause} (is it up, and is it HTTPS or plain HTTP? see [registry.\"{registry}\"] in docs/config.md)"
    )]
    Unreachable { registry: String, cause: String },
    #[error(
        "the registry {registry} refused {reference}: {cause} (give credentials in [registry.\"{registry}\"]: \
         username with password_file or password_env, bearer_token_file or bearer_token_env, or auth_file)"
    )]
    Unauthorized {
        registry: String,
        reference: String,
        cause: String,
    },
    #[error("{reference} is not in its registry: {cause}")]
    NotFound { reference: String, cause: String },
    #[error("{reference}: {cause}")]
    Artifact { reference: String, cause: ArtifactError },
    #[error("{reference}: {cause}")]
    Signature { reference: String, cause: SignatureError },
    #[error("{reference}: the registry answered: {cause}")]
    Registry { reference: String, cause: String },
    #[error("{0}")]
    Credentials(String),
}

/// Parses an image reference, refusing one without a registry host (which
/// oci-client would take to be Docker Hub's).
pub fn parse_reference(text: &str) -> Result<Reference, OciError> {
    let first = text.split('/').next().unwrap_or_default();
    if !text.contains('/') || !(first.contains('.') || first.contains(':') || first == "localhost") {
        return Err(OciError::NoRegistry(text.to_string()));
    }
    let reference: Reference = text.parse().map_err(|_| OciError::BadReference(text.to_string()))?;
    if reference.digest().is_some_and(|d| !is_sha256(d)) {
        return Err(OciError::BadReference(text.to_string()));
    }
    Ok(reference)
}

/// `sha256:` and 64 lowercase hex digits: the only digests that name files in the cache.
pub fn is_sha256(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// The SHA-256 digest of `bytes`, as OCI writes it.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_their_registry_and_digests_are_sha256() {
        let r = parse_reference("localhost:5000/wasmtrace/opensnoop:1.0").unwrap();
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.repository(), "wasmtrace/opensnoop");
        assert_eq!(r.tag(), Some("1.0"));
        let pinned = format!("ghcr.io/acme/p@sha256:{}", "a".repeat(64));
        assert!(parse_reference(&pinned).unwrap().digest().is_some());
        for text in ["opensnoop:1.0", "acme/opensnoop:1", ""] {
            assert!(matches!(parse_reference(text), Err(OciError::NoRegistry(_))), "{text}");
        }
        for text in [
            "ghcr.io/acme/p@sha512:abcd",
            "ghcr.io/acme/p@sha256:ABCD",
            "ghcr.io/Acme/P:1",
            "ghcr.io/acme/p:bad tag",
        ] {
            assert!(
                matches!(parse_reference(text), Err(OciError::BadReference(_))),
                "{text}"
            );
        }
        assert_eq!(
            sha256(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(is_sha256(&sha256(b"x")));
    }
}
