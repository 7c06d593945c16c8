//! Host-owned maps. Updates made while handling a batch are buffered in the
//! plugin and sent to the host in one call per map when the batch is done.

use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::rc::{Rc, Weak};

use hashbrown::{Equivalent, HashMap};

use crate::bindings::wasmtrace::plugin::maps as host;

type Key = Vec<String>;

fn owned_key(key: &[&str]) -> Key {
    key.iter().map(|part| part.to_string()).collect()
}

/// A borrowed key that finds its owned form in a map: the sum of a key seen
/// before in the batch is updated without allocating.
struct KeyRef<'a>(&'a [&'a str]);

impl Hash for KeyRef<'_> {
    // `[&str]` hashes exactly as `[String]` does: the length, then each part.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        key.len() == self.0.len() && key.iter().zip(self.0).all(|(a, b)| a == b)
    }
}

trait Flush {
    fn flush(&self);
}

thread_local! {
    static BUFFERED: RefCell<Vec<Weak<dyn Flush>>> = const { RefCell::new(Vec::new()) };
}

fn register(map: Rc<dyn Flush>) {
    BUFFERED.with(|maps| maps.borrow_mut().push(Rc::downgrade(&map)));
}

pub(crate) fn flush_all() {
    BUFFERED.with(|maps| {
        maps.borrow_mut().retain(|map| match map.upgrade() {
            Some(map) => {
                map.flush();
                true
            }
            None => false,
        })
    });
}

struct BufferedCounter {
    handle: host::Counter,
    sums: RefCell<HashMap<Key, u64>>,
}

impl Flush for BufferedCounter {
    fn flush(&self) {
        let sums = std::mem::take(&mut *self.sums.borrow_mut());
        if !sums.is_empty() {
            self.handle.add_many(&sums.into_iter().collect::<Vec<_>>());
        }
    }
}

/// A sum per key, like bpftrace's `@name[key] = count()`.
pub struct Counter(Rc<BufferedCounter>);

impl Counter {
    /// `labels` names the parts of the key, e.g. `&["comm"]`; `&[]` for a single value.
    pub fn new(name: &str, labels: &[&str]) -> Counter {
        let map = Rc::new(BufferedCounter {
            handle: host::Counter::new(name, &owned_key(labels)),
            sums: RefCell::default(),
        });
        register(map.clone());
        Counter(map)
    }

    /// Adds `delta` to the key's sum (one part per label).
    pub fn add(&self, key: &[&str], delta: u64) {
        let mut sums = self.0.sums.borrow_mut();
        match sums.get_mut(&KeyRef(key)) {
            Some(sum) => *sum += delta,
            None => {
                sums.insert(owned_key(key), delta);
            }
        }
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        self.0.flush();
    }
}

struct BufferedHistogram {
    handle: host::Log2Histogram,
    values: RefCell<Vec<(Key, u64)>>,
}

impl Flush for BufferedHistogram {
    fn flush(&self) {
        let values = std::mem::take(&mut *self.values.borrow_mut());
        if !values.is_empty() {
            self.handle.record_many(&values);
        }
    }
}

/// A power-of-two histogram per key, like bpftrace's `@name[key] = hist(value)`.
pub struct Log2Histogram(Rc<BufferedHistogram>);

impl Log2Histogram {
    pub fn new(name: &str, labels: &[&str]) -> Log2Histogram {
        let map = Rc::new(BufferedHistogram {
            handle: host::Log2Histogram::new(name, &owned_key(labels)),
            values: RefCell::default(),
        });
        register(map.clone());
        Log2Histogram(map)
    }

    pub fn record(&self, key: &[&str], value: u64) {
        self.0.values.borrow_mut().push((owned_key(key), value));
    }
}

impl Drop for Log2Histogram {
    fn drop(&mut self) {
        self.0.flush();
    }
}

/// A count per stack and key, like bpftrace's `@name[kstack, ustack, comm] = count()`.
/// The host names the frames and writes flame graphs and pprof profiles of it.
/// Not buffered: stacks come from sampling, at a rate the host sets.
pub struct StackCounter(host::StackCounter);

impl StackCounter {
    /// `labels` name the key's parts besides the two stacks.
    pub fn new(name: &str, labels: &[&str]) -> StackCounter {
        StackCounter(host::StackCounter::new(name, &owned_key(labels)))
    }

    /// Adds `delta` to (kernel stack, user stack, key); the ids are the
    /// event header's (0: none).
    pub fn add(&self, kernel_stack: u32, user_stack: u32, key: &[&str], delta: u64) {
        self.0.add(kernel_stack, user_stack, &owned_key(key), delta);
    }
}

/// A last value per key. Not buffered: gauges are set rarely.
pub struct Gauge(host::Gauge);

impl Gauge {
    pub fn new(name: &str, labels: &[&str]) -> Gauge {
        Gauge(host::Gauge::new(name, &owned_key(labels)))
    }

    pub fn set(&self, key: &[&str], value: i64) {
        self.0.set(&owned_key(key), value);
    }
}
