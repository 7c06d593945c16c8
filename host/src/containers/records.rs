//! What the container runtimes record about a container, read from their
//! own files (as Inspektor Gadget and Falco's plugins do with the runtimes'
//! state): no runtime socket or API server is needed, only their state
//! directories, read-only. Kubernetes identity comes from the annotations
//! the CRI runtimes write into each container's OCI config.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::runtime::bindings::{Container, Pod, Runtime};

/// podman's (and CRI-O's) container storage: OCI configs under `userdata`,
/// names and images in `containers.json`.
const PODMAN_STORAGE: &str = "/var/lib/containers/storage/overlay-containers";
const CRIO_RUN: &str = "/run/containers/storage/overlay-containers";
const CONTAINERD_TASKS: &str = "/run/containerd/io.containerd.runtime.v2.task";
const DOCKER_CONTAINERS: &str = "/var/lib/docker/containers";

/// Longest name, image or annotation value kept: they are chosen by
/// whoever starts containers.
const MAX_TEXT: usize = 256;
/// Largest record file read: annotations are as large as whoever starts a
/// container makes them, and containers.json grows with the containers.
const MAX_FILE: u64 = 16 << 20;

#[derive(Deserialize, Default)]
struct OciConfig {
    #[serde(default)]
    annotations: HashMap<String, String>,
}

/// An entry of containers/storage's containers.json.
#[derive(Deserialize)]
struct StorageEntry {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    metadata: String,
}

#[derive(Deserialize, Default)]
struct StorageMetadata {
    #[serde(default, rename = "image-name")]
    image_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerConfig {
    #[serde(default)]
    name: String,
    #[serde(default)]
    config: DockerInner,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct DockerInner {
    #[serde(default)]
    image: String,
    #[serde(default)]
    labels: HashMap<String, String>,
}

fn bounded(s: &str) -> String {
    let mut end = s.len().min(MAX_TEXT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.len() as u64 > MAX_FILE {
        tracing::warn!("{} is over {} MiB: not read", path.display(), MAX_FILE >> 20);
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

/// The Kubernetes pod and container from CRI annotations (CRI-O's and
/// dockershim's `io.kubernetes.pod.*`, containerd's `io.kubernetes.cri.*`).
fn pod(annotations: &HashMap<String, String>) -> Option<Pod> {
    let get = |keys: [&str; 2]| keys.iter().find_map(|k| annotations.get(*k)).map(|v| bounded(v));
    Some(Pod {
        namespace: get(["io.kubernetes.pod.namespace", "io.kubernetes.cri.sandbox-namespace"])?,
        name: get(["io.kubernetes.pod.name", "io.kubernetes.cri.sandbox-name"])?,
        container: get(["io.kubernetes.container.name", "io.kubernetes.cri.container-name"]).unwrap_or_default(),
    })
}

fn container(runtime: Runtime, id: &str, name: &str, image: &str, annotations: &HashMap<String, String>) -> Container {
    let pod = pod(annotations);
    // Under Kubernetes the runtime's own name is generated; the pod's container name is the one people use.
    let name = match &pod {
        Some(pod) if !pod.container.is_empty() => pod.container.clone(),
        _ if name.is_empty() => id[..12].to_string(),
        _ => bounded(name),
    };
    Container {
        runtime,
        id: id.to_string(),
        name,
        image: bounded(image),
        pod,
    }
}

/// What the runtime recorded about container `id`, or `None` when it has
/// no record of it (not this runtime's, or already removed).
pub fn read(root: &Path, runtime: Runtime, id: &str) -> Option<Container> {
    let under = |dir: &str| root.join(dir.trim_start_matches('/'));
    match runtime {
        Runtime::Podman | Runtime::CriO => {
            let (storage, config) = match runtime {
                Runtime::Podman => (under(PODMAN_STORAGE), under(PODMAN_STORAGE)),
                _ => (under(PODMAN_STORAGE), under(CRIO_RUN)),
            };
            let oci: OciConfig = read_json(&config.join(id).join("userdata/config.json"))?;
            let entries: Vec<StorageEntry> = read_json(&storage.join("containers.json")).unwrap_or_default();
            let entry = entries.iter().find(|e| e.id == id);
            let metadata: StorageMetadata = entry
                .and_then(|e| serde_json::from_str(&e.metadata).ok())
                .unwrap_or_default();
            let name = entry.and_then(|e| e.names.first()).map_or("", String::as_str);
            let image = match metadata.image_name.as_str() {
                "" => oci
                    .annotations
                    .get("io.kubernetes.cri-o.ImageName")
                    .map_or("", String::as_str),
                image => image,
            };
            Some(container(runtime, id, name, image, &oci.annotations))
        }
        Runtime::Containerd => {
            // One directory per containerd namespace (k8s.io, moby, default, ...).
            let config = std::fs::read_dir(under(CONTAINERD_TASKS))
                .ok()?
                .flatten()
                .map(|ns| ns.path().join(id).join("config.json"))
                .find(|p| p.is_file());
            let Some(config) = config else {
                // A bare id under /kubepods may be CRI-O's.
                return read(root, Runtime::CriO, id);
            };
            let oci: OciConfig = read_json(&config)?;
            let a = &oci.annotations;
            let name = a.get("nerdctl/name").map_or("", String::as_str);
            let image = a.get("io.kubernetes.cri.image-name").map_or("", String::as_str);
            Some(container(runtime, id, name, image, a))
        }
        Runtime::Docker => {
            let config: DockerConfig = read_json(&under(DOCKER_CONTAINERS).join(id).join("config.v2.json"))?;
            let name = config.name.trim_start_matches('/');
            Some(container(
                runtime,
                id,
                name,
                &config.config.image,
                &config.config.labels,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "b9f5098fe19bd39a029dfee53d9e617522459f1748fad3d4fc019c7b78e87d87";

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Each runtime's records, as the runtimes write them (trimmed to what is read).
    #[test]
    fn each_runtime_is_read_from_its_own_records() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(
            r,
            &format!("{PODMAN_STORAGE}/{ID}/userdata/config.json"),
            r#"{"annotations":{"io.container.manager":"libpod"}}"#,
        );
        write(
            r,
            &format!("{PODMAN_STORAGE}/containers.json"),
            &format!(r#"[{{"id":"{ID}","names":["web"],"metadata":"{{\"image-name\":\"localhost/box:1\"}}"}}]"#),
        );
        let podman = read(r, Runtime::Podman, ID).unwrap();
        assert_eq!(
            (podman.name.as_str(), podman.image.as_str(), podman.pod),
            ("web", "localhost/box:1", None)
        );

        write(
            r,
            &format!("{CONTAINERD_TASKS}/k8s.io/{ID}/config.json"),
            r#"{"annotations":{"io.kubernetes.cri.container-name":"nginx","io.kubernetes.cri.sandbox-name":"web-7d9",
                "io.kubernetes.cri.sandbox-namespace":"prod","io.kubernetes.cri.image-name":"docker.io/library/nginx:1.27"}}"#,
        );
        let k8s = read(r, Runtime::Containerd, ID).unwrap();
        assert_eq!(
            (k8s.name.as_str(), k8s.image.as_str()),
            ("nginx", "docker.io/library/nginx:1.27")
        );
        assert_eq!(
            k8s.pod,
            Some(Pod {
                namespace: "prod".into(),
                name: "web-7d9".into(),
                container: "nginx".into()
            })
        );

        write(
            r,
            &format!("{CRIO_RUN}/{ID}/userdata/config.json"),
            r#"{"annotations":{"io.kubernetes.container.name":"db","io.kubernetes.pod.name":"db-0",
                "io.kubernetes.pod.namespace":"data","io.kubernetes.cri-o.ImageName":"quay.io/x/db:2"}}"#,
        );
        let crio = read(r, Runtime::CriO, ID).unwrap();
        assert_eq!(
            (crio.name.as_str(), crio.pod.unwrap().namespace.as_str()),
            ("db", "data")
        );

        write(
            r,
            &format!("{DOCKER_CONTAINERS}/{ID}/config.v2.json"),
            r#"{"Name":"/api","Config":{"Image":"api:3","Labels":{}}}"#,
        );
        let docker = read(r, Runtime::Docker, ID).unwrap();
        assert_eq!(
            (docker.name.as_str(), docker.image.as_str(), docker.runtime),
            ("api", "api:3", Runtime::Docker)
        );

        // No record: not a container this host's runtimes know (yet, or any more).
        assert!(read(r, Runtime::Docker, &ID.replace('b', "c")).is_none());
    }

    /// Names and annotations are chosen by whoever starts the container: bounded.
    #[test]
    fn long_values_are_cut_on_a_character_boundary() {
        let long = "é".repeat(300);
        assert_eq!(bounded(&long).len(), MAX_TEXT);
        assert!(bounded(&long).chars().all(|c| c == 'é'));
    }
}
