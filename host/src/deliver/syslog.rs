//! Findings as RFC 5424 syslog messages, the finding's fields as structured
//! data, to the local socket (datagrams), UDP, or TCP (RFC 6587 octet
//! counting).

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use super::{Alert, Failure, Receiver};
use crate::config::{self, SyslogAddress};
use crate::escape;

/// The structured data's id: wasmtrace has no IANA enterprise number, so
/// it uses the one RFC 5424 reserves for examples and documentation.
const SD_ID: &str = "wasmtrace@32473";

pub struct Syslog {
    config: config::Syslog,
    host: String,
    pid: u32,
    tcp: Option<TcpStream>,
    /// How many of the batch being delivered have been sent already, so a
    /// retry after a broken connection does not send them twice.
    sent: usize,
}

impl Syslog {
    pub fn new(config: &config::Syslog) -> Syslog {
        Syslog {
            config: config.clone(),
            host: super::hostname(),
            pid: std::process::id(),
            tcp: None,
            sent: 0,
        }
    }

    fn send(&mut self, message: &str) -> Result<(), String> {
        let fail = |e: std::io::Error| format!("{:?}: {e}", self.config.address);
        match &self.config.address {
            SyslogAddress::Unix(path) => {
                let socket = UnixDatagram::unbound().map_err(fail)?;
                socket.send_to(message.as_bytes(), path).map_err(fail)?;
            }
            SyslogAddress::Udp(addr) => {
                let local = if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                let socket = UdpSocket::bind(local).map_err(fail)?;
                socket.send_to(message.as_bytes(), addr).map_err(fail)?;
            }
            SyslogAddress::Tcp(addr) => {
                if self.tcp.is_none() {
                    let stream = TcpStream::connect_timeout(addr, Duration::from_secs(5)).map_err(fail)?;
                    stream.set_write_timeout(Some(Duration::from_secs(10))).map_err(fail)?;
                    self.tcp = Some(stream);
                }
                let stream = self.tcp.as_mut().expect("connected above");
                let framed = format!("{} {message}", message.len());
                if let Err(e) = stream.write_all(framed.as_bytes()) {
                    self.tcp = None;
                    return Err(fail(e));
                }
            }
        }
        Ok(())
    }

    fn message(&self, a: &Alert) -> String {
        let severity = match a.severity.as_str() {
            "critical" => 2,
            "high" => 3,
            "medium" => 4,
            "low" => 5,
            _ => 6,
        };
        let mut data = format!(
            "[{SD_ID} plugin=\"{}\" severity=\"{}\" rule=\"{}\"",
            param_value(&a.plugin),
            a.severity,
            param_value(&a.rule)
        );
        for (name, value) in &a.fields {
            let _ = write!(
                data,
                " {}=\"{}\"",
                param_name(name),
                param_value(&Alert::field_text(value))
            );
        }
        data.push(']');
        format!(
            "<{}>1 {} {} {} {} {} {data} {}",
            u32::from(self.config.facility) * 8 + severity,
            humantime::format_rfc3339_millis(a.time()),
            header_field(&self.host, 255),
            header_field(&self.config.app_name, 48),
            self.pid,
            header_field(&a.rule, 32),
            // Line-oriented collectors and files would take a line break
            // in the message for the start of another, forged, record.
            escape::terminal(&a.message)
        )
    }
}

/// A header field: printable US-ASCII, at most `max` characters, `-` if empty.
fn header_field(s: &str, max: usize) -> String {
    let s: String = s.chars().filter(|c| c.is_ascii_graphic()).take(max).collect();
    if s.is_empty() { "-".into() } else { s }
}

/// An SD-PARAM name: printable US-ASCII but `=`, space, `]` and `"`, at most 32.
fn param_name(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '=' | ']' | '"') {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    if s.is_empty() { "_".into() } else { s }
}

/// An SD-PARAM value: control characters escaped as on a terminal (a line
/// break would end the record there), then `"`, `\` and `]` escaped with a
/// backslash.
fn param_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in escape::terminal(s).chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Receiver for Syslog {
    fn deliver(&mut self, batch: &[Alert]) -> Result<(), Failure> {
        while self.sent < batch.len() {
            let message = self.message(&batch[self.sent]);
            self.send(&message).map_err(Failure::Transient)?;
            self.sent += 1;
        }
        self.sent = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sender on node-1, pid 42, in `facility`.
    fn syslog(facility: u8) -> Syslog {
        let config = config::Syslog {
            address: SyslogAddress::Udp("127.0.0.1:514".parse().unwrap()),
            facility,
            app_name: "wasmtrace".into(),
            queue: config::Queue {
                findings: 1,
                memory_bytes: 1 << 20,
                spool: None,
            },
        };
        let mut s = Syslog::new(&config);
        s.host = "node-1".into();
        s.pid = 42;
        s
    }

    #[test]
    fn rfc5424_with_structured_data_escaped() {
        let s = syslog(16);
        let alert = Alert {
            plugin: "shellspawn".into(),
            severity: "high".into(),
            rule: "shell-from-service".into(),
            message: "nginx started sh".into(),
            fields: vec![("cmd line".into(), "a\"b]c\\d".into()), ("pid".into(), 7.into())],
            at_ms: 1_700_000_000_123,
        };
        assert_eq!(
            s.message(&alert),
            "<131>1 2023-11-14T22:13:20.123Z node-1 wasmtrace 42 shell-from-service [wasmtrace@32473 \
             plugin=\"shellspawn\" severity=\"high\" rule=\"shell-from-service\" cmd_line=\"a\\\"b\\]c\\\\d\" pid=\"7\"] \
             nginx started sh"
        );
    }

    /// A plugin (or the traced program, through event data) must not forge
    /// a second record: line breaks and other controls stay in the one.
    #[test]
    fn control_characters_cannot_forge_records() {
        let s = syslog(1);
        let alert = Alert {
            plugin: "p".into(),
            severity: "low".into(),
            rule: "r".into(),
            message: "ok\n<13>1 2023-11-14T22:13:20.123Z node-1 sshd 1 - - forged\r\x00\x1b[2J\u{85}".into(),
            fields: vec![("path".into(), "/tmp/a\nb\"]".into())],
            at_ms: 1_700_000_000_123,
        };
        let message = s.message(&alert);
        assert_eq!(
            message,
            "<13>1 2023-11-14T22:13:20.123Z node-1 wasmtrace 42 r [wasmtrace@32473 plugin=\"p\" severity=\"low\" \
             rule=\"r\" path=\"/tmp/a\\\\nb\\\"\\]\"] \
             ok\\n<13>1 2023-11-14T22:13:20.123Z node-1 sshd 1 - - forged\\r\\x00\\x1b[2J\\u{85}"
        );
        assert!(!message.chars().any(char::is_control), "{message:?}");
    }
}
