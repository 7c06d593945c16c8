//! A plugin that reaches for stacks its events did not carry: on each tick
//! it asks the host to name stack ids 1 to 4096 and counts, in a stack
//! counter, each of them as a kernel and a user stack. `@named` counts the
//! ids that came back with frames; its own events' stacks (if any) it
//! counts honestly in `@own`.

use wasmtrace_sdk::{Config, Counter, Event, Plugin, StackCounter, plugin, stacks};

struct Stackpeek {
    named: Counter,
    forged: StackCounter,
    own: Counter,
}

impl Plugin for Stackpeek {
    const PROBES: &'static [&'static str] = &["file.open"];

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Stackpeek {
            named: Counter::new("named", &[]),
            forged: StackCounter::new("forged", &[]),
            own: Counter::new("own", &[]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        if event.header.kernel_stack != 0 || event.header.user_stack != 0 {
            self.own.add(&[], 1);
        }
    }

    fn on_tick(&mut self) {
        for id in 1..=4096 {
            if !stacks::frames(id).is_empty() {
                self.named.add(&[], 1);
            }
            self.forged.add(id, id, &[], 1);
        }
    }
}

plugin!(Stackpeek);
