//! Text that cannot hurt a terminal. Every field of an event is chosen by
//! whoever runs the traced program, and plugins are untrusted: a path holding
//! `ESC ] 0 ; … BEL` would retitle the terminal, `ESC [ 2 J` clear it, `\r\n`
//! forge a line. Text output escapes such characters so that one event is
//! always one line, and what is shown is what was there.

use std::borrow::Cow;
use std::fmt::Write;

/// Appends bytes from the kernel as text: valid UTF-8 as is, each invalid
/// byte as `\xNN`, so that no byte is lost and the result is a valid string.
pub fn push_utf8_bytes(out: &mut String, bytes: &[u8]) {
    // Nearly every kernel string is valid: one fast check, one copy.
    if let Ok(valid) = std::str::from_utf8(bytes) {
        out.push_str(valid);
        return;
    }
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

/// Whether a terminal would act on `c` rather than show it: C0 and C1
/// controls, DEL, line and paragraph separators, and the bidirectional
/// overrides and isolates that reorder what is shown ("Trojan Source").
fn acts_on_terminal(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every character a terminal would act on escaped: `\n`, `\r`,
/// `\t`, `\xNN` for the other ASCII controls, `\u{NNNN}` beyond ASCII.
pub fn terminal(s: &str) -> Cow<'_, str> {
    escaped(s, |_| false)
}

/// Like [`terminal`], for text kept in an error or a record: a plugin's
/// reason for refusing to start, say, which the host may later print with
/// [`terminal_lines`] (that keeps line breaks). No copy when nothing is escaped.
pub fn terminal_owned(s: String) -> String {
    if let Cow::Owned(escaped) = terminal(&s) {
        return escaped;
    }
    s
}

/// Like [`terminal`], but keeps line breaks: for the host's own multi-line
/// messages (a config error quoting its line), not for event or plugin data.
pub fn terminal_lines(s: &str) -> Cow<'_, str> {
    escaped(s, |c| c == '\n')
}

fn escaped(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| acts_on_terminal(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            c if !acts_on_terminal(c) || keep(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_attack_from_the_issue_is_one_inert_line() {
        let path = "/tmp/\x1b]0;PWNED\x07\x1b[2J\x1b[31mred\r\nFAKE: root login";
        assert_eq!(
            terminal(path),
            "/tmp/\\x1b]0;PWNED\\x07\\x1b[2J\\x1b[31mred\\r\\nFAKE: root login"
        );
    }

    #[test]
    fn c1_del_and_bidi_are_escaped_printable_text_is_not() {
        assert_eq!(terminal("a\u{7f}b\u{9b}c\u{202e}d"), "a\\x7fb\\u{9b}c\\u{202e}d");
        assert!(matches!(
            terminal("/usr/lib/x86_64 ünïcödé 日本 \\x41"),
            Cow::Borrowed(_)
        ));
        assert_eq!(terminal_lines("one\ntwo\r"), "one\ntwo\\r");
    }

    #[test]
    fn kept_text_cannot_start_a_line_even_where_line_breaks_are_kept() {
        let reason = terminal_owned("no\nwasmtrace: error: forged\r\x1b[2J\u{2028}".to_string());
        assert_eq!(reason, "no\\nwasmtrace: error: forged\\r\\x1b[2J\\u{2028}");
        let printed = format!("wasmtrace: error: plugin `p` refused to start: {reason}");
        assert_eq!(terminal_lines(&printed), printed);
        assert_eq!(
            terminal_owned("config key `x`: ünïcödé".into()),
            "config key `x`: ünïcödé"
        );
    }

    #[test]
    fn invalid_utf8_bytes_are_kept_as_escapes() {
        let mut out = String::from("in: ");
        push_utf8_bytes(&mut out, b"/tmp/\xff\xfeok\xc3");
        push_utf8_bytes(&mut out, "é".as_bytes());
        assert_eq!(out, "in: /tmp/\\xff\\xfeok\\xc3é");
    }

    proptest! {
        #[test]
        fn fuzz_escape_any_text_has_no_control_characters_left(s in any::<String>()) {
            let out = terminal(&s);
            prop_assert!(!out.chars().any(acts_on_terminal), "{out:?}");
        }

        #[test]
        fn fuzz_escape_any_kernel_bytes_become_valid_text(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut text = String::new();
            push_utf8_bytes(&mut text, &b);
            if let Ok(valid) = std::str::from_utf8(&b) {
                prop_assert_eq!(text, valid);
            } else {
                prop_assert!(text.contains("\\x"));
            }
        }
    }
}
