//! Stacks: interned on the event path (a record's frames → a small id, equal
//! stacks one id for the whole session), named off it by a thread of their
//! own, once per stack. Plugins count by id and ask for names only when
//! they need them; the host renders, folds and profiles by name.

mod child;
mod copies;
mod namer;
mod proc_maps;
pub mod profile;

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use crate::wit::wasmtrace::plugin::stacks::Frame;

/// Stacks kept per session: beyond it a new stack gets id 0 (none), and is
/// counted. At most 127 addresses each: ~70 MB of addresses at worst, and
/// the names (`MAX_NAME_BYTES`).
const MAX_STACKS: usize = 1 << 16;
/// Bytes of names held for all stacks together: past it, new stacks keep
/// their bare addresses (a binary's names are its author's to make long).
const MAX_NAME_BYTES: usize = 256 << 20;
/// How long a reader waits for a stack's names before it takes the bare
/// addresses (a plugin's call has a wall-clock budget).
const NAME_WAIT: Duration = Duration::from_millis(500);

/// Whose addresses a stack's are: the kernel's, or one process's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Space {
    Kernel,
    User(u32),
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Key {
    space: Space,
    addrs: Box<[u64]>,
}

struct Entry {
    key: Arc<Key>,
    names: Option<Arc<[Frame]>>,
}

#[derive(Default)]
struct Table {
    ids: HashMap<Arc<Key>, u32>,
    /// Entry `id - 1`.
    entries: Vec<Entry>,
    /// New stacks given id 0 because the table was full.
    refused: u64,
    namer: Option<Sender<u32>>,
    /// Stacks handed to the namer and not named yet.
    pending: usize,
    /// Bytes of the names held, as `name_bytes` counts them.
    name_bytes: usize,
    /// Stacks left unnamed because the names held reached `MAX_NAME_BYTES`.
    unnamed: u64,
    /// A reader waited `NAME_WAIT` in vain: until the namer catches up,
    /// readers take bare addresses at once (a binary slow to parse must not
    /// hold every later reader for as long).
    behind: bool,
}

/// The session's stacks.
pub struct Stacks {
    table: Mutex<Table>,
    named: Condvar,
    /// What the namer has taken so far.
    cache: Mutex<namer::Cache>,
}

/// The process's stack table: one session runs per process, and the
/// decoder, every plugin's worker and the outputs share it.
pub fn table() -> &'static Stacks {
    static TABLE: OnceLock<Stacks> = OnceLock::new();
    TABLE.get_or_init(|| Stacks {
        table: Mutex::new(Table::default()),
        named: Condvar::new(),
        cache: Mutex::new(namer::Cache::default()),
    })
}

impl Stacks {
    /// The id of a stack (innermost frame first); 0 when it is empty or the
    /// table is full. A new stack is handed to the namer.
    pub fn intern(&'static self, space: Space, addrs: &[u64]) -> u32 {
        if addrs.is_empty() {
            return 0;
        }
        let key = Key {
            space,
            addrs: addrs.into(),
        };
        let mut t = self.table.lock().expect("stack table lock");
        if let Some(&id) = t.ids.get(&key) {
            return id;
        }
        if t.entries.len() >= MAX_STACKS {
            t.refused += 1;
            return 0;
        }
        let key = Arc::new(key);
        t.entries.push(Entry {
            key: key.clone(),
            names: None,
        });
        let id = t.entries.len() as u32;
        t.ids.insert(key, id);
        let namer = t.namer.get_or_insert_with(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("stack-namer".into())
                .spawn(move || self.name_all(rx))
                .expect("starting the stack namer");
            tx
        });
        if namer.send(id).is_ok() {
            t.pending += 1;
        }
        id
    }

    /// The namer's loop: each new stack named once, by a child process
    /// (`child`), those of one process together while it still runs. In a
    /// replay, or outside the host's pid namespace, the pids and kernel
    /// addresses are not this host's now: stacks keep their addresses.
    fn name_all(&'static self, ids: Receiver<u32>) {
        let mut namers = child::Namers::default();
        let live = crate::whoami::in_initial_pid_namespace();
        while let Ok(first) = ids.recv() {
            let batch: Vec<u32> = std::iter::once(first).chain(ids.try_iter()).collect();
            let keys: Vec<(u32, Arc<Key>)> = {
                let t = self.table.lock().expect("stack table lock");
                batch
                    .iter()
                    .map(|&id| (id, t.entries[id as usize - 1].key.clone()))
                    .collect()
            };
            let named = match live && named_live() {
                true => {
                    let stacks: Vec<_> = keys.iter().map(|(id, k)| (*id, k.space, &k.addrs[..])).collect();
                    namers.name(&stacks)
                }
                false => keys.iter().map(|(id, k)| (*id, namer::bare(&k.addrs))).collect(),
            };
            let mut t = self.table.lock().expect("stack table lock");
            for (id, frames) in named {
                let bytes: usize = frames.iter().map(name_bytes).sum();
                let entry = id as usize - 1;
                let frames = match t.name_bytes + bytes <= MAX_NAME_BYTES {
                    true => {
                        t.name_bytes += bytes;
                        frames
                    }
                    false => {
                        t.unnamed += 1;
                        namer::bare(&t.entries[entry].key.addrs)
                    }
                };
                t.entries[entry].names = Some(frames.into());
            }
            t.pending = t.pending.saturating_sub(keys.len());
            if t.pending == 0 {
                t.behind = false;
            }
            drop(t);
            self.named.notify_all();
            *self.cache.lock().expect("stack cache lock") = namers.cache;
        }
    }

    /// A stack's frames, innermost first, named (waiting a moment for the
    /// namer); empty for id 0 or an unknown id.
    pub fn frames(&self, id: u32) -> Arc<[Frame]> {
        let deadline = Instant::now() + NAME_WAIT;
        let mut t = self.table.lock().expect("stack table lock");
        loop {
            let Some(entry) = id.checked_sub(1).and_then(|i| t.entries.get(i as usize)) else {
                return Arc::new([]);
            };
            if let Some(names) = &entry.names {
                return names.clone();
            }
            let now = Instant::now();
            if t.behind || now >= deadline {
                let bare = namer::bare(&entry.key.addrs).into();
                t.behind = true;
                return bare;
            }
            t = self.named.wait_timeout(t, deadline - now).expect("stack table lock").0;
        }
    }

    /// Waits until every stack interned so far is named, or `limit` has
    /// passed: at exit, before the maps are rendered under the output lock.
    pub fn settle(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut t = self.table.lock().expect("stack table lock");
        while t.pending > 0 {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            t = self.named.wait_timeout(t, deadline - now).expect("stack table lock").0;
        }
    }

    /// What the session's stacks took, for its end: said when there were any.
    pub fn summary(&self) -> Option<String> {
        let (held, refused, unnamed) = {
            let t = self.table.lock().expect("stack table lock");
            (t.entries.len(), t.refused, t.unnamed)
        };
        let cache = *self.cache.lock().expect("stack cache lock");
        (held > 0).then(|| {
            let mut full = match refused {
                0 => String::new(),
                n => format!(
                    "; {n} new stacks were counted without a stack: the table holds {MAX_STACKS} (filter the probe)"
                ),
            };
            if unnamed > 0 {
                full += &format!(
                    "; {unnamed} stacks keep their addresses: their names would pass {} MiB",
                    MAX_NAME_BYTES >> 20
                );
            }
            format!(
                "{held} distinct stacks, named in {:.1?} from {} binaries ({:.1} MiB of copies){full}",
                cache.took,
                cache.binaries,
                cache.bytes as f64 / (1 << 20) as f64
            )
        })
    }
}

/// What a named frame holds: its strings and the rest.
fn name_bytes(f: &Frame) -> usize {
    std::mem::size_of::<Frame>() + f.function.len() + f.module.len() + f.build_id.len() + f.file.len()
}

/// Whether stacks are named from this host as it runs now: not in a
/// replay, whose pids were other processes' and kernel another boot's.
static NAME_LIVE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

pub fn name_live_stacks(on: bool) {
    NAME_LIVE.store(on, std::sync::atomic::Ordering::Relaxed);
}

fn named_live() -> bool {
    NAME_LIVE.load(std::sync::atomic::Ordering::Relaxed)
}

/// The child's side of naming: `wasmtrace stack-namer`.
pub fn serve_namer() -> anyhow::Result<()> {
    child::serve()
}

/// A frame as bpftrace prints one: `function+offset`, or `module+0xoffset`
/// when the function is unknown, or the bare address when the module is too.
pub fn frame_text(f: &Frame) -> String {
    let inlined = if f.inlined { " (inlined)" } else { "" };
    match (f.function.is_empty(), f.module.is_empty()) {
        (false, _) => format!("{}+{}{inlined}", f.function, f.offset),
        (true, false) => format!("{}+{:#x}", base_name(&f.module), f.offset),
        (true, true) => format!("{:#x}", f.offset),
    }
}

/// The last part of a module's path, as profiles name modules.
pub fn base_name(module: &str) -> &str {
    module.rsplit('/').next().unwrap_or(module)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, module: &str, offset: u64) -> Frame {
        Frame {
            function: function.into(),
            offset,
            module: module.into(),
            build_id: String::new(),
            file: String::new(),
            line: 0,
            inlined: false,
        }
    }

    #[test]
    fn frames_print_as_bpftrace_prints_them_and_never_as_nothing() {
        assert_eq!(frame_text(&frame("do_sys_openat2", "kernel", 84)), "do_sys_openat2+84");
        assert_eq!(
            frame_text(&frame("", "/usr/lib/libc.so.6", 0x2a1ca)),
            "libc.so.6+0x2a1ca"
        );
        assert_eq!(frame_text(&frame("", "", 0x7f00_0000_1000)), "0x7f0000001000");
    }

    #[test]
    fn equal_stacks_share_an_id_and_processes_do_not() {
        let t = table();
        let a = t.intern(Space::User(4_000_001), &[1, 2, 3]);
        assert_ne!(a, 0);
        assert_eq!(t.intern(Space::User(4_000_001), &[1, 2, 3]), a);
        assert_ne!(t.intern(Space::User(4_000_002), &[1, 2, 3]), a);
        assert_ne!(t.intern(Space::Kernel, &[1, 2, 3]), a);
        assert_eq!(t.intern(Space::Kernel, &[]), 0);
        assert!(t.frames(0).is_empty());
        assert!(t.frames(u32::MAX).is_empty());
        // A process that does not exist: every frame still says something.
        let frames = t.frames(a);
        assert_eq!(frames.len(), 3);
        assert!(frames.iter().all(|f| !frame_text(f).is_empty()));
    }
}
