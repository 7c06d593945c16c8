//! What the live view shows and how keys change it: the selected pane and
//! plugin, the maps' sort, the feed's filter, pause. No terminal here.

use std::time::Instant;

use crate::maps::PluginMaps;
use crate::prometheus::Published;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Plugins,
    Maps,
    Feed,
}

impl Pane {
    fn next(self) -> Pane {
        match self {
            Pane::Plugins => Pane::Maps,
            Pane::Maps => Pane::Feed,
            Pane::Feed => Pane::Plugins,
        }
    }
}

/// How a map's counters and gauges are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Largest first: the top N that fit.
    Value,
    /// By key, ascending.
    Key,
}

/// A key press, as far as the view cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Tab,
    Up,
    Down,
    Char(char),
    Backspace,
    Enter,
    Esc,
    Quit,
}

/// One sample of the figures, for rates between two of them.
pub struct Sample {
    pub at: Instant,
    pub published: Published,
    pub maps: Vec<PluginMaps>,
}

pub struct App {
    pub pane: Pane,
    /// Index into the plugins table.
    pub plugin: usize,
    pub sort: Sort,
    /// Lines scrolled in the maps and feed panes.
    pub scroll: [usize; 2],
    pub filter: String,
    /// Typing a filter after `/`.
    pub editing: bool,
    pub paused: bool,
    pub quit: bool,
    pub now: Option<Sample>,
    pub before: Option<Sample>,
}

impl App {
    pub fn new() -> App {
        App {
            pane: Pane::Plugins,
            plugin: 0,
            sort: Sort::Value,
            scroll: [0, 0],
            filter: String::new(),
            editing: false,
            paused: false,
            quit: false,
            now: None,
            before: None,
        }
    }

    /// A new sample, unless paused.
    pub fn update(&mut self, sample: Sample) {
        if !self.paused {
            self.before = self.now.replace(sample);
        }
    }

    pub fn key(&mut self, key: Key) {
        if self.editing {
            match key {
                Key::Char(c) => self.filter.push(c),
                Key::Backspace => {
                    self.filter.pop();
                }
                Key::Enter => self.editing = false,
                Key::Esc => {
                    self.editing = false;
                    self.filter.clear();
                }
                Key::Quit => self.quit = true,
                _ => {}
            }
            return;
        }
        let plugins = self.now.as_ref().map_or(0, |s| s.published.plugins.len());
        match key {
            Key::Quit | Key::Char('q') => self.quit = true,
            Key::Tab => self.pane = self.pane.next(),
            Key::Char('/') => {
                self.editing = true;
                self.pane = Pane::Feed;
            }
            Key::Char('s') => {
                self.sort = match self.sort {
                    Sort::Value => Sort::Key,
                    Sort::Key => Sort::Value,
                }
            }
            Key::Char('p') => self.paused = !self.paused,
            Key::Esc => self.filter.clear(),
            Key::Up | Key::Down => {
                let down = key == Key::Down;
                match self.pane {
                    Pane::Plugins if plugins > 0 => {
                        self.plugin = if down {
                            (self.plugin + 1).min(plugins - 1)
                        } else {
                            self.plugin.saturating_sub(1)
                        };
                        self.scroll[0] = 0;
                    }
                    Pane::Plugins => {}
                    Pane::Maps | Pane::Feed => {
                        let s = &mut self.scroll[usize::from(self.pane == Pane::Feed)];
                        *s = if down { *s + 1 } else { s.saturating_sub(1) };
                    }
                }
            }
            _ => {}
        }
    }

    /// Events per second between the last two samples, for `count` read from each.
    pub fn rate(&self, count: impl Fn(&Published) -> Option<u64>) -> Option<f64> {
        let (now, before) = (self.now.as_ref()?, self.before.as_ref()?);
        let seconds = now.at.duration_since(before.at).as_secs_f64();
        let delta = count(&now.published)?.saturating_sub(count(&before.published).unwrap_or(0));
        (seconds > 0.0).then(|| delta as f64 / seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_move_sort_filter_pause_and_quit() {
        let mut app = App::new();
        app.key(Key::Tab);
        assert_eq!(app.pane, Pane::Maps);
        app.key(Key::Down);
        app.key(Key::Down);
        app.key(Key::Up);
        assert_eq!(app.scroll, [1, 0]);
        app.key(Key::Char('s'));
        assert_eq!(app.sort, Sort::Key);
        app.key(Key::Char('/'));
        for c in "cat".chars() {
            app.key(Key::Char(c));
        }
        app.key(Key::Char('q'));
        assert!(!app.quit, "q while typing a filter is part of it");
        app.key(Key::Backspace);
        app.key(Key::Enter);
        assert_eq!((app.filter.as_str(), app.pane, app.editing), ("cat", Pane::Feed, false));
        app.key(Key::Char('p'));
        assert!(app.paused);
        app.key(Key::Char('q'));
        assert!(app.quit);
    }
}
