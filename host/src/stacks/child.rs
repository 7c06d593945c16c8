//! Naming in a process of its own (`wasmtrace stack-namer`). The namer
//! parses binaries anyone may write, with a library whose DWARF reader
//! recurses and allocates as the file says: however such a file makes it
//! fail (a stack overflow, an allocation the memory limit refuses, a read
//! that blocks on a FUSE daemon, a parse that takes minutes), only the
//! child dies or is killed, its stacks keep their addresses, and the next
//! batch starts a new one.
//!
//! The protocol is a line of JSON each way per chunk of stacks: the request
//! `[[pid or null, [addresses]], ...]`, the answer `{"frames": [[frame, ...],
//! ...], "cache": [binaries, bytes, ms]}`, a frame being `[function, offset,
//! module, build id, file, line, inlined]`.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use super::namer::{Cache, Namer, bare};
use super::{Frame, Space};

/// Stacks per request: a request (≤ 127 addresses each) stays well under a
/// pipe's 64 KiB, so writing it never blocks on a child that stopped reading.
const CHUNK: usize = 16;
/// How long a chunk may take to name before the child is killed.
const CHUNK_TIME: Duration = Duration::from_secs(10);
/// Bytes of one answer: 16 stacks of at most 160 frames, each name cut to
/// 512 bytes (24 MiB if every byte were escaped in the JSON).
const MAX_ANSWER: u64 = 64 << 20;
/// The child's address space: copies (1 GiB) and what parsing them takes.
const MEMORY_LIMIT: u64 = 4 << 30;

/// The parent's side: a child started when needed, again after it failed.
#[derive(Default)]
pub struct Namers {
    running: Option<Running>,
    pub cache: Cache,
    /// Processes (and the kernel) a stack of which failed alone: theirs
    /// keep their addresses from then on, so that one tenant's crafted
    /// binary does not cost every later batch a new child.
    failed: HashSet<Space>,
}

struct Running {
    child: Child,
    stdin: ChildStdin,
    answers: mpsc::Receiver<Option<String>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Namers {
    /// Frames for each stack, innermost first; a stack the child could not
    /// name in time keeps its addresses.
    pub fn name(&mut self, stacks: &[(u32, Space, &[u64])]) -> Vec<(u32, Vec<Frame>)> {
        let (doomed, stacks): (Vec<_>, Vec<_>) = stacks.iter().partition(|(_, space, _)| self.failed.contains(space));
        let mut named: Vec<(u32, Vec<Frame>)> = doomed.iter().map(|(id, _, addrs)| (*id, bare(addrs))).collect();
        for chunk in stacks.chunks(CHUNK) {
            match self.name_chunk(chunk) {
                Ok(frames) => named.extend(chunk.iter().map(|(id, ..)| *id).zip(frames)),
                // Then one at a time, to find whose stack it was.
                Err(_) => {
                    self.running = None;
                    for stack in chunk {
                        let frames = self.name_chunk(std::slice::from_ref(stack)).map(|mut f| f.remove(0));
                        let frames = frames.unwrap_or_else(|why| {
                            self.running = None;
                            let whose = match stack.1 {
                                Space::Kernel => "the kernel's".to_string(),
                                Space::User(pid) => format!("process {pid}'s"),
                            };
                            tracing::warn!("naming a stack failed ({why}): {whose} stacks keep their addresses");
                            self.failed.insert(stack.1);
                            bare(stack.2)
                        });
                        named.push((stack.0, frames));
                    }
                }
            }
        }
        named
    }

    fn name_chunk(&mut self, chunk: &[(u32, Space, &[u64])]) -> Result<Vec<Vec<Frame>>, String> {
        if self.running.is_none() {
            self.running = Some(start()?);
        }
        let running = self.running.as_mut().expect("started above");
        let request: Vec<Value> = chunk
            .iter()
            .map(|(_, space, addrs)| match space {
                Space::Kernel => json!([null, addrs]),
                Space::User(pid) => json!([pid, addrs]),
            })
            .collect();
        let mut line = serde_json::to_string(&request).map_err(|e| e.to_string())?;
        line.push('\n');
        running
            .stdin
            .write_all(line.as_bytes())
            .map_err(|e| format!("the namer: {e}"))?;
        let answer = match running.answers.recv_timeout(CHUNK_TIME) {
            Ok(Some(answer)) => answer,
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => return Err("the namer exited".into()),
            Err(mpsc::RecvTimeoutError::Timeout) => return Err(format!("the namer took over {CHUNK_TIME:?}")),
        };
        let answer: Value = serde_json::from_str(&answer).map_err(|e| format!("the namer's answer: {e}"))?;
        if let Some([binaries, bytes, ms]) = answer["cache"].as_array().map(Vec::as_slice) {
            self.cache = Cache {
                binaries: binaries.as_u64().unwrap_or(0) as usize,
                bytes: bytes.as_u64().unwrap_or(0),
                took: self.cache.took + Duration::from_millis(ms.as_u64().unwrap_or(0)),
            };
        }
        let stacks = answer["frames"].as_array().filter(|s| s.len() == chunk.len());
        let stacks = stacks.ok_or("the namer's answer does not match the request")?;
        Ok(stacks
            .iter()
            .map(|frames| frames.as_array().into_iter().flatten().filter_map(frame_of).collect())
            .collect())
    }
}

fn frame_of(v: &Value) -> Option<Frame> {
    let [function, offset, module, build_id, file, line, inlined] = v.as_array()?.as_slice() else {
        return None;
    };
    Some(Frame {
        function: function.as_str()?.to_string(),
        offset: offset.as_u64()?,
        module: module.as_str()?.to_string(),
        build_id: build_id.as_str()?.to_string(),
        file: file.as_str()?.to_string(),
        line: line.as_u64()? as u32,
        inlined: inlined.as_bool()?,
    })
}

/// Starts `wasmtrace stack-namer`, whose answers a thread reads, a line at
/// a time, each at most `MAX_ANSWER` bytes.
fn start() -> Result<Running, String> {
    let exe = std::env::current_exe().map_err(|e| format!("finding wasmtrace: {e}"))?;
    let mut child = Command::new(exe)
        .arg("stack-namer")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // What it would say on failing is the parent's to say (escaped, once).
        .stderr(Stdio::null())
        // Ctrl-C is the session's, which lets naming finish what is pending.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting the namer: {e}"))?;
    let stdin = child.stdin.take().expect("piped");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let (tx, answers) = mpsc::channel();
    std::thread::Builder::new()
        .name("stack-answers".into())
        .spawn(move || {
            loop {
                let mut line = String::new();
                let read = (&mut stdout).take(MAX_ANSWER).read_line(&mut line);
                let whole = matches!(read, Ok(n) if n > 0 && line.ends_with('\n'));
                if tx.send(whole.then_some(line)).is_err() || !whole {
                    return;
                }
            }
        })
        .map_err(|e| format!("starting the namer's reader: {e}"))?;
    Ok(Running { child, stdin, answers })
}

/// The child's side: answers requests on stdin until it closes, each in
/// the request's order. It dies with wasmtrace, and dumps no core (a crash
/// is what it is for, and its memory holds others' binaries).
pub fn serve() -> anyhow::Result<()> {
    let limit = |n| rustix::process::Rlimit {
        current: Some(n),
        maximum: Some(n),
    };
    rustix::process::setrlimit(rustix::process::Resource::As, limit(MEMORY_LIMIT))?;
    // 1, not 0: a core_pattern that pipes to a program ignores 0.
    rustix::process::setrlimit(rustix::process::Resource::Core, limit(1))?;
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    let mut namer = Namer::new();
    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let request: Vec<(Option<u32>, Vec<u64>)> = serde_json::from_str(&line?)?;
        let before = namer.cache().took;
        let frames: Vec<Value> = answer(&mut namer, &request)
            .into_iter()
            .map(|frames| {
                let frames: Vec<Value> = frames
                    .into_iter()
                    .map(|f| json!([f.function, f.offset, f.module, f.build_id, f.file, f.line, f.inlined]))
                    .collect();
                Value::Array(frames)
            })
            .collect();
        let cache = namer.cache();
        let took = (cache.took - before).as_millis() as u64;
        let answer = json!({"frames": frames, "cache": [cache.binaries, cache.bytes, took]});
        let mut out = stdout.lock();
        serde_json::to_writer(&mut out, &answer)?;
        out.write_all(b"\n")?;
        out.flush()?;
    }
    Ok(())
}

/// Each requested stack's frames, in the request's order (the namer groups
/// them by process).
fn answer(namer: &mut Namer, request: &[(Option<u32>, Vec<u64>)]) -> Vec<Vec<Frame>> {
    let stacks = request.iter().enumerate().map(|(i, (pid, addrs))| {
        let space = pid.map_or(Space::Kernel, Space::User);
        (i as u32, space, &addrs[..])
    });
    let mut frames = vec![Vec::new(); request.len()];
    for (i, named) in namer.name(stacks) {
        frames[i as usize] = named;
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stacks of processes that do not exist keep their addresses: each
    /// answer must be its own request's, whatever order the namer took.
    #[test]
    fn answers_come_in_the_requests_order() {
        let request = vec![
            (Some(u32::MAX - 1), vec![0x10, 0x11]),
            (None, vec![0x20]),
            (Some(u32::MAX - 3), vec![0x30]),
            (None, vec![0x40, 0x41, 0x42]),
            (Some(u32::MAX - 2), vec![0x50]),
        ];
        let answers = answer(&mut Namer::new(), &request);
        let offsets: Vec<Vec<u64>> = answers.iter().map(|f| f.iter().map(|f| f.offset).collect()).collect();
        let asked: Vec<Vec<u64>> = request.iter().map(|(_, addrs)| addrs.clone()).collect();
        assert_eq!(offsets, asked);
    }
}
