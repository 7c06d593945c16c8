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
}

impl MapKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MapKind::Counter => "counter",
            MapKind::Gauge => "gauge",
            MapKind::Log2Histogram => "log2-histogram",
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
}

#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Counter(BTreeMap<Key, u64>),
    Gauge(BTreeMap<Key, i64>),
    Log2Histogram(BTreeMap<Key, Log2Hist>),
}

impl Values {
    fn new(kind: MapKind) -> Values {
        match kind {
            MapKind::Counter => Values::Counter(BTreeMap::new()),
            MapKind::Gauge => Values::Gauge(BTreeMap::new()),
            MapKind::Log2Histogram => Values::Log2Histogram(BTreeMap::new()),
        }
    }

    pub fn kind(&self) -> MapKind {
        match self {
            Values::Counter(_) => MapKind::Counter,
            Values::Gauge(_) => MapKind::Gauge,
            Values::Log2Histogram(_) => MapKind::Log2Histogram,
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Values::Counter(m) => m.is_empty(),
            Values::Gauge(m) => m.is_empty(),
            Values::Log2Histogram(m) => m.is_empty(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    pub plugin: String,
    pub name: String,
    pub labels: Vec<String>,
    pub values: Values,
}

/// Index of a map in its store; the rep of the plugin's resource handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapId(pub u32);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MapError {
    #[error("map name `{0}` is not valid: use letters, digits and `_`, not starting with a digit")]
    BadName(String),
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

#[derive(Debug, Default)]
pub struct MapStore {
    maps: Vec<Map>,
}

pub type SharedMaps = Arc<Mutex<MapStore>>;

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl MapStore {
    /// Creates the plugin's map, or returns the existing one of the same kind and labels.
    pub fn create(&mut self, plugin: &str, name: &str, kind: MapKind, labels: Vec<String>) -> Result<MapId, MapError> {
        if !valid_name(name) {
            return Err(MapError::BadName(name.to_string()));
        }
        if let Some(i) = self.maps.iter().position(|m| m.plugin == plugin && m.name == name) {
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
        self.maps.push(Map {
            plugin: plugin.to_string(),
            name: name.to_string(),
            labels,
            values: Values::new(kind),
        });
        Ok(MapId(self.maps.len() as u32 - 1))
    }

    pub fn maps(&self) -> &[Map] {
        &self.maps
    }

    fn values(&mut self, id: MapId, key: &[String]) -> Result<&mut Values, MapError> {
        let map = self.maps.get_mut(id.0 as usize).ok_or(MapError::NoSuchMap(id.0))?;
        if key.len() != map.labels.len() {
            return Err(MapError::KeyArity {
                name: map.name.clone(),
                labels: map.labels.len(),
                parts: key.len(),
            });
        }
        Ok(&mut map.values)
    }

    pub fn add(&mut self, id: MapId, key: &[String], delta: u64) -> Result<(), MapError> {
        if let Values::Counter(m) = self.values(id, key)? {
            match m.get_mut(key) {
                Some(v) => *v = v.saturating_add(delta),
                None => {
                    m.insert(key.to_vec(), delta);
                }
            }
        }
        Ok(())
    }

    pub fn set(&mut self, id: MapId, key: &[String], value: i64) -> Result<(), MapError> {
        if let Values::Gauge(m) = self.values(id, key)? {
            match m.get_mut(key) {
                Some(v) => *v = value,
                None => {
                    m.insert(key.to_vec(), value);
                }
            }
        }
        Ok(())
    }

    pub fn record(&mut self, id: MapId, key: &[String], value: u64) -> Result<(), MapError> {
        if let Values::Log2Histogram(m) = self.values(id, key)? {
            match m.get_mut(key) {
                Some(h) => h.record(value),
                None => m.entry(key.to_vec()).or_default().record(value),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(parts: &[&str]) -> Key {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn counters_sum_per_key() {
        let mut s = MapStore::default();
        let id = s.create("p", "opens", MapKind::Counter, key(&["comm"])).unwrap();
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
        let mut s = MapStore::default();
        let a = s.create("p", "m", MapKind::Counter, vec![]).unwrap();
        assert_eq!(s.create("p", "m", MapKind::Counter, vec![]).unwrap(), a);
        assert_ne!(s.create("q", "m", MapKind::Counter, vec![]).unwrap(), a);
        assert!(matches!(
            s.create("p", "m", MapKind::Gauge, vec![]),
            Err(MapError::Conflict { .. })
        ));
    }

    #[test]
    fn rejects_bad_names_and_key_arity() {
        let mut s = MapStore::default();
        assert_eq!(
            s.create("p", "9x", MapKind::Counter, vec![]),
            Err(MapError::BadName("9x".into()))
        );
        assert!(s.create("p", "a-b", MapKind::Counter, vec![]).is_err());
        let id = s.create("p", "x", MapKind::Counter, key(&["a", "b"])).unwrap();
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
