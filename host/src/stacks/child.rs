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

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use super::namer::{Cache, Namer};
use super::{Frame, Space};

/// Stacks per request: a request (≤ 127 addresses each) stays well under a
/// pipe's 64 KiB, so writing it never blocks on a child that stopped reading.
const CHUNK: usize = 16;
/// How long a chunk may take to name before the child is killed.
const CHUNK_TIME: Duration = Duration::from_secs(10);
/// Bytes of one answer: 16 stacks of at most 127 frames and 8 inlined
/// frames per address, each name cut to 512 bytes.
const MAX_ANSWER: u64 = 64 << 20;
/// The child's address space: copies (1 GiB) and what parsing them takes.
const MEMORY_LIMIT: u64 = 4 << 30;

/// The parent's side: a child started when needed, again after it failed.
#[derive(Default)]
pub struct Namers {
    running: Option<Running>,
    pub cache: Cache,
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
        let mut named = Vec::with_capacity(stacks.len());
        for chunk in stacks.chunks(CHUNK) {
            let frames = self.name_chunk(chunk).unwrap_or_else(|why| {
                tracing::warn!(
                    "naming {} stacks failed ({why}): they keep their addresses",
                    chunk.len()
                );
                self.running = None;
                chunk.iter().map(|(_, _, addrs)| bare(addrs)).collect()
            });
            named.extend(chunk.iter().map(|(id, ..)| *id).zip(frames));
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

fn bare(addrs: &[u64]) -> Vec<Frame> {
    addrs.iter().map(|&a| super::namer::unnamed(a)).collect()
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
        .stderr(Stdio::inherit())
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

/// The child's side: answers requests on stdin until it closes.
pub fn serve() -> anyhow::Result<()> {
    let limit = rustix::process::Rlimit {
        current: Some(MEMORY_LIMIT),
        maximum: Some(MEMORY_LIMIT),
    };
    rustix::process::setrlimit(rustix::process::Resource::As, limit)?;
    let mut namer = Namer::new();
    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let request: Vec<(Option<u32>, Vec<u64>)> = serde_json::from_str(&line?)?;
        let stacks = request.iter().map(|(pid, addrs)| {
            let space = pid.map_or(Space::Kernel, Space::User);
            (0, space, &addrs[..])
        });
        let before = namer.cache().took;
        let frames: Vec<Value> = namer
            .name(stacks)
            .into_iter()
            .map(|(_, frames)| {
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
