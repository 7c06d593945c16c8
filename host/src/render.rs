//! Text rendering in bpftrace's style: `@name[key]: value` lines sorted by
//! value, and log2 histograms as `@` bars. Map names and keys come from
//! plugins and events, so they are escaped for the terminal.

use std::fmt::Write;

use crate::escape;
use crate::maps::{Log2Hist, Map, StackKey, Values};
use crate::stacks;

const BAR_WIDTH: u64 = 52;
/// Bytes of one stack counter's text: a long stack counted under many keys
/// is printed once per key, as bpftrace prints it.
const MAX_STACK_TEXT: usize = 16 << 20;

/// A plugin's maps, as bpftrace prints them at exit. Empty maps are skipped.
pub fn maps(maps: &[Map]) -> String {
    let mut out = String::new();
    for map in maps.iter().filter(|m| !m.values.is_empty()) {
        match &map.values {
            Values::Counter(m) => scalar_lines(&mut out, &map.name, m.iter().map(|(k, v)| (k, *v as i128))),
            Values::Gauge(m) => scalar_lines(&mut out, &map.name, m.iter().map(|(k, v)| (k, *v as i128))),
            Values::Log2Histogram(m) => {
                for (key, hist) in m {
                    let _ = writeln!(out, "@{}{}:", escape::terminal(&map.name), key_suffix(key));
                    out.push_str(&histogram(hist));
                    out.push('\n');
                }
            }
            Values::StackCounter(m) => {
                // Largest last, as the scalars; what would pass the bound is
                // the smallest, said in one line first.
                let mut entries: Vec<_> = m.iter().collect();
                entries.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
                let mut lines = Vec::new();
                let mut bytes = 0;
                for (key, n) in &entries {
                    let line = format!("@{}{}: {n}\n", escape::terminal(&map.name), stack_key(key));
                    bytes += line.len();
                    if bytes > MAX_STACK_TEXT {
                        break;
                    }
                    lines.push(line);
                }
                if lines.len() < entries.len() {
                    let left = entries.len() - lines.len();
                    let _ = writeln!(
                        out,
                        "@{}: {left} smaller entries left out (over {} MiB of stacks)",
                        escape::terminal(&map.name),
                        MAX_STACK_TEXT >> 20
                    );
                }
                out.extend(lines.into_iter().rev());
                out.push('\n');
            }
        }
    }
    out
}

/// Sorted by value, then key, ascending: the largest lands last, nearest the prompt.
fn scalar_lines<'a>(out: &mut String, name: &str, entries: impl Iterator<Item = (&'a Vec<String>, i128)>) {
    let mut entries: Vec<_> = entries.collect();
    entries.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(b.0)));
    for (key, value) in entries {
        let _ = writeln!(out, "@{}{}: {value}", escape::terminal(name), key_suffix(key));
    }
    out.push('\n');
}

/// `[part, part]`, escaped for the terminal; nothing for a scalar map.
pub fn key_suffix(key: &[String]) -> String {
    if key.is_empty() {
        String::new()
    } else {
        let parts: Vec<_> = key.iter().map(|p| escape::terminal(p)).collect();
        format!("[{}]", parts.join(", "))
    }
}

/// `[` then each stack a frame per line, then the key's parts, `]`: as
/// bpftrace prints `@[kstack, ustack, comm]`. Frames come from binaries
/// anyone may write, so they are escaped as keys are.
pub fn stack_key(key: &StackKey) -> String {
    let mut parts: Vec<String> = [key.kernel, key.user]
        .into_iter()
        .filter(|&id| id != 0)
        .map(|id| {
            let frames = stacks::table().frames(id);
            let lines: String = frames
                .iter()
                .map(|f| format!("        {}\n", escape::terminal(&stacks::frame_text(f))))
                .collect();
            format!("\n{lines}")
        })
        .collect();
    parts.extend(key.key.iter().map(|p| escape::terminal(p).into_owned()));
    format!("[{}]", parts.join(", "))
}

/// `1024` → `1K`, as bpftrace labels buckets.
fn short(n: u64) -> String {
    const UNITS: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    let mut n = n;
    let mut unit = 0;
    while n >= 1024 && n.is_multiple_of(1024) {
        n /= 1024;
        unit += 1;
    }
    format!("{n}{}", UNITS[unit])
}

fn bucket_label(b: usize) -> String {
    match b {
        0 => "[0]".to_string(),
        1 => "[1]".to_string(),
        64 => format!("[{}, ...)", short(Log2Hist::lower_bound(64))),
        _ => format!(
            "[{}, {})",
            short(Log2Hist::lower_bound(b)),
            short(Log2Hist::lower_bound(b + 1))
        ),
    }
}

/// The rows from the lowest to the highest non-empty bucket.
pub fn histogram(hist: &Log2Hist) -> String {
    let mut out = String::new();
    let used = |b: &usize| hist.buckets[*b] > 0;
    let (Some(lo), Some(hi)) = ((0..65).find(used), (0..65).rfind(used)) else {
        return out;
    };
    let max = hist.buckets[lo..=hi].iter().copied().max().unwrap_or(1).max(1);
    for b in lo..=hi {
        let count = hist.buckets[b];
        let bar = (count * BAR_WIDTH).div_ceil(max) as usize;
        let _ = writeln!(
            out,
            "{:<16}{count:>8} |{:<width$}|",
            bucket_label(b),
            "@".repeat(bar),
            width = BAR_WIDTH as usize
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::{MapKind, MapQuota, PluginMaps};

    #[test]
    fn a_long_stack_under_many_keys_prints_within_its_bound() {
        let addrs: Vec<u64> = (0..127).map(|i| 0xffff_ffff_8100_0000 + i * 0x1000).collect();
        let kernel = stacks::table().intern(stacks::Space::Kernel, &addrs);
        let quota = MapQuota {
            maps: 1,
            keys_per_map: 20_000,
            bytes: 1 << 30,
        };
        let mut p = PluginMaps::new("p", quota);
        let id = p.create("samples", MapKind::StackCounter, vec!["comm".into()]).unwrap();
        for i in 0..20_000u64 {
            p.add_stacks(id, kernel, 0, &[format!("c{i}")], i + 1).unwrap();
        }
        let text = maps(p.maps());
        assert!(text.len() <= MAX_STACK_TEXT + 4096, "{} bytes", text.len());
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with("@samples: ") && first.contains("smaller entries left out"),
            "{first}"
        );
        // The largest are kept, the largest last.
        assert!(
            text.trim_end().ends_with(", c19999]: 20000"),
            "{}",
            &text[text.len() - 200..]
        );
    }

    fn store() -> PluginMaps {
        let quota = MapQuota {
            maps: 8,
            keys_per_map: 8,
            bytes: 1 << 20,
        };
        PluginMaps::new("p", quota)
    }

    #[test]
    fn counters_sorted_by_value_like_bpftrace() {
        let mut s = store();
        let id = s.create("opens", MapKind::Counter, vec!["comm".into()]).unwrap();
        s.add(id, &["cat".into()], 12).unwrap();
        s.add(id, &["bash".into()], 3).unwrap();
        s.add(id, &["awk".into()], 12).unwrap();
        let scalar = s.create("total", MapKind::Counter, vec![]).unwrap();
        s.add(scalar, &[], 27).unwrap();
        s.create("unused", MapKind::Counter, vec![]).unwrap();
        assert_eq!(
            maps(s.maps()),
            "@opens[bash]: 3\n@opens[awk]: 12\n@opens[cat]: 12\n\n@total: 27\n\n"
        );
    }

    #[test]
    fn multi_part_keys() {
        let mut s = store();
        let id = s.create("x", MapKind::Gauge, vec!["a".into(), "b".into()]).unwrap();
        s.set(id, &["1".into(), "2".into()], -4).unwrap();
        assert_eq!(maps(s.maps()), "@x[1, 2]: -4\n\n");
    }

    #[test]
    fn histogram_like_bpftrace() {
        let mut h = Log2Hist::default();
        for v in [0, 0, 1, 5, 6, 7, 4, 1500] {
            h.record(v);
        }
        let text = histogram(&h);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("[0]                    2 |{:<52}|", "@".repeat(26)));
        assert_eq!(lines[1], format!("[1]                    1 |{:<52}|", "@".repeat(13)));
        assert_eq!(lines[2], format!("[2, 4)                 0 |{:<52}|", ""));
        assert_eq!(lines[3], format!("[4, 8)                 4 |{}|", "@".repeat(52)));
        assert_eq!(lines[11], format!("[1K, 2K)               1 |{:<52}|", "@".repeat(13)));
        assert_eq!(lines.len(), 12);
    }

    #[test]
    fn empty_histogram_prints_nothing() {
        assert_eq!(histogram(&Log2Hist::default()), "");
    }

    #[test]
    fn short_units() {
        assert_eq!(short(512), "512");
        assert_eq!(short(1024), "1K");
        assert_eq!(short(1 << 20), "1M");
        assert_eq!(short(1 << 63), "8E");
    }
}
