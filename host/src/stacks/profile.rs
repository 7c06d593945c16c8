//! Plugins' stack counters as profiles: folded stacks (the format every
//! flame-graph tool reads), a flame graph SVG (inferno), and pprof's
//! profile.proto (what `go tool pprof` reads).

use std::collections::HashMap;
use std::sync::Arc;

use prost::Message;

use super::{Frame, table};
use crate::maps::{PluginMaps, Values};

/// One counted stack: outermost part first (the key's labels, then the
/// user stack from its root, then the kernel stack), and its count.
pub struct Sample {
    pub labels: Vec<(String, String)>,
    /// Innermost frame first; shared with every other key of the same stacks.
    pub kernel: Arc<[Frame]>,
    pub user: Arc<[Frame]>,
    pub count: u64,
}

impl Sample {
    /// Its frames, innermost first, kernel ones (true) before user ones.
    fn frames(&self) -> impl DoubleEndedIterator<Item = (&Frame, bool)> {
        let kernel = self.kernel.iter().map(|f| (f, true));
        kernel.chain(self.user.iter().map(|f| (f, false)))
    }
}

/// Bytes of folded lines written: one long stack counted under many keys
/// would otherwise be written once per key, past any file a user opens.
const MAX_FOLDED_BYTES: usize = 64 << 20;

/// Every stack counter's entries, named; the map's name becomes a label
/// when more than one map holds stacks.
pub fn samples(plugins: &[PluginMaps]) -> Vec<Sample> {
    let maps: Vec<_> = plugins
        .iter()
        .flat_map(|p| p.maps())
        .filter_map(|m| match &m.values {
            Values::StackCounter(entries) => Some((m, entries)),
            _ => None,
        })
        .collect();
    let several = maps.len() > 1;
    let mut out = Vec::new();
    for (map, entries) in maps {
        for (key, &count) in entries.iter().filter(|(k, _)| k.kernel != 0 || k.user != 0) {
            let mut labels: Vec<(String, String)> = map.labels.iter().cloned().zip(key.key.iter().cloned()).collect();
            if several {
                labels.insert(0, ("map".into(), map.name.clone()));
            }
            out.push(Sample {
                labels,
                kernel: table().frames(key.kernel),
                user: table().frames(key.user),
                count,
            });
        }
    }
    out
}

/// A frame's name in a profile: the function, or `module+0xoffset`.
fn name(f: &Frame) -> String {
    match f.function.is_empty() {
        false => f.function.clone(),
        true => super::frame_text(f),
    }
}

/// A name fit for a folded line: `;` separates frames and whitespace ends
/// the stack, and the names come from the traced program's binary.
fn folded_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == ';' || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// A line's count at most: plugins set counts, and a flame graph sums its
/// lines' (the map quotas bound how many lines there are).
const MAX_COUNT: u64 = 1 << 40;

/// `label;...;user root;...;kernel leaf_[k] count` lines: Brendan Gregg's
/// folded format, kernel frames marked `_[k]` as BCC's profile marks them
/// (flame graphs colour them apart).
pub fn folded(samples: &[Sample]) -> String {
    let mut lines: HashMap<String, u64> = HashMap::new();
    for s in samples {
        let parts = s
            .labels
            .iter()
            .map(|(_, v)| folded_part(v))
            .chain(s.frames().rev().map(|(f, kernel)| {
                let n = folded_part(&name(f));
                if kernel { format!("{n}_[k]") } else { n }
            }));
        let line: Vec<String> = parts.collect();
        let n = lines.entry(line.join(";")).or_default();
        *n = n.saturating_add(s.count).min(MAX_COUNT);
    }
    let mut lines: Vec<_> = lines.into_iter().collect();
    lines.sort();
    let mut out = String::new();
    let mut left_out = 0;
    for (stack, n) in lines {
        if out.len() + stack.len() > MAX_FOLDED_BYTES {
            left_out += 1;
            continue;
        }
        out += &format!("{stack} {n}\n");
    }
    if left_out > 0 {
        tracing::warn!(
            "{left_out} folded stacks left out of the profiles: they would pass {} MiB",
            MAX_FOLDED_BYTES >> 20
        );
    }
    out
}

/// The flame graph of folded lines, as an SVG people open in a browser.
pub fn flame_graph(folded: &str, title: &str) -> Result<Vec<u8>, String> {
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_string();
    options.count_name = "samples".into();
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut options, folded.lines(), &mut svg).map_err(|e| e.to_string())?;
    Ok(svg)
}

/// pprof's profile.proto (github.com/google/pprof/proto/profile.proto),
/// the messages and fields a profile of counts uses.
mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Profile {
        #[prost(message, repeated, tag = "1")]
        pub sample_type: Vec<ValueType>,
        #[prost(message, repeated, tag = "2")]
        pub sample: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        pub mapping: Vec<Mapping>,
        #[prost(message, repeated, tag = "4")]
        pub location: Vec<Location>,
        #[prost(message, repeated, tag = "5")]
        pub function: Vec<Function>,
        #[prost(string, repeated, tag = "6")]
        pub string_table: Vec<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueType {
        #[prost(int64, tag = "1")]
        pub r#type: i64,
        #[prost(int64, tag = "2")]
        pub unit: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(uint64, repeated, tag = "1")]
        pub location_id: Vec<u64>,
        #[prost(int64, repeated, tag = "2")]
        pub value: Vec<i64>,
        #[prost(message, repeated, tag = "3")]
        pub label: Vec<Label>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(int64, tag = "1")]
        pub key: i64,
        #[prost(int64, tag = "2")]
        pub str: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Mapping {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(int64, tag = "5")]
        pub filename: i64,
        #[prost(int64, tag = "6")]
        pub build_id: i64,
        #[prost(bool, tag = "7")]
        pub has_functions: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Location {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "2")]
        pub mapping_id: u64,
        #[prost(uint64, tag = "3")]
        pub address: u64,
        #[prost(message, repeated, tag = "4")]
        pub line: Vec<Line>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Line {
        #[prost(uint64, tag = "1")]
        pub function_id: u64,
        #[prost(int64, tag = "2")]
        pub line: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Function {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(int64, tag = "2")]
        pub name: i64,
        #[prost(int64, tag = "3")]
        pub system_name: i64,
        #[prost(int64, tag = "4")]
        pub filename: i64,
    }
}

/// Strings by their index in the profile's table (0 is "").
#[derive(Default)]
struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Strings {
    fn id(&mut self, s: &str) -> i64 {
        if self.table.is_empty() {
            self.table.push(String::new());
            self.index.insert(String::new(), 0);
        }
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        self.table.push(s.to_string());
        let i = self.table.len() as i64 - 1;
        self.index.insert(s.to_string(), i);
        i
    }
}

/// The samples as a pprof profile: one location per distinct frame (by
/// module, name and offset), one mapping per module with its build id.
pub fn pprof(samples: &[Sample]) -> Vec<u8> {
    let mut strings = Strings::default();
    let mut profile = proto::Profile {
        sample_type: vec![proto::ValueType {
            r#type: strings.id("samples"),
            unit: strings.id("count"),
        }],
        ..Default::default()
    };
    let mut mappings: HashMap<(String, String), u64> = HashMap::new();
    let mut functions: HashMap<(String, String), u64> = HashMap::new();
    let mut locations: HashMap<(String, String, u64, bool), u64> = HashMap::new();
    for s in samples {
        let mut ids = Vec::new();
        for (f, kernel) in s.frames() {
            let module = if kernel && f.module.is_empty() {
                "kernel".to_string()
            } else {
                f.module.clone()
            };
            let key = (module.clone(), name(f), f.offset, f.inlined);
            let next = locations.len() as u64 + 1;
            let id = *locations.entry(key.clone()).or_insert(next);
            if id == next {
                let next_mapping = mappings.len() as u64 + 1;
                let mapping_id = *mappings
                    .entry((module.clone(), f.build_id.clone()))
                    .or_insert(next_mapping);
                if mapping_id == next_mapping {
                    profile.mapping.push(proto::Mapping {
                        id: mapping_id,
                        filename: strings.id(&module),
                        build_id: strings.id(&f.build_id),
                        has_functions: true,
                    });
                }
                let next_function = functions.len() as u64 + 1;
                let function_id = *functions
                    .entry((key.1.clone(), f.file.clone()))
                    .or_insert(next_function);
                if function_id == next_function {
                    profile.function.push(proto::Function {
                        id: function_id,
                        name: strings.id(&key.1),
                        system_name: strings.id(&key.1),
                        filename: strings.id(&f.file),
                    });
                }
                profile.location.push(proto::Location {
                    id,
                    mapping_id,
                    address: f.offset,
                    line: vec![proto::Line {
                        function_id,
                        line: i64::from(f.line),
                    }],
                });
            }
            ids.push(id);
        }
        profile.sample.push(proto::Sample {
            location_id: ids,
            value: vec![s.count.min(i64::MAX as u64) as i64],
            label: s
                .labels
                .iter()
                .map(|(k, v)| proto::Label {
                    key: strings.id(k),
                    str: strings.id(v),
                })
                .collect(),
        });
    }
    profile.string_table = strings.table;
    profile.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, module: &str) -> Frame {
        Frame {
            function: function.into(),
            offset: 4,
            module: module.into(),
            build_id: String::new(),
            file: String::new(),
            line: 0,
            inlined: false,
        }
    }

    fn sample(comm: &str, frames: &[(&str, bool)], count: u64) -> Sample {
        Sample {
            labels: vec![("comm".into(), comm.into())],
            kernel: frames.iter().filter(|(_, k)| *k).map(|&(f, _)| frame(f, "m")).collect(),
            user: frames
                .iter()
                .filter(|(_, k)| !*k)
                .map(|&(f, _)| frame(f, "m"))
                .collect(),
            count,
        }
    }

    #[test]
    fn folded_lines_go_from_the_root_and_sum_equal_stacks() {
        let samples = [
            sample("spin", &[("hot_a", false), ("main", false)], 3),
            sample("spin", &[("hot_a", false), ("main", false)], 2),
            sample("cat", &[("do_sys_openat2", true), ("open", false), ("main", false)], 1),
        ];
        assert_eq!(
            folded(&samples),
            "cat;main;open;do_sys_openat2_[k] 1\nspin;main;hot_a 5\n"
        );
    }

    #[test]
    fn hostile_names_cannot_split_a_folded_line() {
        let samples = [sample("a b;c\nd", &[("f;g h\n9", false)], 1)];
        assert_eq!(folded(&samples), "a_b_c_d;f_g_h_9 1\n");
    }

    #[test]
    fn counts_a_plugin_makes_huge_cannot_overflow_the_flame_graph() {
        let samples = [
            sample("a", &[("f", false)], u64::MAX),
            sample("a", &[("f", false)], u64::MAX),
            sample("b", &[("g", false)], 1),
        ];
        let lines = folded(&samples);
        assert_eq!(lines, format!("a;f {MAX_COUNT}\nb;g 1\n"));
        assert!(flame_graph(&lines, "t").is_ok());
    }

    #[test]
    fn a_flame_graph_names_its_frames() {
        let svg = flame_graph("spin;main;hot_a 3\nspin;main;hot_b 1\n", "t").unwrap();
        let svg = String::from_utf8(svg).unwrap();
        assert!(svg.contains("hot_a") && svg.contains("hot_b"));
    }

    #[test]
    fn a_flame_graph_escapes_what_binaries_name_their_functions() {
        let svg = flame_graph("spin;<script>alert(1)</script>;a&b\"c' 3\n", "t").unwrap();
        let svg = String::from_utf8(svg).unwrap();
        assert!(!svg.contains("<script>alert"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{svg}");
    }

    #[test]
    fn a_pprof_profile_decodes_back_with_its_functions() {
        let samples = [sample("spin", &[("hot_a", false), ("main", false)], 3)];
        let decoded = proto::Profile::decode(&pprof(&samples)[..]).unwrap();
        assert_eq!(decoded.sample.len(), 1);
        assert_eq!(decoded.sample[0].value, vec![3]);
        assert_eq!(decoded.location.len(), 2);
        let names: Vec<&str> = decoded
            .function
            .iter()
            .map(|f| decoded.string_table[f.name as usize].as_str())
            .collect();
        assert_eq!(names, ["hot_a", "main"]);
        assert_eq!(decoded.string_table[0], "");
    }
}
