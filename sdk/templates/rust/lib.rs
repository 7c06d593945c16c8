//! {{name}}: counts file opens per command (`@opens[comm]`). Make it yours.

use wasmtrace_sdk::{Body, Config, Counter, Event, Plugin, plugin};

struct Main {
    opens: Counter,
}

impl Plugin for Main {
    const PROBES: &'static [&'static str] = &["file.open"];

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Main { opens: Counter::new("opens", &["comm"]) })
    }

    fn on_event(&mut self, event: &Event) {
        if let Body::FileOpen(_) = event.body {
            self.opens.add(&[event.header.comm], 1);
        }
    }
}

plugin!(Main);
