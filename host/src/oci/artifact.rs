//! The CNCF WebAssembly OCI layout: what a pushed plugin looks like, and
//! what a pulled manifest must be for its one layer to be run.

use std::collections::BTreeMap;

use oci_client::manifest::{OciDescriptor, OciImageManifest};
use serde::Serialize;

use super::is_sha256;

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
/// The layer type of the older wasm-to-oci layout, still read.
const OLD_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// No plugin comes near this (the Python example is 18 MB); the runtime reads no more.
pub const MAX_COMPONENT_BYTES: u64 = 256 << 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArtifactError {
    #[error(
        "it is not a WebAssembly plugin: its layers are [{found}], where one `application/wasm` layer was \
         expected (push a component with `wasmtrace plugin push`, `wkg oci push` or `oras push FILE:application/wasm`)"
    )]
    NotWasm { found: String },
    #[error("its WebAssembly layer claims {size} bytes, more than the {max} a plugin may have", max = MAX_COMPONENT_BYTES)]
    TooLarge { size: i64 },
    #[error("its layer digest `{0}` is not a sha256 digest")]
    BadDigest(String),
    #[error(
        "its layer names URLs to fetch it from elsewhere; wasmtrace fetches plugins from the registry \
         only (a registry could point nodes at internal addresses)"
    )]
    ExternalUrls,
    #[error("its layer is not a WebAssembly component (its first bytes are not a component's preamble)")]
    NotComponent,
    #[error("its manifest is not an OCI image manifest: {0}")]
    BadManifest(String),
    #[error(
        "its layer does not match its digest: expected {expected}, got {actual} (the registry's copy was changed \
         or damaged; nothing of it is run)"
    )]
    DigestMismatch { expected: String, actual: String },
    #[error("its manifest does not match its digest: expected {expected}, got {actual}")]
    ManifestMismatch { expected: String, actual: String },
}

/// The config blob as `wkg oci push` writes it (the component's own
/// imports and exports, for registries and tools that show them).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WasmConfig<'a> {
    created: String,
    author: Option<&'a str>,
    architecture: &'a str,
    os: &'a str,
    layer_digests: Vec<String>,
    component: ComponentInfo,
}

#[derive(Serialize)]
struct ComponentInfo {
    exports: Vec<String>,
    imports: Vec<String>,
    target: Option<String>,
}

/// The config blob for `component`, whose layer has `layer_digest`.
pub fn config_for(component: &[u8], layer_digest: &str) -> Result<Vec<u8>, wasmparser::BinaryReaderError> {
    let (imports, exports) = interface_names(component)?;
    let config = WasmConfig {
        created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        author: None,
        architecture: "wasm",
        os: "wasip2",
        layer_digests: vec![layer_digest.to_string()],
        component: ComponentInfo {
            exports,
            imports,
            target: None,
        },
    };
    Ok(serde_json::to_vec(&config).expect("the config is plain data"))
}

/// The names a component imports at its top level (`wasi:filesystem/types@0.2.6`, ...).
pub fn imports_of(component: &[u8]) -> Result<Vec<String>, wasmparser::BinaryReaderError> {
    interface_names(component).map(|(imports, _)| imports)
}

/// The top-level component's import and export names, without compiling it.
fn interface_names(component: &[u8]) -> Result<(Vec<String>, Vec<String>), wasmparser::BinaryReaderError> {
    use wasmparser::Payload;
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    // Nested modules and components each start with a version and end with an end.
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match payload? {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    imports.push(import?.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    exports.push(export?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok((imports, exports))
}

/// The one WebAssembly layer of a pulled manifest, checked to be within bounds.
pub fn component_layer(manifest: &OciImageManifest) -> Result<&OciDescriptor, ArtifactError> {
    let wasm: Vec<&OciDescriptor> = manifest
        .layers
        .iter()
        .filter(|l| l.media_type == LAYER_MEDIA_TYPE || l.media_type == OLD_LAYER_MEDIA_TYPE)
        .collect();
    let [layer] = wasm[..] else {
        return Err(ArtifactError::NotWasm {
            found: manifest
                .layers
                .iter()
                .map(|l| crate::escape::terminal(&l.media_type).into_owned())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    if !is_sha256(&layer.digest) {
        return Err(ArtifactError::BadDigest(
            crate::escape::terminal(&layer.digest).into_owned(),
        ));
    }
    if layer.size <= 0 || layer.size as u64 > MAX_COMPONENT_BYTES {
        return Err(ArtifactError::TooLarge { size: layer.size });
    }
    if names_urls(layer) {
        return Err(ArtifactError::ExternalUrls);
    }
    Ok(layer)
}

/// Whether a descriptor names URLs that oci-client would fetch it from
/// when the registry does not serve it.
pub fn names_urls(layer: &OciDescriptor) -> bool {
    layer.urls.as_ref().is_some_and(|urls| !urls.is_empty())
}

/// Refuses what is not a component (a core module, or anything else) before it is kept.
pub fn check_component(bytes: &[u8]) -> Result<(), ArtifactError> {
    match bytes.starts_with(b"\0asm\x0d\0\x01\0") {
        true => Ok(()),
        false => Err(ArtifactError::NotComponent),
    }
}

/// Manifest annotations for a push: the title (the file's name) and creation time.
pub fn annotations(title: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            oci_client::annotations::ORG_OPENCONTAINERS_IMAGE_TITLE.to_string(),
            title.to_string(),
        ),
        (
            oci_client::annotations::ORG_OPENCONTAINERS_IMAGE_CREATED.to_string(),
            humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(layers: &[(&str, &str, i64)]) -> OciImageManifest {
        let mut m: OciImageManifest = serde_json::from_value(serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": super::super::sha256(b"{}"), "size": 2},
            "layers": []
        }))
        .unwrap();
        for (media_type, digest, size) in layers {
            m.layers.push(OciDescriptor {
                media_type: media_type.to_string(),
                digest: digest.to_string(),
                size: *size,
                ..Default::default()
            });
        }
        m
    }

    #[test]
    fn exactly_one_bounded_wasm_layer_with_a_sha256_digest() {
        let good = super::super::sha256(b"component");
        let m = manifest(&[(LAYER_MEDIA_TYPE, &good, 9)]);
        assert_eq!(component_layer(&m).unwrap().digest, good);
        let m = manifest(&[("application/vnd.oci.image.layer.v1.tar", &good, 9)]);
        let err = component_layer(&m).unwrap_err();
        assert!(err.to_string().contains("vnd.oci.image.layer.v1.tar"), "{err}");
        let m = manifest(&[(LAYER_MEDIA_TYPE, &good, 9), (LAYER_MEDIA_TYPE, &good, 9)]);
        assert!(matches!(component_layer(&m), Err(ArtifactError::NotWasm { .. })));
        let m = manifest(&[(LAYER_MEDIA_TYPE, "sha256:../../etc/passwd", 9)]);
        assert!(matches!(component_layer(&m), Err(ArtifactError::BadDigest(_))));
        for size in [0, -1, (MAX_COMPONENT_BYTES + 1) as i64] {
            let m = manifest(&[(LAYER_MEDIA_TYPE, &good, size)]);
            assert_eq!(component_layer(&m).err(), Some(ArtifactError::TooLarge { size }));
        }
        let mut m = manifest(&[(LAYER_MEDIA_TYPE, &good, 9)]);
        m.layers[0].urls = Some(vec!["http://169.254.169.254/latest/meta-data".into()]);
        assert_eq!(component_layer(&m).err(), Some(ArtifactError::ExternalUrls));
        assert_eq!(check_component(b"\0asm\x01\0\0\0"), Err(ArtifactError::NotComponent));
        // A hostile media type is shown escaped.
        let m = manifest(&[("\x1b[31mred", &good, 9)]);
        assert!(!component_layer(&m).unwrap_err().to_string().contains('\x1b'));
    }

    #[test]
    fn the_config_lists_what_the_component_imports_and_exports() {
        let component = wat::parse_str(
            r#"(component
                (import "wasi:cli/environment@0.2.0" (instance))
                (core module (func (export "f")))
                (func (export "init") (result u32) (canon lift (core func 0)))
            )"#,
        );
        // Lifting needs a core instance: build one in the simplest valid form instead.
        let component = component.unwrap_or_else(|_| {
            wat::parse_str(r#"(component (import "wasi:cli/environment@0.2.0" (instance)) (export "wasmtrace:plugin/x" (instance 0)))"#).unwrap()
        });
        let config: serde_json::Value = serde_json::from_slice(&config_for(&component, "sha256:00").unwrap()).unwrap();
        assert_eq!(config["architecture"], "wasm");
        assert_eq!(config["os"], "wasip2");
        assert_eq!(config["layerDigests"][0], "sha256:00");
        assert_eq!(config["component"]["imports"][0], "wasi:cli/environment@0.2.0");
        assert_eq!(imports_of(&component).unwrap(), ["wasi:cli/environment@0.2.0"]);
    }
}
