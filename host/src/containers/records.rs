//! What the container runtimes record about a container, read from their
//! own files (as Inspektor Gadget and Falco's plugins do with the runtimes'
//! state): no runtime socket or API server is needed, only their state
//! directories, read-only. Each record also says which cgroup the runtime
//! put the container in (the OCI config's `linux.cgroupsPath`): a cgroup is
//! that container only if it is that path, since anyone who can make a
//! cgroup can give it a container's name. Kubernetes identity comes only
//! from the annotations a CRI runtime (containerd's `k8s.io` namespace,
//! CRI-O) writes; podman and docker let whoever starts a container set them.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::trust::{self, TrustError};
use crate::wit::{Container, Pod, Runtime};

/// podman's (and CRI-O's) container storage: OCI configs under `userdata`,
/// names and images in `containers.json`.
const PODMAN_STORAGE: &str = "/var/lib/containers/storage/overlay-containers";
const CRIO_RUN: &str = "/run/containers/storage/overlay-containers";
const CONTAINERD_TASKS: &str = "/run/containerd/io.containerd.runtime.v2.task";
const DOCKER_CONTAINERS: &str = "/var/lib/docker/containers";
/// containerd's namespace for Kubernetes (the CRI plugin's), and docker's.
const CRI_NAMESPACE: &str = "k8s.io";
const DOCKER_NAMESPACE: &str = "moby";

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
    #[serde(default)]
    linux: OciLinux,
}

#[derive(Deserialize, Default)]
struct OciLinux {
    #[serde(default, rename = "cgroupsPath")]
    cgroups_path: String,
}

/// What a runtime recorded about a container, and the cgroup (a path
/// below the cgroup v2 mount) it put the container in.
#[derive(Debug, PartialEq)]
pub struct Record {
    pub container: Container,
    pub cgroup: String,
}

/// The cgroup an OCI `cgroupsPath` names, as runc reads it: a path, or
/// systemd's "SLICE:PREFIX:NAME" for the unit PREFIX-NAME.scope in SLICE
/// (whose name nests: a-b.slice is in a.slice).
pub fn cgroup_of(cgroups_path: &str) -> Option<String> {
    let systemd: Vec<&str> = cgroups_path.split(':').collect();
    match systemd[..] {
        [slice, prefix, name] => {
            let slice = if slice.is_empty() { "system.slice" } else { slice };
            let stem = slice.strip_suffix(".slice")?;
            let mut path = String::new();
            if stem != "-" {
                let parts: Vec<&str> = stem.split('-').collect();
                for n in 1..=parts.len() {
                    path += &format!("/{}.slice", parts[..n].join("-"));
                }
            }
            Some(match name.strip_suffix(".slice") {
                Some(_) => format!("{path}/{name}"),
                None => format!("{path}/{prefix}-{name}.scope"),
            })
        }
        [path] if !path.is_empty() => Some(format!("/{}", path.trim_start_matches('/'))),
        _ => None,
    }
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
}

fn bounded(s: &str) -> String {
    let mut end = s.len().min(MAX_TEXT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// A record file, read as plugins are (`trust::read_trusted`): only if root
/// (or wasmtrace's own user) alone could have written it and its folder,
/// through no link, never waiting on a FIFO, and at most `MAX_FILE` bytes.
fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    match trust::read_trusted(path, MAX_FILE) {
        Ok(bytes) => serde_json::from_slice(&bytes).ok(),
        // Not this runtime's container, or already removed.
        Err(TrustError::Missing { .. }) => None,
        Err(e) => {
            tracing::warn!("not trusted as a container runtime's record: {e}");
            None
        }
    }
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

/// `annotations` are a CRI runtime's, whose Kubernetes identity they carry;
/// `None` where whoever started the container could have set them.
fn container(
    runtime: Runtime,
    id: &str,
    name: &str,
    image: &str,
    annotations: Option<&HashMap<String, String>>,
) -> Container {
    let pod = annotations.and_then(pod);
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
/// no record of it (not this runtime's, or already removed) or the record
/// names no cgroup.
pub fn read(root: &Path, runtime: Runtime, id: &str) -> Option<Record> {
    let under = |dir: &str| root.join(dir.trim_start_matches('/'));
    let record = |container: Container, cgroups_path: &str| {
        Some(Record {
            container,
            cgroup: cgroup_of(cgroups_path)?,
        })
    };
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
            let cri = (runtime == Runtime::CriO).then_some(&oci.annotations);
            record(container(runtime, id, name, image, cri), &oci.linux.cgroups_path)
        }
        Runtime::Containerd => {
            // One directory per containerd namespace (k8s.io, moby, default, ...).
            let config = std::fs::read_dir(under(CONTAINERD_TASKS))
                .ok()?
                .flatten()
                .map(|ns| (ns.file_name(), ns.path().join(id).join("config.json")))
                .find(|(_, p)| p.is_file());
            let Some((namespace, config)) = config else {
                // A bare id under /kubepods may be CRI-O's.
                return read(root, Runtime::CriO, id);
            };
            let oci: OciConfig = read_json(&config)?;
            let a = &oci.annotations;
            let name = a.get("nerdctl/name").map_or("", String::as_str);
            let image = a.get("io.kubernetes.cri.image-name").map_or("", String::as_str);
            let cri = (namespace == CRI_NAMESPACE).then_some(a);
            record(container(runtime, id, name, image, cri), &oci.linux.cgroups_path)
        }
        Runtime::Docker => {
            let config: DockerConfig = read_json(&under(DOCKER_CONTAINERS).join(id).join("config.v2.json"))?;
            // docker's own record has no cgroup; the OCI config it hands containerd has.
            let oci: OciConfig = read_json(
                &under(CONTAINERD_TASKS)
                    .join(DOCKER_NAMESPACE)
                    .join(id)
                    .join("config.json"),
            )?;
            let name = config.name.trim_start_matches('/');
            record(
                container(runtime, id, name, &config.config.image, None),
                &oci.linux.cgroups_path,
            )
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

    /// Each runtime's records, as the runtimes write them (trimmed to what
    /// is read), with the cgroup each put its container in.
    #[test]
    fn each_runtime_is_read_from_its_own_records() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        // podman lets whoever starts a container set Kubernetes annotations: not a pod.
        write(
            r,
            &format!("{PODMAN_STORAGE}/{ID}/userdata/config.json"),
            &format!(
                r#"{{"annotations":{{"io.kubernetes.pod.namespace":"kube-system","io.kubernetes.pod.name":"etcd-0"}},
                "linux":{{"cgroupsPath":"machine.slice:libpod:{ID}"}}}}"#
            ),
        );
        write(
            r,
            &format!("{PODMAN_STORAGE}/containers.json"),
            &format!(r#"[{{"id":"{ID}","names":["web"],"metadata":"{{\"image-name\":\"localhost/box:1\"}}"}}]"#),
        );
        let podman = read(r, Runtime::Podman, ID).unwrap();
        assert_eq!(
            (
                podman.container.name.as_str(),
                podman.container.image.as_str(),
                podman.container.pod
            ),
            ("web", "localhost/box:1", None)
        );
        assert_eq!(podman.cgroup, format!("/machine.slice/libpod-{ID}.scope"));

        write(
            r,
            &format!("{CONTAINERD_TASKS}/k8s.io/{ID}/config.json"),
            &format!(
                r#"{{"annotations":{{"io.kubernetes.cri.container-name":"nginx","io.kubernetes.cri.sandbox-name":"web-7d9",
                "io.kubernetes.cri.sandbox-namespace":"prod","io.kubernetes.cri.image-name":"docker.io/library/nginx:1.27"}},
                "linux":{{"cgroupsPath":"kubepods-burstable-pod1.slice:cri-containerd:{ID}"}}}}"#
            ),
        );
        let k8s = read(r, Runtime::Containerd, ID).unwrap();
        assert_eq!(
            (k8s.container.name.as_str(), k8s.container.image.as_str()),
            ("nginx", "docker.io/library/nginx:1.27")
        );
        assert_eq!(
            k8s.container.pod,
            Some(Pod {
                namespace: "prod".into(),
                name: "web-7d9".into(),
                container: "nginx".into()
            })
        );
        assert_eq!(
            k8s.cgroup,
            format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-{ID}.scope")
        );

        write(
            r,
            &format!("{CRIO_RUN}/{ID}/userdata/config.json"),
            &format!(
                r#"{{"annotations":{{"io.kubernetes.container.name":"db","io.kubernetes.pod.name":"db-0",
                "io.kubernetes.pod.namespace":"data","io.kubernetes.cri-o.ImageName":"quay.io/x/db:2"}},
                "linux":{{"cgroupsPath":"/kubepods/burstable/pod2/{ID}"}}}}"#
            ),
        );
        let crio = read(r, Runtime::CriO, ID).unwrap();
        assert_eq!(
            (
                crio.container.name.as_str(),
                crio.container.pod.unwrap().namespace.as_str()
            ),
            ("db", "data")
        );
        assert_eq!(crio.cgroup, format!("/kubepods/burstable/pod2/{ID}"));

        write(
            r,
            &format!("{DOCKER_CONTAINERS}/{ID}/config.v2.json"),
            r#"{"Name":"/api","Config":{"Image":"api:3","Labels":{"io.kubernetes.pod.name":"forged"}}}"#,
        );
        write(
            r,
            &format!("{CONTAINERD_TASKS}/moby/{ID}/config.json"),
            &format!(r#"{{"linux":{{"cgroupsPath":"system.slice:docker:{ID}"}}}}"#),
        );
        let docker = read(r, Runtime::Docker, ID).unwrap();
        assert_eq!(
            (
                docker.container.name.as_str(),
                docker.container.image.as_str(),
                docker.container.runtime
            ),
            ("api", "api:3", Runtime::Docker)
        );
        assert_eq!(docker.container.pod, None, "docker labels are anyone's");
        assert_eq!(docker.cgroup, format!("/system.slice/docker-{ID}.scope"));

        // No record: not a container this host's runtimes know (yet, or any more).
        assert!(read(r, Runtime::Docker, &ID.replace('b', "c")).is_none());
    }

    /// containerd outside its Kubernetes namespace (nerdctl's `default`)
    /// takes annotations from whoever runs the container: no pod.
    #[test]
    fn kubernetes_identity_only_from_the_cri_namespace() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            &format!("{CONTAINERD_TASKS}/default/{ID}/config.json"),
            &format!(
                r#"{{"annotations":{{"io.kubernetes.cri.sandbox-name":"web","io.kubernetes.cri.sandbox-namespace":"prod",
                "nerdctl/name":"mine"}},"linux":{{"cgroupsPath":"/default/{ID}"}}}}"#
            ),
        );
        let record = read(root.path(), Runtime::Containerd, ID).unwrap();
        assert_eq!((record.container.name.as_str(), record.container.pod), ("mine", None));
    }

    /// A record another user could have written is not trusted.
    #[test]
    fn records_others_can_write_are_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let path = format!("{PODMAN_STORAGE}/{ID}/userdata/config.json");
        write(
            root.path(),
            &path,
            &format!(r#"{{"linux":{{"cgroupsPath":"/libpod_parent/libpod-{ID}"}}}}"#),
        );
        assert!(read(root.path(), Runtime::Podman, ID).is_some());
        let file = root.path().join(path.trim_start_matches('/'));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(read(root.path(), Runtime::Podman, ID).is_none());
    }

    #[test]
    fn cgroups_paths_read_as_runc_reads_them() {
        for (cgroups_path, path) in [
            ("/libpod_parent/libpod-x", "/libpod_parent/libpod-x"),
            ("machine.slice:libpod:x", "/machine.slice/libpod-x.scope"),
            (":docker:x", "/system.slice/docker-x.scope"),
            ("-.slice:cri-containerd:x", "/cri-containerd-x.scope"),
            (
                "kubepods-besteffort-pod9.slice:crio:x",
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod9.slice/crio-x.scope",
            ),
            ("machine.slice:libpod:x.slice", "/machine.slice/x.slice"),
        ] {
            assert_eq!(cgroup_of(cgroups_path).as_deref(), Some(path), "{cgroups_path}");
        }
        assert_eq!(cgroup_of(""), None);
        assert_eq!(cgroup_of("machine:libpod:x"), None);
    }

    /// Names and annotations are chosen by whoever starts the container: bounded.
    #[test]
    fn long_values_are_cut_on_a_character_boundary() {
        let long = "é".repeat(300);
        assert_eq!(bounded(&long).len(), MAX_TEXT);
        assert!(bounded(&long).chars().all(|c| c == 'é'));
    }
}
