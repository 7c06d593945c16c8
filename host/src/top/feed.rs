//! The output of a session shown in `top`: while the view is up, what `run`
//! would print (rows, findings) and the log lines are kept, newest last,
//! for the feed pane; once the view closes they go to stdout and stderr
//! again, so the final maps print as `run` prints them.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Lines kept for the feed pane.
const KEEP: usize = 2_000;

#[derive(Clone, Default)]
pub struct Feed {
    lines: Arc<Mutex<VecDeque<String>>>,
    showing: Arc<AtomicBool>,
}

impl Feed {
    /// The lines kept, newest first.
    pub fn newest_first(&self) -> Vec<String> {
        self.lines.lock().expect("feed lock").iter().rev().cloned().collect()
    }

    /// While true, output is kept for the view instead of printed.
    pub fn set_showing(&self, showing: bool) {
        self.showing.store(showing, Ordering::SeqCst);
    }

    fn keep(&self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let mut lines = self.lines.lock().expect("feed lock");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if lines.len() == KEEP {
                lines.pop_front();
            }
            lines.push_back(line.to_string());
        }
    }

    /// A writer for the session's output (stdout when the view is closed).
    pub fn stdout(&self) -> FeedWriter {
        FeedWriter {
            feed: self.clone(),
            to_stderr: false,
            partial: Vec::new(),
        }
    }
}

/// Writes into the feed while the view shows, else to stdout or stderr.
pub struct FeedWriter {
    feed: Feed,
    to_stderr: bool,
    /// A line written in pieces, until its end.
    partial: Vec<u8>,
}

/// A log line without the colours `tracing` gives it on a terminal. Its
/// fields are escaped already, so any ESC left is the formatter's own.
fn without_colours(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x1b && bytes.get(i + 1) == Some(&b'[') {
            i += 2;
            while i < bytes.len() && !bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            i += 1;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

impl Write for FeedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.feed.showing.load(Ordering::SeqCst) {
            self.partial.extend_from_slice(buf);
            if let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') {
                let lines: Vec<u8> = self.partial.drain(..=end).collect();
                if self.to_stderr {
                    self.feed.keep(&without_colours(&lines));
                } else {
                    self.feed.keep(&lines);
                }
            }
            Ok(buf.len())
        } else if self.to_stderr {
            io::stderr().write(buf)
        } else {
            io::stdout().write(buf)
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.to_stderr {
            io::stderr().flush()
        } else {
            io::stdout().flush()
        }
    }
}

/// The feed log lines go to while a view is up; the log writer asks it.
static LOG_FEED: OnceLock<Feed> = OnceLock::new();

/// Sends log lines to `feed` while it shows (called once, by `top`).
pub fn capture_logs(feed: &Feed) {
    let _ = LOG_FEED.set(feed.clone());
}

/// The writer for log lines: stderr, or the feed while a view shows it.
pub fn log_writer() -> Box<dyn Write> {
    match LOG_FEED.get() {
        Some(feed) => Box::new(FeedWriter {
            feed: feed.clone(),
            to_stderr: true,
            partial: Vec::new(),
        }),
        None => Box::new(io::stderr()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_newest_first_and_log_colours_dropped() {
        let feed = Feed::default();
        feed.set_showing(true);
        let mut out = feed.stdout();
        out.write_all(b"row 1\nrow").unwrap();
        out.write_all(b" 2\n").unwrap();
        let mut log = FeedWriter {
            feed: feed.clone(),
            to_stderr: true,
            partial: Vec::new(),
        };
        log.write_all(b"\x1b[33m WARN\x1b[0m plugin \\x1b said\n").unwrap();
        assert_eq!(feed.newest_first(), [" WARN plugin \\x1b said", "row 2", "row 1"]);
    }
}
