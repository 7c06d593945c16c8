//! The screen: probes and plugins on top, the selected plugin's maps, and
//! the feed of rows, findings and logs. Every string from an event or a
//! plugin is escaped for the terminal, as in text output.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};

use super::app::{App, Pane, Sort};
use crate::config::Config;
use crate::escape;
use crate::maps::{Map, Values};
use crate::render;

pub fn screen(frame: &mut Frame, app: &App, config: &Config, feed: &[String]) {
    let [top, tables, maps, lines] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(table_height(app)),
        Constraint::Fill(3),
        Constraint::Fill(2),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(status(app)), top);
    let [probes, plugins] = Layout::horizontal([Constraint::Fill(4), Constraint::Fill(5)]).areas(tables);
    probes_table(frame, app, config, probes);
    plugins_table(frame, app, plugins);
    maps_pane(frame, app, maps);
    feed_pane(frame, app, feed, lines);
}

fn table_height(app: &App) -> u16 {
    let rows = app
        .now
        .as_ref()
        .map_or(0, |s| s.published.probes.len().max(s.published.plugins.len()));
    (rows as u16 + 3).clamp(4, 14)
}

fn status(app: &App) -> String {
    let mut s = String::from("wasmtrace top — tab: pane  ↑↓: move  /: filter  s: sort  p: pause  q: quit");
    if app.paused {
        s.push_str("   [PAUSED]");
    }
    if app.editing {
        s.push_str(&format!("   filter: {}_", escape::terminal(&app.filter)));
    } else if !app.filter.is_empty() {
        s.push_str(&format!("   filter: {}", escape::terminal(&app.filter)));
    }
    s
}

fn block(title: String, focused: bool) -> Block<'static> {
    let style = if focused {
        Style::default().add_modifier(Modifier::BOLD)
    } else {
        Style::default()
    };
    Block::default().borders(Borders::ALL).title(title).border_style(style)
}

fn per_second(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".into(), |r| format!("{r:.0}"))
}

fn probes_table(frame: &mut Frame, app: &App, config: &Config, area: Rect) {
    let Some(now) = &app.now else { return };
    let rows = now.published.probes.iter().map(|p| {
        let rate = app.rate(|pub_| pub_.probes.iter().find(|q| q.probe == p.probe).map(|q| q.events));
        let dropped: u64 = now
            .published
            .plugins
            .iter()
            .flat_map(|s| s.dropped.iter())
            .filter(|(probe, _)| *probe == p.probe)
            .map(|(_, n)| n)
            .sum();
        let filter = crate::catalog::find(p.probe)
            .and_then(|c| config.probes.get(&c.id))
            .map(|f| {
                let mut parts = Vec::new();
                if !f.pids.is_empty() {
                    parts.push(format!("pid {:?}", f.pids));
                }
                if !f.uids.is_empty() {
                    parts.push(format!("uid {:?}", f.uids));
                }
                if !f.comms.is_empty() {
                    parts.push(format!("comm {}", escape::terminal(&f.comms.join(","))));
                }
                parts.join(" ")
            })
            .unwrap_or_default();
        Row::new(vec![
            p.probe.to_string(),
            per_second(rate),
            p.events.to_string(),
            p.lost.to_string(),
            dropped.to_string(),
            filter,
        ])
    });
    let widths = [
        Constraint::Length(19),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Min(8),
    ];
    let header = ["PROBE", "EV/S", "EVENTS", "LOST", "DROPPED", "FILTER"];
    frame.render_widget(table(rows, widths, header, block(" probes ".into(), false)), area);
}

/// A table with a bold header row, in its block.
fn table<'a, const N: usize>(
    rows: impl IntoIterator<Item = Row<'a>>,
    widths: [Constraint; N],
    header: [&'a str; N],
    block: Block<'a>,
) -> Table<'a> {
    Table::new(rows, widths)
        .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD)))
        .block(block)
}

fn plugins_table(frame: &mut Frame, app: &App, area: Rect) {
    let Some(now) = &app.now else { return };
    let rows = now.published.plugins.iter().enumerate().map(|(i, s)| {
        let rate = app.rate(|p| p.plugins.iter().find(|q| q.plugin == s.plugin).map(|q| q.events));
        let refused = s.refused.maps + s.refused.keys + s.refused.bytes + s.emits_refused;
        let state = match s.restart_in {
            Some(wait) => format!("down {}s", wait.as_secs() + 1),
            None => s.state.to_string(),
        };
        let row = Row::new(vec![
            escape::terminal(&s.plugin).into_owned(),
            state,
            s.reloads.to_string(),
            per_second(rate),
            s.ns_per_event().to_string(),
            s.dropped_total().to_string(),
            s.failures.to_string(),
            refused.to_string(),
        ]);
        if i == app.plugin {
            row.style(Style::default().add_modifier(Modifier::REVERSED))
        } else {
            row
        }
    });
    let widths = [
        Constraint::Min(12),
        Constraint::Length(9),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(5),
        Constraint::Length(7),
    ];
    let header = [
        "PLUGIN", "STATE", "RELOADS", "EV/S", "NS/EV", "DROPPED", "FAILS", "REFUSED",
    ];
    let block = block(" plugins ".into(), app.pane == Pane::Plugins);
    frame.render_widget(table(rows, widths, header, block), area);
}

/// A map's lines: counters and gauges one key per line (sorted as chosen),
/// log2 histograms as bpftrace draws them.
fn map_lines(map: &Map, sort: Sort) -> Vec<String> {
    let key = render::key_suffix;
    let name = escape::terminal(&map.name);
    let scalar = |mut entries: Vec<(String, i128)>| {
        if sort == Sort::Value {
            entries.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        }
        entries
            .into_iter()
            .map(|(k, v)| format!("@{name}{k}: {v}"))
            .collect::<Vec<_>>()
    };
    match &map.values {
        Values::Counter(m) => scalar(m.iter().map(|(k, v)| (key(k), i128::from(*v))).collect()),
        Values::Gauge(m) => scalar(m.iter().map(|(k, v)| (key(k), i128::from(*v))).collect()),
        Values::Log2Histogram(m) => m
            .iter()
            .flat_map(|(k, h)| {
                let bars: Vec<String> = render::histogram(h).lines().map(str::to_string).collect();
                std::iter::once(format!("@{name}{}:", key(k))).chain(bars)
            })
            .collect(),
        Values::StackCounter(m) => scalar(
            m.iter()
                .map(|(k, v)| (render::stack_key(k).replace('\n', " "), i128::from(*v)))
                .collect(),
        ),
    }
}

fn maps_pane(frame: &mut Frame, app: &App, area: Rect) {
    let selected = app.now.as_ref().and_then(|s| {
        let name = &s.published.plugins.get(app.plugin)?.plugin;
        s.maps.iter().find(|m| &m.plugin == name)
    });
    let title = match selected {
        Some(p) => format!(
            " maps of {} (sorted by {}) ",
            escape::terminal(&p.plugin),
            if app.sort == Sort::Value { "value" } else { "key" }
        ),
        None => " maps ".into(),
    };
    let lines: Vec<Line> = selected
        .map(|p| {
            p.maps()
                .iter()
                .filter(|m| !m.values.is_empty())
                .flat_map(|m| map_lines(m, app.sort).into_iter().chain([String::new()]))
                .skip(app.scroll[0])
                .map(Line::from)
                .collect()
        })
        .unwrap_or_default();
    frame.render_widget(Paragraph::new(lines).block(block(title, app.pane == Pane::Maps)), area);
}

fn feed_pane(frame: &mut Frame, app: &App, feed: &[String], area: Rect) {
    let lines: Vec<Line> = feed
        .iter()
        .filter(|l| app.filter.is_empty() || l.contains(app.filter.as_str()))
        .skip(app.scroll[1])
        .map(|l| Line::from(escape::terminal(l).into_owned()))
        .collect();
    let title = " rows, findings and logs, newest first ".to_string();
    frame.render_widget(Paragraph::new(lines).block(block(title, app.pane == Pane::Feed)), area);
}
