//! Host-owned maps. Plugins update them through the `maps` interface; the
//! host renders and exports them, and keeps them when a plugin stops.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Key parts, one per label.
pub type Key = Vec<String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    Counter,
    Gauge,
    Log2Histogram,
    StackCounter,
}

impl MapKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MapKind::Counter => "counter",
            MapKind::Gauge => "gauge",
            MapKind::Log2Histogram => "log2-histogram",
            MapKind::StackCounter => "stack-counter",
        }
    }
}

/// Power-of-two buckets: bucket 0 holds 0, bucket `b` ≥ 1 holds `[2^(b-1), 2^b)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log2Hist {
    pub buckets: [u64; 65],
    pub count: u64,
    pub sum: u64,
}

impl Default for Log2Hist {
    fn default() -> Self {
        Log2Hist {
            buckets: [0; 65],
            count: 0,
            sum: 0,
        }
    }
}

impl Log2Hist {
    pub fn bucket(value: u64) -> usize {
        (u64::BITS - value.leading_zeros()) as usize
    }

    /// The smallest value that falls in bucket `b`.
    pub fn lower_bound(b: usize) -> u64 {
        if b == 0 { 0 } else { 1 << (b - 1) }
    }

    pub fn record(&mut self, value: u64) {
        self.buckets[Log2Hist::bucket(value)] += 1;
        self.count += 1;
        self.sum = self.sum.saturating_add(value);
    }

    /// An upper bound on the `q` quantile (0 < q ≤ 1): the end of the bucket
    /// it falls in; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let rank = (self.count as f64 * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        let b = self.buckets.iter().position(|&n| {
            seen += n;
            seen >= rank
        })?;
        Some(if b == 64 { u64::MAX } else { (1u64 << b) - 1 })
    }
}

/// A stack counter's key: the two stacks (ids of `stacks::table()`, 0:
/// none), then one part per label.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StackKey {
    pub kernel: u32,
    pub user: u32,
    pub key: Key,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Counter(BTreeMap<Key, u64>),
    Gauge(BTreeMap<Key, i64>),
    Log2Histogram(BTreeMap<Key, Log2Hist>),
    StackCounter(BTreeMap<StackKey, u64>),
}

impl Values {
    fn new(kind: MapKind) -> Values {
        match kind {
            MapKind::Counter => Values::Counter(BTreeMap::new()),
            MapKind::Gauge => Values::Gauge(BTreeMap::new()),
            MapKind::Log2Histogram => Values::Log2Histogram(BTreeMap::new()),
            MapKind::StackCounter => Values::StackCounter(BTreeMap::new()),
        }
    }

    pub fn kind(&self) -> MapKind {
        match self {
            Values::Counter(_) => MapKind::Counter,
            Values::Gauge(_) => MapKind::Gauge,
            Values::Log2Histogram(_) => MapKind::Log2Histogram,
            Values::StackCounter(_) => MapKind::StackCounter,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Values::Counter(m) => m.len(),
            Values::Gauge(m) => m.len(),
            Values::Log2Histogram(m) => m.len(),
            Values::StackCounter(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    pub name: String,
    pub labels: Vec<String>,
    pub values: Values,
}

/// Index of a map in its plugin's store; the rep of the plugin's resource handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapId(pub u32);

impl MapId {
    /// The handle given for a map refused by the `plugin_maps` quota: its
    /// updates are counted as refused, and the plugin goes on.
    pub const REFUSED: MapId = MapId(u32::MAX);
}

/// Labels one map may have (each key has one part per label).
pub const MAX_LABELS: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MapError {
    #[error("map name `{0}` is not valid: use letters, digits and `_`, not starting with a digit")]
    BadName(String),
    #[error("map `{name}` has {labels} labels; at most {MAX_LABELS} are allowed")]
    TooManyLabels { name: String, labels: usize },
    #[error("map `{name}` already exists as a {existing} with labels {labels:?}")]
    Conflict {
        name: String,
        existing: &'static str,
        labels: Vec<String>,
    },
    #[error("map `{name}` has {labels} label(s) but an update gave {parts} key part(s)")]
    KeyArity { name: String, labels: usize, parts: usize },
    #[error("no map with handle {0}")]
    NoSuchMap(u32),
}

/// What a plugin's maps may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapQuota {
    pub maps: u32,
    pub keys_per_map: u32,
    /// Host memory for entries, as `entry_cost` counts it.
    pub bytes: u64,
}

/// Updates refused by each quota: counted, shown and exported, never silent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refused {
    /// Updates to maps created past `plugin_maps`.
    pub maps: u64,
    /// New keys past `plugin_keys_per_map`.
    pub keys: u64,
    /// New keys past `plugin_map_memory_mib`.
    pub bytes: u64,
}

/// What a new entry costs the host: its key's bytes and allocation headers,
/// the tree's share, and the value. An estimate on the safe side, so that
/// the memory quota bounds the process's real growth.
fn entry_cost(kind: MapKind, key: &[String]) -> u64 {
    const ENTRY: u64 = 96;
    const PART: u64 = 40;
    let value = match kind {
        MapKind::Counter | MapKind::Gauge => 8,
        MapKind::StackCounter => 16,
        MapKind::Log2Histogram => std::mem::size_of::<Log2Hist>() as u64,
    };
    ENTRY + value + key.iter().map(|p| PART + p.len() as u64).sum::<u64>()
}

/// One plugin's maps. They outlive the plugin's instances: a restarted or
/// reloaded version writes on into the same maps.
#[derive(Debug, Clone)]
pub struct PluginMaps {
    pub plugin: String,
    maps: Vec<Map>,
    quota: MapQuota,
    /// Host memory the entries take, as `entry_cost` counts it.
    held: u64,
    pub refused: Refused,
}

pub type SharedPluginMaps = Arc<Mutex<PluginMaps>>;

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl PluginMaps {
    pub fn new(plugin: &str, quota: MapQuota) -> PluginMaps {
        PluginMaps {
            plugin: plugin.to_string(),
            maps: Vec::new(),
            quota,
            held: 0,
            refused: Refused::default(),
        }
    }

    /// Creates a map, or returns the existing one of the same kind and labels.
    /// Past the `maps` quota it returns `MapId::REFUSED`.
    pub fn create(&mut self, name: &str, kind: MapKind, labels: Vec<String>) -> Result<MapId, MapError> {
        if !valid_name(name) {
            return Err(MapError::BadName(name.to_string()));
        }
        if labels.len() > MAX_LABELS {
            return Err(MapError::TooManyLabels {
                name: name.to_string(),
                labels: labels.len(),
            });
        }
        if let Some(i) = self.maps.iter().position(|m| m.name == name) {
            let m = &self.maps[i];
            if m.values.kind() != kind || m.labels != labels {
                return Err(MapError::Conflict {
                    name: name.to_string(),
                    existing: m.values.kind().as_str(),
                    labels: m.labels.clone(),
                });
            }
            return Ok(MapId(i as u32));
        }
        if self.maps.len() >= self.quota.maps as usize {
            return Ok(MapId::REFUSED);
        }
        self.maps.push(Map {
            name: name.to_string(),
            labels,
            values: Values::new(kind),
        });
        Ok(MapId(self.maps.len() as u32 - 1))
    }

    pub fn maps(&self) -> &[Map] {
        &self.maps
    }

    /// Host memory the entries take, as the quota counts it.
    pub fn held_bytes(&self) -> u64 {
        self.held
    }

    /// Applies `update` to the entry for `key`, creating it if the quotas allow.
    fn update<V: Default>(
        &mut self,
        id: MapId,
        key: &[String],
        entries: impl FnOnce(&mut Values) -> Option<&mut BTreeMap<Key, V>>,
        update: impl FnOnce(&mut V),
    ) -> Result<(), MapError> {
        self.update_keyed(id, key, key.to_vec(), entries, update)
    }

    /// The same, for an entry whose key is `full` (`key` and more).
    fn update_keyed<K: Ord, V: Default>(
        &mut self,
        id: MapId,
        key: &[String],
        full: K,
        entries: impl FnOnce(&mut Values) -> Option<&mut BTreeMap<K, V>>,
        update: impl FnOnce(&mut V),
    ) -> Result<(), MapError> {
        if id == MapId::REFUSED {
            self.refused.maps += 1;
            return Ok(());
        }
        let map = self.maps.get_mut(id.0 as usize).ok_or(MapError::NoSuchMap(id.0))?;
        if key.len() != map.labels.len() {
            return Err(MapError::KeyArity {
                name: map.name.clone(),
                labels: map.labels.len(),
                parts: key.len(),
            });
        }
        let kind = map.values.kind();
        let Some(entries) = entries(&mut map.values) else {
            return Ok(());
        };
        if let Some(v) = entries.get_mut(&full) {
            update(v);
            return Ok(());
        }
        let cost = entry_cost(kind, key);
        if entries.len() >= self.quota.keys_per_map as usize {
            self.refused.keys += 1;
        } else if self.held + cost > self.quota.bytes {
            self.refused.bytes += 1;
        } else {
            self.held += cost;
            update(entries.entry(full).or_default());
        }
        Ok(())
    }

    /// Adds to a stack counter's entry for (kernel stack, user stack, key).
    pub fn add_stacks(
        &mut self,
        id: MapId,
        kernel: u32,
        user: u32,
        key: &[String],
        delta: u64,
    ) -> Result<(), MapError> {
        let full = StackKey {
            kernel,
            user,
            key: key.to_vec(),
        };
        self.update_keyed(
            id,
            key,
            full,
            |v| match v {
                Values::StackCounter(m) => Some(m),
                _ => None,
            },
            |v| *v = v.saturating_add(delta),
        )
    }

    pub fn add(&mut self, id: MapId, key: &[String], delta: u64) -> Result<(), MapError> {
        self.update(
            id,
            key,
            |v| match v {
                Values::Counter(m) => Some(m),
                _ => None,
            },
            |v| *v = v.saturating_add(delta),
        )
    }

    pub fn set(&mut self, id: MapId, key: &[String], value: i64) -> Result<(), MapError> {
        self.update(
            id,
            key,
            |v| match v {
                Values::Gauge(m) => Some(m),
                _ => None,
            },
            |v| *v = value,
        )
    }

    pub fn record(&mut self, id: MapId, key: &[String], value: u64) -> Result<(), MapError> {
        self.update(
            id,
            key,
            |v| match v {
                Values::Log2Histogram(m) => Some(m),
                _ => None,
            },
            |h| h.record(value),
        )
    }
}

/// Every plugin's maps, in the order the plugins first started.
#[derive(Debug, Clone, Default)]
pub struct MapRegistry(Arc<Mutex<Vec<SharedPluginMaps>>>);

impl MapRegistry {
    /// The plugin's maps: the ones an earlier instance of it filled, or new ones.
    pub fn for_plugin(&self, plugin: &str, quota: MapQuota) -> SharedPluginMaps {
        let mut all = self.0.lock().expect("map registry lock");
        if let Some(maps) = all
            .iter()
            .find(|m| m.lock().expect("plugin maps lock").plugin == plugin)
        {
            return maps.clone();
        }
        let maps = Arc::new(Mutex::new(PluginMaps::new(plugin, quota)));
        all.push(maps.clone());
        maps
    }

    /// What each plugin's quotas refused so far, by plugin.
    pub fn refused(&self) -> std::collections::HashMap<String, Refused> {
        let all = self.0.lock().expect("map registry lock");
        all.iter()
            .map(|m| {
                let m = m.lock().expect("plugin maps lock");
                (m.plugin.clone(), m.refused)
            })
            .collect()
    }

    /// A copy of every plugin's maps, taken one plugin at a time, so that
    /// rendering holds no lock a plugin needs.
    pub fn snapshot(&self) -> Vec<PluginMaps> {
        let all: Vec<SharedPluginMaps> = self.0.lock().expect("map registry lock").clone();
        all.iter()
            .map(|m| m.lock().expect("plugin maps lock").clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(parts: &[&str]) -> Key {
        parts.iter().map(|s| s.to_string()).collect()
    }

    const ROOMY: MapQuota = MapQuota {
        maps: 8,
        keys_per_map: 1000,
        bytes: 1 << 20,
    };

    fn store() -> PluginMaps {
        PluginMaps::new("p", ROOMY)
    }

    #[test]
    fn counters_sum_per_key() {
        let mut s = store();
        let id = s.create("opens", MapKind::Counter, key(&["comm"])).unwrap();
        s.add(id, &key(&["cat"]), 2).unwrap();
        s.add(id, &key(&["cat"]), 3).unwrap();
        s.add(id, &key(&["ls"]), 1).unwrap();
        let Values::Counter(m) = &s.maps()[0].values else {
            panic!()
        };
        assert_eq!(m[&key(&["cat"])], 5);
        assert_eq!(m[&key(&["ls"])], 1);
    }

    #[test]
    fn same_name_same_map_other_plugin_other_map() {
        let registry = MapRegistry::default();
        let p = registry.for_plugin("p", ROOMY);
        let a = p.lock().unwrap().create("m", MapKind::Counter, vec![]).unwrap();
        assert_eq!(p.lock().unwrap().create("m", MapKind::Counter, vec![]).unwrap(), a);
        assert!(matches!(
            p.lock().unwrap().create("m", MapKind::Gauge, vec![]),
            Err(MapError::Conflict { .. })
        ));
        let q = registry.for_plugin("q", ROOMY);
        q.lock().unwrap().create("m", MapKind::Gauge, vec![]).unwrap();
        assert!(
            Arc::ptr_eq(&registry.for_plugin("p", ROOMY), &p),
            "a restarted plugin gets its maps back"
        );
        let names: Vec<String> = registry.snapshot().into_iter().map(|m| m.plugin).collect();
        assert_eq!(names, ["p", "q"]);
    }

    #[test]
    fn quotas_refuse_and_count() {
        let quota = MapQuota {
            maps: 2,
            keys_per_map: 3,
            bytes: 10 * entry_cost(MapKind::Counter, &key(&["xx"])),
        };
        let mut s = PluginMaps::new("p", quota);
        let a = s.create("a", MapKind::Counter, key(&["k"])).unwrap();
        let b = s.create("b", MapKind::Counter, key(&["k"])).unwrap();
        assert_eq!(s.create("c", MapKind::Counter, key(&["k"])).unwrap(), MapId::REFUSED);
        s.add(MapId::REFUSED, &key(&["x"]), 1).unwrap();
        for k in ["1", "2", "3", "4", "5"] {
            s.add(a, &key(&[k]), 1).unwrap();
        }
        s.add(a, &key(&["1"]), 1).unwrap();
        let Values::Counter(m) = &s.maps()[0].values else {
            panic!()
        };
        assert_eq!((m.len(), m[&key(&["1"])]), (3, 2), "existing keys still count");
        // b fills its 3 keys too; 6 small keys stay within the memory quota.
        for k in ["a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"] {
            s.add(b, &key(&[k]), 1).unwrap();
        }
        assert_eq!(
            s.refused,
            Refused {
                maps: 1,
                keys: 2 + 5,
                bytes: 0
            }
        );
        let big = "x".repeat(1000);
        let mut s = PluginMaps::new(
            "p",
            MapQuota {
                maps: 1,
                keys_per_map: 100,
                bytes: 4000,
            },
        );
        let h = s.create("h", MapKind::Log2Histogram, key(&["k"])).unwrap();
        for i in 0..10 {
            s.record(h, &key(&[&format!("{i}{big}")]), 1).unwrap();
        }
        assert!(s.held_bytes() <= 4000, "{}", s.held_bytes());
        assert_eq!(s.refused.bytes, 10 - s.maps()[0].values.len() as u64);
    }

    #[test]
    fn rejects_bad_names_and_key_arity() {
        let mut s = store();
        assert_eq!(
            s.create("9x", MapKind::Counter, vec![]),
            Err(MapError::BadName("9x".into()))
        );
        assert!(s.create("a-b", MapKind::Counter, vec![]).is_err());
        assert!(matches!(
            s.create("wide", MapKind::Counter, vec!["l".into(); 17]),
            Err(MapError::TooManyLabels { labels: 17, .. })
        ));
        let id = s.create("x", MapKind::Counter, key(&["a", "b"])).unwrap();
        assert_eq!(
            s.add(id, &key(&["only"]), 1),
            Err(MapError::KeyArity {
                name: "x".into(),
                labels: 2,
                parts: 1
            })
        );
    }

    #[test]
    fn quantiles_are_bucket_ends() {
        let mut h = Log2Hist::default();
        assert_eq!(h.quantile(0.99), None);
        for v in [0, 3, 5, 6, 7, 100] {
            h.record(v);
        }
        // Buckets: [0] 1, [2,4) 1, [4,8) 3, [64,128) 1.
        assert_eq!(h.quantile(0.5), Some(7));
        assert_eq!(h.quantile(0.1), Some(0));
        assert_eq!(h.quantile(0.99), Some(127));
        assert_eq!(h.quantile(1.0), Some(127));
    }

    #[test]
    fn log2_buckets() {
        assert_eq!(Log2Hist::bucket(0), 0);
        assert_eq!(Log2Hist::bucket(1), 1);
        assert_eq!(Log2Hist::bucket(2), 2);
        assert_eq!(Log2Hist::bucket(3), 2);
        assert_eq!(Log2Hist::bucket(4), 3);
        assert_eq!(Log2Hist::bucket(1023), 10);
        assert_eq!(Log2Hist::bucket(1024), 11);
        assert_eq!(Log2Hist::bucket(u64::MAX), 64);
        for b in 1..65 {
            assert_eq!(Log2Hist::bucket(Log2Hist::lower_bound(b)), b);
        }
    }
}
