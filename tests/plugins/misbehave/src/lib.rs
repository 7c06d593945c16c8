//! A plugin that fails on purpose, as its config says, so that tests can
//! check how the host contains it.
//!
//! Config: `fail_in` = "init" | "events" | "tick" (where to fail),
//! `how` = "panic" | "reject" (init only) | "loop" | "oom" | "slow" (only
//! spins, without failing) | "sleep" (asks WASI to sleep for 34 years, then
//! goes on) | "fifo" (reads the file `path`, a FIFO nobody writes to, in a
//! folder granted to it, then goes on); in "events", each event first spins `spin`
//! rounds (300,000, ~0.2 ms, for "slow"; none otherwise unless set);
//! `after` = events to count before failing in "events"; `why` = the
//! rejection's or the panic's text, in place of the default.
//! Until it fails it counts events in `@seen`.

use wasmtrace_sdk::{Config, Counter, Event, Plugin, plugin};

struct Misbehave {
    fail_in: String,
    how: String,
    after: u64,
    spin: u64,
    why: Option<String>,
    path: String,
    seen_so_far: u64,
    seen: Counter,
}

fn fail(how: &str, why: Option<&str>, path: &str) {
    match how {
        "sleep" => std::thread::sleep(std::time::Duration::from_secs(1 << 30)),
        "fifo" => {
            let _ = std::fs::read(path);
        }
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "oom" => {
            let mut hog: Vec<Vec<u8>> = Vec::new();
            loop {
                hog.push(vec![1; 1 << 20]);
            }
        }
        _ => panic!("{}", why.unwrap_or("misbehave: failing on purpose")),
    }
}

impl Plugin for Misbehave {
    const PROBES: &'static [&'static str] = &["file.open"];

    fn init(config: &Config) -> Result<Self, String> {
        let fail_in = config.text("fail_in")?.unwrap_or("events").to_string();
        let how = config.text("how")?.unwrap_or("panic").to_string();
        let why = config.text("why")?.map(str::to_string);
        let path = config.text("path")?.unwrap_or_default().to_string();
        if fail_in == "init" {
            if how == "reject" {
                return Err(why.unwrap_or_else(|| "misbehave: config says no".into()));
            }
            fail(&how, why.as_deref(), &path);
        }
        let spin = config
            .integer("spin")?
            .unwrap_or(if how == "slow" { 300_000 } else { 0 }) as u64;
        Ok(Misbehave {
            fail_in,
            how,
            after: config.integer("after")?.unwrap_or(0) as u64,
            spin,
            why,
            path,
            seen_so_far: 0,
            seen: Counter::new("seen", &[]),
        })
    }

    fn on_event(&mut self, _event: &Event) {
        if self.fail_in == "events" {
            // Counted, not timed: a plugin's clocks are frozen.
            let mut n: u64 = 0;
            for i in 0..self.spin {
                n = std::hint::black_box(n.wrapping_add(i));
            }
            if self.how != "slow" && self.seen_so_far >= self.after {
                fail(&self.how, self.why.as_deref(), &self.path);
            }
        }
        self.seen_so_far += 1;
        self.seen.add(&[], 1);
    }

    fn on_tick(&mut self) {
        if self.fail_in == "tick" {
            fail(&self.how, self.why.as_deref(), &self.path);
        }
    }
}

plugin!(Misbehave);
