//! Where a function is in an ELF file that someone else controls (a
//! container's copy of a library): found in the file's bytes, read once and
//! bounded, so that the file can be neither truncated under the reader (a
//! mapped file would fault) nor point it elsewhere (no debug link is
//! followed, as aya's own lookup does).

use object::{Object, ObjectSegment, ObjectSymbol};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SymbolError {
    #[error("not an ELF file: {0}")]
    NotElf(String),
    #[error("it defines no symbol `{0}`")]
    Missing(String),
    #[error("`{0}` is outside the file's loaded segments")]
    Unmapped(String),
}

/// The file offset of `symbol`'s code, as uprobes take it: its address,
/// less its segment's address, plus where that segment is in the file.
pub fn file_offset(bytes: &[u8], symbol: &str) -> Result<u64, SymbolError> {
    let file = object::File::parse(bytes).map_err(|e| SymbolError::NotElf(e.to_string()))?;
    let address = file
        .dynamic_symbols()
        .chain(file.symbols())
        .find(|s| s.is_definition() && s.name() == Ok(symbol))
        .ok_or_else(|| SymbolError::Missing(symbol.into()))?
        .address();
    file.segments()
        .find_map(|segment| {
            let start = segment.address();
            let (offset, size) = segment.file_range();
            (address >= start && address - start < size).then(|| address - start + offset)
        })
        .ok_or_else(|| SymbolError::Unmapped(symbol.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libcs_getaddrinfo_is_where_its_segment_puts_it_and_junk_is_refused() {
        let libc = std::fs::read("/lib/x86_64-linux-gnu/libc.so.6")
            .or_else(|_| std::fs::read("/lib/aarch64-linux-gnu/libc.so.6"))
            .expect("glibc");
        let offset = file_offset(&libc, "getaddrinfo").unwrap();
        // The code at that offset is the function's: its first bytes are not padding.
        assert!(offset > 0 && (offset as usize) < libc.len());
        assert_eq!(
            file_offset(&libc, "no_such_function"),
            Err(SymbolError::Missing("no_such_function".into()))
        );
        assert!(matches!(
            file_offset(b"\x7fELF\x02\x01\x01", "getaddrinfo"),
            Err(SymbolError::NotElf(_))
        ));
        // A file cut short is refused, not read past its end.
        assert!(file_offset(&libc[..4096], "getaddrinfo").is_err());
    }
}
