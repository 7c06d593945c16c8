//! Naming frames with blazesym (the libbpf project's symbolizer: kallsyms,
//! ELF symbols, DWARF with inlined functions and source lines, demangling,
//! by file offset so that a binary is parsed once for every process that
//! runs it). Kernel frames from /proc/kallsyms; user frames from the
//! process's own files (its mount namespace's, so a container's), through
//! the private copies of `copies`.

use std::path::PathBuf;

use blazesym::MaybeDefault;
use blazesym::symbolize::source::{Elf, Kernel, Source};
use blazesym::symbolize::{Input, Sym, Symbolized, Symbolizer};

use super::copies::{Copies, Copy};
use super::proc_maps::{self, Mapping};
use super::{Frame, Space};

pub struct Namer {
    /// Symbolizers that read inlined functions and that do not: a binary
    /// whose DWARF nests too deep for the first is named by the second.
    symbolizer: Symbolizer,
    without_inlines: Symbolizer,
    /// The copies' generation the symbolizers were made for: when the
    /// copies start again, so do they (each holds its copies mapped).
    generation: u64,
    copies: Copies,
    /// Time spent naming, all stacks together.
    took: std::time::Duration,
}

/// A frame of which nothing is known but its address.
fn unnamed(addr: u64) -> Frame {
    frame(String::new(), addr, String::new(), String::new())
}

/// Bytes of a name kept: a binary's symbol names are its author's, and
/// every stack holds its frames' names for the whole session.
const MAX_NAME: usize = 512;
/// Inlined functions kept per address, innermost first: a binary's DWARF
/// could claim any number.
const MAX_INLINED: usize = 8;
/// Frames kept per stack, inlined ones included (the kernel gives 127
/// addresses at most).
const MAX_FRAMES: usize = 160;

fn bounded(mut name: String) -> String {
    if name.len() > MAX_NAME {
        let mut end = MAX_NAME;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name
}

/// A stack of which nothing is known but its addresses.
pub fn bare(addrs: &[u64]) -> Vec<Frame> {
    addrs.iter().map(|&a| unnamed(a)).collect()
}

fn frame(function: String, offset: u64, module: String, build_id: String) -> Frame {
    Frame {
        function: bounded(function),
        offset,
        module: bounded(module),
        build_id,
        file: String::new(),
        line: 0,
        inlined: false,
    }
}

/// Where to look a frame up: a caller's frame holds the return address,
/// the instruction after the call, which may already be the next
/// function's (a call that does not return ends its function); the
/// innermost frame holds the interrupted instruction itself.
fn lookup_addr(i: usize, addr: u64) -> u64 {
    if i == 0 { addr } else { addr.saturating_sub(1) }
}

fn symbolizer(inlines: bool) -> Symbolizer {
    Symbolizer::builder()
        .enable_inlined_fns(inlines)
        .enable_code_info(true)
        .enable_demangling(true)
        // No folder of debug files: symbols come from the binary itself.
        .set_debug_dirs(Some(Vec::<PathBuf>::new()))
        .build()
}

impl Namer {
    pub fn new() -> Namer {
        Namer {
            symbolizer: symbolizer(true),
            without_inlines: symbolizer(false),
            generation: 0,
            copies: Copies::default(),
            took: std::time::Duration::ZERO,
        }
    }

    /// Frames for each stack, innermost first.
    pub fn name<'a>(&mut self, stacks: impl Iterator<Item = (u32, Space, &'a [u64])>) -> Vec<(u32, Vec<Frame>)> {
        let started = std::time::Instant::now();
        // One process's stacks together, its maps read once and dropped after.
        let mut stacks: Vec<_> = stacks.collect();
        stacks.sort_by_key(|&(_, space, _)| match space {
            Space::Kernel => 0,
            Space::User(pid) => u64::from(pid) + 1,
        });
        let mut maps: Option<(u32, Vec<Mapping>)> = None;
        let named = stacks
            .into_iter()
            .map(|(id, space, addrs)| {
                let mut frames = match space {
                    Space::Kernel => self.kernel(addrs),
                    Space::User(pid) => {
                        if maps.as_ref().is_none_or(|(of, _)| *of != pid) {
                            maps = Some((pid, proc_maps::read(pid)));
                        }
                        let maps = maps.as_ref().map_or(&[][..], |(_, m)| &m[..]);
                        self.user(pid, maps, addrs)
                    }
                };
                frames.truncate(MAX_FRAMES);
                (id, frames)
            })
            .collect();
        self.took += started.elapsed();
        named
    }

    fn kernel(&mut self, addrs: &[u64]) -> Vec<Frame> {
        let lookups: Vec<u64> = addrs.iter().enumerate().map(|(i, &a)| lookup_addr(i, a)).collect();
        let source = Source::Kernel(Kernel {
            kallsyms: MaybeDefault::Default,
            vmlinux: MaybeDefault::None,
            debug_syms: false,
            ..Default::default()
        });
        let named = self.symbolizer.symbolize(&source, Input::AbsAddr(&lookups));
        let mut frames = Vec::new();
        for (i, &addr) in addrs.iter().enumerate() {
            match named.as_ref().ok().and_then(|n| n.get(i)) {
                Some(Symbolized::Sym(sym)) => {
                    let module = sym
                        .module
                        .as_deref()
                        .map_or("kernel".into(), |m| m.to_string_lossy().into_owned());
                    push_sym(&mut frames, sym, addr - lookup_addr(i, addr), module, String::new());
                }
                _ => frames.push(frame(String::new(), addr, "kernel".into(), String::new())),
            }
        }
        frames
    }

    fn user(&mut self, pid: u32, maps: &[Mapping], addrs: &[u64]) -> Vec<Frame> {
        let mut frames = Vec::new();
        for (i, &addr) in addrs.iter().enumerate() {
            let lookup = lookup_addr(i, addr);
            let Some(mapping) = proc_maps::find(maps, lookup) else {
                frames.push(unnamed(addr));
                continue;
            };
            let offset = mapping.file_offset(lookup);
            let module = mapping.path.clone();
            let copy = match mapping.path.starts_with('[') {
                true => None, // [vdso], [stack]: the kernel's, no file
                false => self.copies.get(pid, mapping.start, mapping.end),
            };
            if self.copies.generation != self.generation {
                (self.symbolizer, self.without_inlines) = (symbolizer(true), symbolizer(false));
                self.generation = self.copies.generation;
            }
            let Some(copy) = copy else {
                frames.push(frame(String::new(), offset, module, String::new()));
                continue;
            };
            match self.by_offset(&copy, offset) {
                Some(sym) => {
                    let adjust = addr - lookup;
                    push_sym(&mut frames, &sym, adjust, module, copy.build_id.clone());
                }
                None => frames.push(frame(
                    String::new(),
                    offset + (addr - lookup),
                    module,
                    copy.build_id.clone(),
                )),
            }
        }
        frames
    }

    /// The symbol at a file offset of a copy: from its DWARF where it has
    /// any the symbolizer reads, else from its ELF symbols.
    fn by_offset(&self, copy: &Copy, offset: u64) -> Option<Sym<'static>> {
        let symbolizer = match copy.inlines {
            true => &self.symbolizer,
            false => &self.without_inlines,
        };
        [true, false].into_iter().find_map(|debug_syms| {
            let mut elf = Elf::new(copy.path());
            elf.debug_syms = debug_syms;
            let named = symbolizer
                .symbolize_single(&Source::Elf(elf), Input::FileOffset(offset))
                .ok()?;
            match named {
                Symbolized::Sym(sym) => Some(sym.into_owned()),
                Symbolized::Unknown(_) => None,
            }
        })
    }

    /// Binaries seen, bytes of copies held, and the time naming took.
    pub fn cache(&self) -> Cache {
        Cache {
            binaries: self.copies.len(),
            bytes: self.copies.held_bytes(),
            took: self.took,
        }
    }
}

/// What naming has taken so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cache {
    pub binaries: usize,
    pub bytes: u64,
    pub took: std::time::Duration,
}

/// A symbol's frames, innermost first: the functions inlined at the
/// address (blazesym lists them outermost first; the innermost
/// `MAX_INLINED` are kept), then the function.
fn push_sym(frames: &mut Vec<Frame>, sym: &Sym<'_>, adjust: u64, module: String, build_id: String) {
    for inlined in sym.inlined.iter().rev().take(MAX_INLINED) {
        let mut f = frame(inlined.name.to_string(), 0, module.clone(), build_id.clone());
        if let Some(code) = &inlined.code_info {
            f.file = bounded(code.file.to_string_lossy().into_owned());
            f.line = code.line.unwrap_or(0);
        }
        f.inlined = true;
        frames.push(f);
    }
    let mut f = frame(sym.name.to_string(), sym.offset as u64 + adjust, module, build_id);
    if let Some(code) = &sym.code_info {
        f.file = bounded(code.file.to_string_lossy().into_owned());
        f.line = code.line.unwrap_or(0);
    }
    frames.push(f);
}
