//! One registry, over oci-client: a plugin's manifest, its one layer and its
//! cosign signatures pulled and checked; a component pushed in the CNCF
//! layout.

use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::artifact::{self, ArtifactError};
use super::bounded::BoundedBuffer;
use super::signature::{self, SignatureError, SigningKey};
use super::{OciError, credentials, sha256};

const USER_AGENT: &str = concat!("wasmtrace/", env!("CARGO_PKG_VERSION"));
/// No manifest comes near this.
const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// What is kept of a registry's error answer, for messages.
const MAX_ERROR_BYTES: usize = 512;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// A whole pull or push, however the registry trickles.
const WHOLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Signature layers looked at (cosign adds one per signing).
const MAX_SIGNATURES: usize = 16;

/// A plugin pulled and checked: its component's bytes match the layer
/// digest, which the manifest (whose digest is this) names.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub manifest_digest: String,
    pub layer_digest: String,
    pub component: Vec<u8>,
    /// The signature that verified (payload, base64 signature), if a key was given.
    pub signature: Option<(Vec<u8>, String)>,
    pub annotations: Vec<(String, String)>,
}

pub struct Registry {
    client: Client,
    /// Manifests are fetched with a client of wasmtrace's own, read within
    /// a bound as they arrive (oci-client reads a body whole).
    http: reqwest::Client,
    scheme: &'static str,
    auth: RegistryAuth,
    host: String,
}

impl Registry {
    /// The `[registry."HOST"]` settings for `reference`'s registry, by its
    /// host as written or as oci-client resolves it.
    pub fn settings_for(
        registries: &std::collections::BTreeMap<String, crate::config::Registry>,
        reference: &Reference,
    ) -> Option<crate::config::Registry> {
        registries
            .get(reference.registry())
            .or_else(|| registries.get(reference.resolve_registry()))
            .cloned()
    }

    /// A client for the registry of `reference`, as its `[registry."HOST"]` table says.
    pub fn new(reference: &Reference, settings: Option<&crate::config::Registry>) -> Result<Registry, OciError> {
        // reqwest is built without a default crypto provider: ring, as the rest of wasmtrace.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let host = reference.resolve_registry().to_string();
        let settings = settings.cloned().unwrap_or_default();
        let mut extra_root_certificates = Vec::new();
        let mut http = reqwest::Client::builder()
            // A registry serves manifests itself: a redirect elsewhere is refused, not followed.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(USER_AGENT);
        if let Some(ca) = &settings.ca_file {
            // The CA decides whom wasmtrace trusts: root's alone, as a plugin file is.
            let data = crate::trust::read_trusted(ca, 1 << 20)
                .map_err(|e| OciError::Credentials(format!("ca_file of {host}: {e}")))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&data)
                .map_err(|e| OciError::Credentials(format!("ca_file {} of {host}: {e}", ca.display())))?;
            http = http.tls_certs_merge(certificates);
            extra_root_certificates.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        let http = http
            .build()
            .map_err(|e| OciError::Credentials(format!("registry {host}: {e}")))?;
        let (protocol, scheme) = match settings.plain_http {
            true => (ClientProtocol::Http, "http"),
            false => (ClientProtocol::Https, "https"),
        };
        let config = ClientConfig {
            protocol,
            extra_root_certificates,
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            // A plugin is one component, never an index of platforms.
            platform_resolver: None,
            user_agent: USER_AGENT,
            ..Default::default()
        };
        let client = Client::try_from(config).map_err(|e| OciError::Credentials(format!("registry {host}: {e}")))?;
        let auth = credentials::registry_auth(settings.auth.as_ref(), &host)?;
        Ok(Registry {
            client,
            http,
            scheme,
            auth,
            host,
        })
    }

    /// The manifest of `reference` and its digest (checked against the reference's, if it has one).
    async fn manifest(&self, reference: &Reference) -> Result<(OciImageManifest, String), OciError> {
        let bytes = self.manifest_bytes(reference).await?;
        let fail = |cause| OciError::Artifact {
            reference: reference.whole(),
            cause,
        };
        let actual = sha256(&bytes);
        if let Some(expected) = reference.digest()
            && actual != expected
        {
            return Err(fail(ArtifactError::ManifestMismatch {
                expected: expected.to_string(),
                actual,
            }));
        }
        let manifest: OciImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| fail(ArtifactError::BadManifest(e.to_string())))?;
        Ok((manifest, actual))
    }

    /// A manifest's bytes, read as they arrive and refused past [`MAX_MANIFEST_BYTES`].
    async fn manifest_bytes(&self, reference: &Reference) -> Result<Vec<u8>, OciError> {
        // oci-client answers the registry's challenge (a token, or basic credentials to send).
        let token = self
            .client
            .auth(reference, &self.auth, oci_client::RegistryOperation::Pull)
            .await
            .map_err(|e| self.error(reference, e))?;
        let tag_or_digest = reference.digest().or(reference.tag()).unwrap_or("latest");
        let url = format!(
            "{}://{}/v2/{}/manifests/{tag_or_digest}",
            self.scheme,
            reference.resolve_registry(),
            reference.repository()
        );
        let mut request = self.http.get(url).header(reqwest::header::ACCEPT, OCI_IMAGE_MEDIA_TYPE);
        request = match (token, &self.auth) {
            (Some(token), _) => request.bearer_auth(token),
            (None, RegistryAuth::Basic(user, password)) => request.basic_auth(user, Some(password)),
            (None, _) => request,
        };
        let unreachable = |e: reqwest::Error| self.request_error(reference, &e);
        let mut response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let whole = reference.whole();
        let mut body = Vec::new();
        let max = if status.is_success() {
            MAX_MANIFEST_BYTES
        } else {
            MAX_ERROR_BYTES
        };
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > max {
                if !status.is_success() {
                    // What fits is enough to say what went wrong.
                    body.extend_from_slice(&chunk[..max - body.len()]);
                    break;
                }
                return Err(OciError::Artifact {
                    reference: whole,
                    cause: ArtifactError::BadManifest(format!("it is more than the {max} bytes a manifest may have")),
                });
            }
            body.extend_from_slice(&chunk);
        }
        let cause = || format!("HTTP {status}: {}", bounded_text(&body));
        match status.as_u16() {
            200..=299 => Ok(body),
            401 | 403 => Err(OciError::Unauthorized {
                registry: self.host.clone(),
                reference: whole,
                cause: cause(),
            }),
            404 => Err(OciError::NotFound {
                reference: whole,
                cause: cause(),
            }),
            _ => Err(OciError::Registry {
                reference: whole,
                cause: cause(),
            }),
        }
    }

    fn request_error(&self, reference: &Reference, e: &reqwest::Error) -> OciError {
        let cause = bounded_text(format!("{e:#}").as_bytes());
        match e.is_connect() || e.is_timeout() {
            true => OciError::Unreachable {
                registry: self.host.clone(),
                cause,
            },
            false => OciError::Registry {
                reference: reference.whole(),
                cause,
            },
        }
    }

    /// The digest that `reference` (a tag) names now.
    pub async fn digest_of(&self, reference: &Reference) -> Result<String, OciError> {
        within(reference, self.manifest(reference))
            .await
            .map(|(_, digest)| digest)
    }

    /// Pulls the plugin of `reference`, its layer checked against its
    /// digest, and its signature against `key` when one is given.
    pub async fn pull(&self, reference: &Reference, key: Option<&SigningKey>) -> Result<Pulled, OciError> {
        within(reference, self.pull_unbounded(reference, key)).await
    }

    async fn pull_unbounded(&self, reference: &Reference, key: Option<&SigningKey>) -> Result<Pulled, OciError> {
        let (manifest, manifest_digest) = self.manifest(reference).await?;
        let layer = artifact::component_layer(&manifest).map_err(|cause| OciError::Artifact {
            reference: reference.whole(),
            cause,
        })?;
        // Signed or not is known before the component is fetched.
        let signature = match key {
            Some(key) => Some(self.verified_signature(reference, &manifest_digest, key).await?),
            None => None,
        };
        let component = self.blob(reference, layer).await?;
        artifact::check_component(&component).map_err(|cause| OciError::Artifact {
            reference: reference.whole(),
            cause,
        })?;
        Ok(Pulled {
            manifest_digest,
            layer_digest: layer.digest.clone(),
            component,
            signature,
            annotations: manifest.annotations.unwrap_or_default().into_iter().collect(),
        })
    }

    /// A blob, at most its descriptor's size, checked against its digest.
    async fn blob(&self, reference: &Reference, layer: &OciDescriptor) -> Result<Vec<u8>, OciError> {
        let max = usize::try_from(layer.size.max(0)).unwrap_or(usize::MAX);
        let mut out = BoundedBuffer::new(max);
        self.client
            .pull_blob(reference, layer, &mut out)
            .await
            .map_err(|e| self.error(reference, e))?;
        let actual = sha256(&out.bytes);
        if actual != layer.digest {
            return Err(OciError::Artifact {
                reference: reference.whole(),
                cause: ArtifactError::DigestMismatch {
                    expected: layer.digest.clone(),
                    actual,
                },
            });
        }
        Ok(out.bytes)
    }

    /// The first cosign signature of `digest` that `key` verifies.
    async fn verified_signature(
        &self,
        reference: &Reference,
        digest: &str,
        key: &SigningKey,
    ) -> Result<(Vec<u8>, String), OciError> {
        let tag = signature::signature_tag(digest);
        let signatures = Reference::with_tag(
            reference.registry().to_string(),
            reference.repository().to_string(),
            tag.clone(),
        );
        let failed = |cause| OciError::Signature {
            reference: reference.whole(),
            cause,
        };
        let manifest = match self.manifest(&signatures).await {
            Ok((manifest, _)) => manifest,
            Err(OciError::NotFound { .. }) => {
                return Err(failed(SignatureError::Unsigned {
                    tag: signatures.whole(),
                    key: key.path.clone(),
                }));
            }
            Err(e) => return Err(e),
        };
        let mut last = SignatureError::Unsigned {
            tag: signatures.whole(),
            key: key.path.clone(),
        };
        for layer in manifest
            .layers
            .iter()
            .filter(|l| l.media_type == signature::PAYLOAD_MEDIA_TYPE)
            .take(MAX_SIGNATURES)
        {
            let Some(sig) = layer
                .annotations
                .as_ref()
                .and_then(|a| a.get(signature::SIGNATURE_ANNOTATION))
            else {
                continue;
            };
            if !super::is_sha256(&layer.digest)
                || layer.size as u64 > signature::MAX_PAYLOAD_BYTES
                || artifact::names_urls(layer)
            {
                continue;
            }
            let payload = self.blob(&signatures, layer).await?;
            match key.verify(&payload, sig, digest, reference.repository()) {
                Ok(()) => return Ok((payload, sig.clone())),
                Err(e) => last = e,
            }
        }
        Err(failed(last))
    }

    /// Pushes `component` to `reference` in the CNCF layout; returns the manifest's digest.
    pub async fn push(&self, reference: &Reference, component: Vec<u8>, title: &str) -> Result<String, OciError> {
        let layer_digest = sha256(&component);
        let config_bytes = artifact::config_for(&component, &layer_digest).map_err(|e| OciError::Artifact {
            reference: reference.whole(),
            cause: ArtifactError::BadManifest(format!("the file is not a WebAssembly component: {e}")),
        })?;
        let layer_annotations = std::collections::BTreeMap::from([(
            oci_client::annotations::ORG_OPENCONTAINERS_IMAGE_TITLE.to_string(),
            title.to_string(),
        )]);
        let layers = [oci_client::client::ImageLayer::new(
            component,
            artifact::LAYER_MEDIA_TYPE.to_string(),
            Some(layer_annotations),
        )];
        let config = oci_client::client::Config::new(config_bytes, artifact::CONFIG_MEDIA_TYPE.to_string(), None);
        let mut manifest = OciImageManifest::build(&layers, &config, Some(artifact::annotations(title)));
        manifest.media_type = Some(OCI_IMAGE_MEDIA_TYPE.to_string());
        // The manifest's bytes are made here, so the digest said (and signed) is of what was sent,
        // not what the registry answers afterwards.
        let manifest_bytes = serde_json::to_vec(&manifest).expect("plain data");
        let digest = sha256(&manifest_bytes);
        let push = async {
            let failed = |e| self.error(reference, e);
            // Credentials are checked first, so that a refusal is said as one.
            self.client
                .auth(reference, &self.auth, oci_client::RegistryOperation::Push)
                .await
                .map_err(failed)?;
            for (blob, digest) in [
                (layers[0].data.clone(), &manifest.layers[0].digest),
                (config.data.clone(), &manifest.config.digest),
            ] {
                self.client.push_blob(reference, blob, digest).await.map_err(failed)?;
            }
            self.client
                .push_manifest_raw(
                    reference,
                    manifest_bytes,
                    reqwest::header::HeaderValue::from_static(OCI_IMAGE_MEDIA_TYPE),
                )
                .await
                .map_err(failed)?;
            Ok(digest)
        };
        within(reference, push).await
    }

    /// An oci-client error, said as what it means for the user.
    fn error(&self, reference: &Reference, e: OciDistributionError) -> OciError {
        let (registry, whole) = (self.host.clone(), reference.whole());
        let cause = bounded_text(e.to_string().as_bytes());
        match &e {
            OciDistributionError::RequestError(r) if r.is_connect() || r.is_timeout() => {
                OciError::Unreachable { registry, cause }
            }
            OciDistributionError::RequestError(r) if r.status().is_some_and(|s| s == 404) => OciError::NotFound {
                reference: whole,
                cause,
            },
            OciDistributionError::RequestError(r) if r.status().is_some_and(|s| s == 401 || s == 403) => {
                OciError::Unauthorized {
                    registry,
                    reference: whole,
                    cause,
                }
            }
            OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => {
                OciError::Unauthorized {
                    registry,
                    reference: whole,
                    cause,
                }
            }
            OciDistributionError::ServerError { code: 401 | 403, .. } => OciError::Unauthorized {
                registry,
                reference: whole,
                cause,
            },
            OciDistributionError::ServerError { code: 404, .. }
            | OciDistributionError::ImageManifestNotFoundError(_) => OciError::NotFound {
                reference: whole,
                cause,
            },
            OciDistributionError::RegistryError { envelope, .. }
                if envelope.errors.iter().any(|e| {
                    matches!(
                        e.code,
                        OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::BlobUnknown
                    )
                }) =>
            {
                OciError::NotFound {
                    reference: whole,
                    cause,
                }
            }
            OciDistributionError::RegistryError { envelope, .. }
                if envelope
                    .errors
                    .iter()
                    .any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)) =>
            {
                OciError::Unauthorized {
                    registry,
                    reference: whole,
                    cause,
                }
            }
            OciDistributionError::DigestError(DigestError::VerificationError { expected, actual }) => {
                OciError::Artifact {
                    reference: whole,
                    cause: ArtifactError::DigestMismatch {
                        expected: expected.clone(),
                        actual: actual.clone(),
                    },
                }
            }
            _ => OciError::Registry {
                reference: whole,
                cause,
            },
        }
    }
}

/// At most [`MAX_ERROR_BYTES`] of what a registry said, made safe to show.
fn bounded_text(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(MAX_ERROR_BYTES)];
    let text = String::from_utf8_lossy(cut);
    let more = if bytes.len() > cut.len() { "…" } else { "" };
    format!("{}{more}", crate::escape::terminal(text.trim()))
}

/// `work`, given up on after [`WHOLE_TIMEOUT`].
async fn within<T>(
    reference: &Reference,
    work: impl std::future::Future<Output = Result<T, OciError>>,
) -> Result<T, OciError> {
    tokio::time::timeout(WHOLE_TIMEOUT, work).await.unwrap_or_else(|_| {
        Err(OciError::Unreachable {
            registry: reference.resolve_registry().to_string(),
            cause: format!("no answer within {}s", WHOLE_TIMEOUT.as_secs()),
        })
    })
}
