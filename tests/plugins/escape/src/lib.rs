//! Tries to get out of its sandbox when it starts, and reports each try as
//! a finding (rule = what it tried; fields `ok` and `detail`).
//!
//! Config: `file` (a path to read), `env` (a variable to read),
//! `connect` (an address such as "127.0.0.1:9").

use std::time::{SystemTime, UNIX_EPOCH};

use wasmtrace_sdk::{Config, Event, Finding, Plugin, Severity, plugin};

struct Escape;

fn report(what: &str, result: Result<String, String>) {
    let (ok, detail) = match result {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    Finding::new(Severity::Info, what, "sandbox probe")
        .field("ok", ok)
        .field("detail", detail)
        .emit();
}

impl Plugin for Escape {
    const PROBES: &'static [&'static str] = &[];

    fn init(config: &Config) -> Result<Self, String> {
        if let Some(file) = config.text("file")? {
            report("file", std::fs::read_to_string(file).map_err(|e| e.to_string()));
        }
        if let Some(var) = config.text("env")? {
            report("env", std::env::var(var).map_err(|e| e.to_string()));
        }
        report(
            "clock",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs().to_string())
                .map_err(|e| e.to_string()),
        );
        if let Some(addr) = config.text("connect")? {
            report(
                "connect",
                std::net::TcpStream::connect(addr)
                    .map(|_| "connected".into())
                    .map_err(|e| e.to_string()),
            );
        }
        Ok(Escape)
    }

    fn on_event(&mut self, _event: &Event) {}
}

plugin!(Escape);
