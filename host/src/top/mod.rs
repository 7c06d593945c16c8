//! `wasmtrace top`: the same session as `run`, shown as a full-screen view
//! that refreshes every interval (probes, plugins, the selected plugin's
//! maps, and a feed of rows, findings and logs). Quitting restores the
//! terminal and lets the session finish as `run` does, so the final maps
//! print on stdout.

mod app;
mod draw;
mod feed;

use std::io::{self, IsTerminal};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};

use crate::config::Config;
use crate::maps::MapRegistry;
use crate::prometheus::SharedStats;
use app::{App, Key, Sample};
pub use feed::{Feed, capture_logs, log_writer};

/// `top` draws on a terminal; on anything else it says to use `run`.
pub fn check_terminal() -> anyhow::Result<()> {
    if !io::stdout().is_terminal() {
        anyhow::bail!(
            "wasmtrace top draws a full-screen view, but its output is not a terminal (a pipe or a file): \
             use `wasmtrace run` to print rows, findings and maps there"
        );
    }
    match std::env::var("TERM") {
        Ok(term) if !term.is_empty() && term != "dumb" => Ok(()),
        term => anyhow::bail!(
            "wasmtrace top needs a terminal that can draw a full-screen view, and TERM is {}: \
             set TERM (e.g. xterm-256color), or use `wasmtrace run`",
            term.map_or_else(|_| "not set".to_string(), |t| format!("{t:?}"))
        ),
    }
}

/// The view, drawn by a thread of its own while the session runs.
pub struct View {
    closing: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl View {
    pub fn open(config: Config, maps: MapRegistry, stats: SharedStats, feed: Feed) -> io::Result<View> {
        let closing = Arc::new(AtomicBool::new(false));
        let flag = closing.clone();
        feed.set_showing(true);
        let thread = std::thread::Builder::new()
            .name("top".into())
            .spawn(move || show(&config, &maps, &stats, &feed, &flag))?;
        Ok(View {
            closing,
            thread: Some(thread),
        })
    }

    /// Restores the terminal if the person has not quit already (the
    /// session ended on its own).
    pub fn close(mut self) -> io::Result<()> {
        self.closing.store(true, Ordering::SeqCst);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the view's thread panicked")),
            None => Ok(()),
        }
    }
}

/// Raw mode and the alternate screen, undone when dropped (also on a panic).
struct Screen;

impl Screen {
    fn enter() -> io::Result<Screen> {
        enable_raw_mode()?;
        execute!(io::stdout(), EnterAlternateScreen)?;
        Ok(Screen)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen, ratatui::crossterm::cursor::Show);
    }
}

fn show(config: &Config, maps: &MapRegistry, stats: &SharedStats, feed: &Feed, closing: &AtomicBool) -> io::Result<()> {
    let screen = Screen::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    let mut app = App::new();
    let result = draw_until_quit(&mut terminal, &mut app, config, maps, stats, feed, closing);
    drop(screen);
    feed.set_showing(false);
    if app.quit {
        // The session stops as on Ctrl-C, and prints its final maps on the restored terminal.
        // SAFETY: kill with our own pid and a valid signal.
        unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
    }
    result
}

fn draw_until_quit(
    terminal: &mut Terminal<CrosstermBackend<io::Stdout>>,
    app: &mut App,
    config: &Config,
    maps: &MapRegistry,
    stats: &SharedStats,
    feed: &Feed,
    closing: &AtomicBool,
) -> io::Result<()> {
    let mut next_sample = Instant::now();
    let mut lines = Vec::new();
    while !app.quit && !closing.load(Ordering::SeqCst) {
        if Instant::now() >= next_sample {
            app.update(Sample {
                at: Instant::now(),
                published: stats.lock().expect("stats lock").clone(),
                maps: maps.snapshot(),
            });
            next_sample = Instant::now() + config.output.interval;
        }
        if !app.paused {
            lines = feed.newest_first();
        }
        terminal.draw(|frame| draw::screen(frame, app, config, &lines))?;
        if event::poll(Duration::from_millis(100))?
            && let Event::Key(k) = event::read()?
            && k.kind == KeyEventKind::Press
            && let Some(key) = key_of(k.code, k.modifiers)
        {
            app.key(key);
        }
    }
    Ok(())
}

fn key_of(code: KeyCode, modifiers: KeyModifiers) -> Option<Key> {
    Some(match code {
        KeyCode::Char('c') if modifiers.contains(KeyModifiers::CONTROL) => Key::Quit,
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Tab => Key::Tab,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        _ => return None,
    })
}
