//! The Rust SDK for wasmtrace plugins.
//!
//! A plugin is a type that implements [`Plugin`], exported with [`plugin!`]:
//!
//! ```ignore
//! use wasmtrace_sdk::{plugin, Body, Config, Counter, Event, Plugin};
//!
//! struct Opens { by_comm: Counter }
//!
//! impl Plugin for Opens {
//!     const PROBES: &'static [&'static str] = &["file.open"];
//!     fn init(_config: &Config) -> Result<Self, String> {
//!         Ok(Opens { by_comm: Counter::new("opens", &["comm", "path"]) })
//!     }
//!     fn on_event(&mut self, event: &Event) {
//!         if let Body::FileOpen(open) = event.body {
//!             self.by_comm.add(&[event.header.comm, event.text(open.path)], 1);
//!         }
//!     }
//! }
//!
//! plugin!(Opens);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release`; the `.wasm` file
//! is the component that wasmtrace loads.

// The generated bindings name their runtime by the path plugins use.
extern crate self as wasmtrace_sdk;

mod config;
mod enums;
mod event;
mod maps;
mod output;
mod tools;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin",
        default_bindings_module: "wasmtrace_sdk::bindings",
        runtime_path: "wasmtrace_sdk::__wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

// Every type of the events interface: each probe's record, its enums, `Body`.
pub use bindings::wasmtrace::plugin::events::*;
pub use bindings::wasmtrace::plugin::log::Level;
pub use bindings::wasmtrace::plugin::names;
pub use bindings::wasmtrace::plugin::output::Severity;
pub use bindings::wasmtrace::plugin::stacks;
pub use bindings::wasmtrace::plugin::types::Value;
pub use config::Config;
pub use event::{Event, Header};
pub use maps::{Counter, Gauge, Log2Histogram, StackCounter};
pub use output::{Finding, Row, log, set_columns};
pub use tools::Elapsed;

/// A wasmtrace plugin. One instance lives for the plugin's lifetime.
pub trait Plugin: Sized + 'static {
    /// The probes this plugin wants, e.g. `&["file.open"]`. The config's
    /// `probes` key overrides it.
    const PROBES: &'static [&'static str];

    /// Builds the plugin from its config table, or says why it cannot start.
    fn init(config: &Config) -> Result<Self, String>;

    /// One event. Called for each event of a batch, in order.
    fn on_event(&mut self, event: &Event);

    /// Periodic work: called every output interval and once before exit.
    fn on_tick(&mut self) {}
}

/// Exports a [`Plugin`] type as the component's entry points.
#[macro_export]
macro_rules! plugin {
    ($plugin:ty) => {
        struct __WasmtracePlugin;

        ::std::thread_local! {
            static __WASMTRACE_INSTANCE: ::std::cell::RefCell<Option<$plugin>> =
                const { ::std::cell::RefCell::new(None) };
        }

        impl $crate::bindings::Guest for __WasmtracePlugin {
            fn init(
                config: ::std::vec::Vec<(::std::string::String, $crate::__ConfigValue)>,
            ) -> ::std::result::Result<::std::vec::Vec<::std::string::String>, ::std::string::String> {
                let instance = <$plugin as $crate::Plugin>::init(&$crate::Config::new(config))?;
                __WASMTRACE_INSTANCE.with(|cell| *cell.borrow_mut() = Some(instance));
                $crate::__flush();
                Ok(<$plugin as $crate::Plugin>::PROBES
                    .iter()
                    .map(|p| p.to_string())
                    .collect())
            }

            fn on_events(batch: $crate::__Batch) {
                __WASMTRACE_INSTANCE.with(|cell| {
                    if let Some(plugin) = cell.borrow_mut().as_mut() {
                        $crate::__on_events(plugin, &batch);
                    }
                });
                $crate::__flush();
            }

            fn on_tick() {
                __WASMTRACE_INSTANCE.with(|cell| {
                    if let Some(plugin) = cell.borrow_mut().as_mut() {
                        $crate::Plugin::on_tick(plugin);
                    }
                });
                $crate::__flush();
            }
        }

        $crate::bindings::__export_plugin!(__WasmtracePlugin);
    };
}

#[doc(hidden)]
pub use bindings::wasmtrace::plugin::events::Batch as __Batch;
#[doc(hidden)]
pub use bindings::wasmtrace::plugin::types::ConfigValue as __ConfigValue;

/// Hands each event of a batch to the plugin.
#[doc(hidden)]
pub fn __on_events<P: Plugin>(plugin: &mut P, batch: &__Batch) {
    event::each(batch, |event| plugin.on_event(event));
}

/// Sends the map updates buffered during a call to the host in one crossing
/// per map, rather than one per event.
#[doc(hidden)]
pub fn __flush() {
    maps::flush_all();
}
