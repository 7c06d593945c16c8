//! Which container an event came from. The kernel records the task's cgroup
//! id; here it becomes a container (runtime, id, name, image, Kubernetes
//! pod) through the cgroup's path and the runtime's own records, and only
//! where the path is the one the runtime's record gives (a cgroup's name is
//! anyone's to choose who can make one). Each cgroup
//! is resolved once, when first seen, and kept while it produces events:
//! the per-event cost is a lookup. Containers that start later are resolved
//! on their first event; those that stop age out.

mod cgroup;
mod records;

use std::collections::HashMap;
use std::path::Path;

use self::cgroup::{CgroupFs, containers_named};
use crate::wit::{Container, Runtime};

/// Cgroups remembered at most; beyond it the least recently seen half goes.
const MAX_CACHED: usize = 16_384;

struct Entry {
    container: Option<Container>,
    /// The sweep generation it was last looked up in.
    seen: u64,
}

pub struct Containers {
    cgroups: Option<CgroupFs>,
    cache: HashMap<u64, Entry>,
    /// The runtimes' records read since the last sweep, misses included:
    /// cgroups named like one container (a deep path of them, or many)
    /// cost one read of its record, not one each.
    records: HashMap<(String, String), Option<records::Record>>,
    generation: u64,
}

impl Containers {
    /// Resolves through this host's cgroup v2 hierarchy and runtime records
    /// (a DaemonSet mounts the host's at the same paths). Without a cgroup v2
    /// mount, or without the right to open cgroups by id, events are not
    /// attributed; that is said once, with the fix.
    pub fn of_this_host() -> Containers {
        let cgroups = match cgroup::v2_mount() {
            None => {
                tracing::warn!(
                    "no cgroup v2 hierarchy is mounted, so events are not attributed to containers: \
                     mount one (`mount -t cgroup2 none /sys/fs/cgroup/unified`) and start again"
                );
                None
            }
            Some(mount) => match CgroupFs::open(&mount) {
                Ok(fs) => Some(fs),
                Err(e) => {
                    tracing::warn!(
                        "cannot open {}: {e}; events are not attributed to containers",
                        mount.display()
                    );
                    None
                }
            },
        };
        Containers {
            cgroups,
            cache: HashMap::new(),
            records: HashMap::new(),
            generation: 0,
        }
    }

    /// Never attributes: for tests and for replays of recordings made elsewhere.
    pub fn none() -> Containers {
        Containers {
            cgroups: None,
            cache: HashMap::new(),
            records: HashMap::new(),
            generation: 0,
        }
    }

    /// The container of cgroup `id`, or `None` for the host's processes.
    pub fn lookup(&mut self, id: u64) -> Option<&Container> {
        if !self.cache.contains_key(&id) {
            let container = self.resolve(id);
            if self.cache.len() >= MAX_CACHED {
                self.evict_older_half();
            }
            let seen = self.generation;
            self.cache.insert(id, Entry { container, seen });
        }
        let entry = self.cache.get_mut(&id)?;
        entry.seen = self.generation;
        entry.container.as_ref()
    }

    fn resolve(&mut self, id: u64) -> Option<Container> {
        let cgroups = self.cgroups.as_ref()?;
        let path = match cgroups.path(id) {
            Ok(path) => path,
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                tracing::warn!(
                    "opening cgroups by id is not permitted, so events are not attributed to containers: \
                     give wasmtrace CAP_DAC_READ_SEARCH (docs/containers.md)"
                );
                self.cgroups = None;
                return None;
            }
            // Gone already (a short-lived cgroup): nothing to attribute.
            Err(_) => return None,
        };
        containers_named(&path)
            .into_iter()
            .find_map(|(runtime, id, at)| self.verified(runtime, id, &at))
    }

    /// Container `id` of `runtime`, if its runtime's record puts it in the
    /// cgroup at `path` (below the mount).
    fn verified(&mut self, runtime: Runtime, id: &str, path: &str) -> Option<Container> {
        let record = self
            .records
            .entry((format!("{runtime:?}"), id.to_string()))
            .or_insert_with(|| records::read(Path::new("/"), runtime, id))
            .as_ref()?;
        if record.cgroup == path {
            return Some(record.container.clone());
        }
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            tracing::warn!(
                "the cgroup {path} is named like container {id}, which its runtime put in the cgroup {}: \
                 not attributed to it (anyone who can make a cgroup can name it so); said once",
                record.cgroup
            );
        });
        None
    }

    /// Called every interval: cgroups that produced no event since the last
    /// sweep are forgotten (stopped containers), and resolved again if they do.
    pub fn sweep(&mut self) {
        let previous = self.generation;
        self.cache.retain(|_, entry| entry.seen >= previous);
        self.records.clear();
        self.generation += 1;
    }

    fn evict_older_half(&mut self) {
        let mut seen: Vec<u64> = self.cache.values().map(|e| e.seen).collect();
        seen.sort_unstable();
        let median = seen[seen.len() / 2];
        self.cache.retain(|_, entry| entry.seen > median);
    }

    /// Every container running now, with its cgroup: what filters that
    /// name containers follow. Each container's records are read once and
    /// then come from the cache.
    pub fn running(&mut self) -> Vec<Running> {
        let Some(cgroups) = &self.cgroups else {
            return Vec::new();
        };
        let named = cgroups.containers();
        named
            .into_iter()
            .filter_map(|n| {
                let container = self.verified(n.runtime, &n.id, &n.path)?;
                self.cache.entry(n.cgroup).or_insert(Entry {
                    container: Some(container.clone()),
                    seen: self.generation,
                });
                Some(Running {
                    cgroup: n.cgroup,
                    level: n.level,
                    container,
                })
            })
            .collect()
    }
}

/// A running container, as `running` lists it: only those whose runtime's
/// record names the cgroup.
pub struct Running {
    pub cgroup: u64,
    /// The cgroup's depth below the root.
    pub level: u32,
    container: Container,
}

impl Running {
    /// Whether a filter's list names it.
    pub fn named_by(&self, wanted: &[String]) -> bool {
        wanted.iter().any(|w| matches(w, &self.container))
    }
}

/// Whether a filter entry names this container.
fn matches(wanted: &str, c: &Container) -> bool {
    (wanted.len() >= 12 && c.id.starts_with(wanted))
        || match &c.pod {
            // A pod's container is named by whoever writes the pod, in any
            // namespace: it is named with its pod, never alone.
            Some(p) => {
                let pod = format!("{}/{}", p.namespace, p.name);
                wanted == pod || wanted == format!("{pod}/{}", p.container)
            }
            None => c.name == wanted,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wit::{Pod, Runtime};

    #[test]
    fn filters_name_containers_by_name_id_prefix_or_pod() {
        let id = "b9f5098fe19bd39a029dfee53d9e617522459f1748fad3d4fc019c7b78e87d87";
        let c = Container {
            runtime: Runtime::Containerd,
            id: id.into(),
            name: "nginx".into(),
            image: "nginx:1.27".into(),
            pod: Some(Pod {
                namespace: "prod".into(),
                name: "web-7d9".into(),
                container: "nginx".into(),
            }),
        };
        for wanted in ["b9f5098fe19b", id, "prod/web-7d9", "prod/web-7d9/nginx"] {
            assert!(matches(wanted, &c), "{wanted}");
        }
        // A short prefix would match by accident; other names do not match;
        // a pod's container name alone is anyone's (another tenant's pod may
        // have an nginx too).
        for wanted in [
            "b9f5",
            "web-7d9",
            "prod",
            "nginx:1.27",
            "apache",
            "nginx",
            "other/web-7d9/nginx",
        ] {
            assert!(!matches(wanted, &c), "{wanted}");
        }
        let podman = Container { pod: None, ..c };
        assert!(matches("nginx", &podman));
    }

    #[test]
    fn the_cache_forgets_cgroups_that_went_quiet() {
        let mut containers = Containers::none();
        containers.lookup(1);
        containers.sweep();
        containers.lookup(2);
        containers.sweep();
        assert_eq!(containers.cache.keys().copied().collect::<Vec<_>>(), [2]);
        containers.sweep();
        assert!(containers.cache.is_empty());
    }
}
