//! The `maps` interface: resource handles onto the plugin's own map store,
//! every string cut to the plugin's string limit.

use wasmtime::component::Resource;

use super::state::PluginState;
use crate::maps::{MapError, MapId, MapKind, PluginMaps};
use crate::wit::wasmtrace::plugin::maps::{
    Counter, Gauge, Host, HostCounter, HostGauge, HostLog2Histogram, HostStackCounter, Log2Histogram, StackCounter,
};

impl PluginState {
    fn create_map(&mut self, name: String, kind: MapKind, labels: Vec<String>) -> wasmtime::Result<u32> {
        let (name, labels) = (self.strings.cut(name), self.strings.cut_all(labels));
        let id = self
            .maps
            .lock()
            .expect("plugin maps lock")
            .create(&name, kind, labels)?;
        Ok(id.0)
    }

    fn update_map(
        &mut self,
        rep: u32,
        update: impl FnOnce(&mut PluginMaps, MapId) -> Result<(), MapError>,
    ) -> wasmtime::Result<()> {
        update(&mut self.maps.lock().expect("plugin maps lock"), MapId(rep))?;
        Ok(())
    }

    /// Updates with their keys cut to the string limit.
    fn bounded<V>(&self, updates: Vec<(Vec<String>, V)>) -> Vec<(Vec<String>, V)> {
        updates.into_iter().map(|(k, v)| (self.strings.cut_all(k), v)).collect()
    }
}

impl HostCounter for PluginState {
    fn new(&mut self, name: String, labels: Vec<String>) -> wasmtime::Result<Resource<Counter>> {
        Ok(Resource::new_own(self.create_map(name, MapKind::Counter, labels)?))
    }

    fn add(&mut self, map: Resource<Counter>, key: Vec<String>, delta: u64) -> wasmtime::Result<()> {
        let key = self.strings.cut_all(key);
        self.update_map(map.rep(), |s, id| s.add(id, &key, delta))
    }

    fn add_many(&mut self, map: Resource<Counter>, updates: Vec<(Vec<String>, u64)>) -> wasmtime::Result<()> {
        let updates = self.bounded(updates);
        self.update_map(map.rep(), |s, id| {
            updates.iter().try_for_each(|(key, delta)| s.add(id, key, *delta))
        })
    }

    /// Maps outlive their handles: the host keeps rendering them.
    fn drop(&mut self, _map: Resource<Counter>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl HostGauge for PluginState {
    fn new(&mut self, name: String, labels: Vec<String>) -> wasmtime::Result<Resource<Gauge>> {
        Ok(Resource::new_own(self.create_map(name, MapKind::Gauge, labels)?))
    }

    fn set(&mut self, map: Resource<Gauge>, key: Vec<String>, value: i64) -> wasmtime::Result<()> {
        let key = self.strings.cut_all(key);
        self.update_map(map.rep(), |s, id| s.set(id, &key, value))
    }

    fn drop(&mut self, _map: Resource<Gauge>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl HostLog2Histogram for PluginState {
    fn new(&mut self, name: String, labels: Vec<String>) -> wasmtime::Result<Resource<Log2Histogram>> {
        Ok(Resource::new_own(self.create_map(
            name,
            MapKind::Log2Histogram,
            labels,
        )?))
    }

    fn record(&mut self, map: Resource<Log2Histogram>, key: Vec<String>, value: u64) -> wasmtime::Result<()> {
        let key = self.strings.cut_all(key);
        self.update_map(map.rep(), |s, id| s.record(id, &key, value))
    }

    fn record_many(&mut self, map: Resource<Log2Histogram>, updates: Vec<(Vec<String>, u64)>) -> wasmtime::Result<()> {
        let updates = self.bounded(updates);
        self.update_map(map.rep(), |s, id| {
            updates.iter().try_for_each(|(key, value)| s.record(id, key, *value))
        })
    }

    fn drop(&mut self, _map: Resource<Log2Histogram>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl HostStackCounter for PluginState {
    fn new(&mut self, name: String, labels: Vec<String>) -> wasmtime::Result<Resource<StackCounter>> {
        Ok(Resource::new_own(self.create_map(
            name,
            MapKind::StackCounter,
            labels,
        )?))
    }

    fn add(
        &mut self,
        map: Resource<StackCounter>,
        kernel_stack: u32,
        user_stack: u32,
        key: Vec<String>,
        delta: u64,
    ) -> wasmtime::Result<()> {
        // Ids its events did not carry count as no stack: a plugin cannot
        // put others' stacks into the profiles.
        let (kernel, user) = (self.seen_stack(kernel_stack), self.seen_stack(user_stack));
        let key = self.strings.cut_all(key);
        self.update_map(map.rep(), |s, id| s.add_stacks(id, kernel, user, &key, delta))
    }

    fn drop(&mut self, _map: Resource<StackCounter>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl Host for PluginState {}
