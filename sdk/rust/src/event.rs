//! Events as a plugin sees them: one [`Event`] at a time, its common fields
//! in a [`Header`] and its probe's record in [`Body`], whose strings are
//! [`Text`]s that [`Event::text`] reads.
//!
//! A batch crosses into the plugin as columns (one list per header field),
//! one record per event, and one byte table holding every string: nothing is
//! allocated per event or per string. This module turns that back into one
//! event at a time.

use crate::bindings::wasmtrace::plugin::events::{Batch, Body, Container, Text};

/// Fields every event carries.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// Nanoseconds since boot (CLOCK_BOOTTIME).
    pub timestamp_ns: u64,
    /// CPU the event happened on.
    pub cpu: u32,
    /// Process id (the thread-group id, what `ps` shows as PID).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Parent's process id.
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    /// Command name, at most 15 bytes (the kernel's `comm`).
    pub comm: &'a str,
    /// Id of the task's cgroup (v2).
    pub cgroup_id: u64,
    /// The container it ran in; `None` for a process of the host.
    pub container: Option<&'a Container>,
    /// The kernel stack's id, when the probe carries stacks (0: none):
    /// count by it with a [`StackCounter`](crate::StackCounter), name its
    /// frames with [`stacks::frames`](crate::stacks::frames).
    pub kernel_stack: u32,
    /// The user stack's id, as `kernel_stack`.
    pub user_stack: u32,
}

impl<'a> Header<'a> {
    /// The container's name (under Kubernetes, the container's name in its
    /// pod), or `-` for a process of the host: a CONTAINER column.
    pub fn container_name(&self) -> &'a str {
        self.container.map_or("-", |c| c.name.as_str())
    }
}

/// One event: its header, its probe's record, and the strings they point at.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub header: Header<'a>,
    pub body: &'a Body,
    text: &'a str,
}

impl<'a> Event<'a> {
    /// A string of this event's record: a path, an address, an argument.
    pub fn text(&self, t: Text) -> &'a str {
        let start = t.start as usize;
        self.text
            .get(start..start.saturating_add(t.len as usize))
            .unwrap_or_default()
    }

    /// Strings of this event's record, in order: `event.texts(&exec.argv)`.
    pub fn texts(&self, list: &'a [Text]) -> impl Iterator<Item = &'a str> + use<'a> {
        let this = *self;
        list.iter().map(move |&t| this.text(t))
    }

    /// The command name (the same as `header.comm`).
    pub fn comm(&self) -> &'a str {
        self.header.comm
    }
}

thread_local! {
    /// The index in its batch of the event being handled: rows and findings
    /// emitted meanwhile are about it, and the host adds its container.
    static CURRENT: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

/// The event being handled, for rows and findings.
pub(crate) fn current() -> Option<u32> {
    CURRENT.with(|c| c.get())
}

/// Calls `f` with each event of a batch, in order.
pub(crate) fn each(batch: &Batch, mut f: impl FnMut(&Event<'_>)) {
    // The host sends valid UTF-8; a host that did not gets lossy text, not UB.
    let lossy;
    let text = match std::str::from_utf8(&batch.text) {
        Ok(text) => text,
        Err(_) => {
            lossy = String::from_utf8_lossy(&batch.text);
            &lossy
        }
    };
    let h = &batch.headers;
    // Every column has an entry per event; a short one (a host bug) ends the batch early.
    let n = [
        batch.bodies.len(),
        h.timestamp_ns.len(),
        h.cpu.len(),
        h.pid.len(),
        h.tid.len(),
        h.ppid.len(),
        h.uid.len(),
        h.gid.len(),
        h.comm.len(),
        h.cgroup_id.len(),
        h.container.len(),
        h.kernel_stack.len(),
        h.user_stack.len(),
    ]
    .into_iter()
    .min()
    .unwrap_or(0);
    // Slicing each column to `n` lets the compiler drop the bounds checks below.
    let (bodies, timestamp_ns, cpu, pid, tid, ppid, uid, gid, comm, cgroup_id, container, kernel_stack, user_stack) = (
        &batch.bodies[..n],
        &h.timestamp_ns[..n],
        &h.cpu[..n],
        &h.pid[..n],
        &h.tid[..n],
        &h.ppid[..n],
        &h.uid[..n],
        &h.gid[..n],
        &h.comm[..n],
        &h.cgroup_id[..n],
        &h.container[..n],
        &h.kernel_stack[..n],
        &h.user_stack[..n],
    );
    for i in 0..n {
        let header = Header {
            timestamp_ns: timestamp_ns[i],
            cpu: cpu[i],
            pid: pid[i],
            tid: tid[i],
            ppid: ppid[i],
            uid: uid[i],
            gid: gid[i],
            comm: batch.comms.get(comm[i] as usize).map_or("", String::as_str),
            cgroup_id: cgroup_id[i],
            container: container[i]
                .checked_sub(1)
                .and_then(|k| batch.containers.get(k as usize)),
            kernel_stack: kernel_stack[i],
            user_stack: user_stack[i],
        };
        CURRENT.with(|c| c.set(Some(i as u32)));
        f(&Event {
            header,
            body: &bodies[i],
            text,
        });
    }
    CURRENT.with(|c| c.set(None));
}
