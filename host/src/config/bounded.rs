//! Values a key allows only within a range: durations, whole numbers and
//! sizes in MiB. An absent key takes its default; a value outside the range
//! is pointed at.

use std::ops::RangeInclusive;
use std::time::Duration;

use toml::Spanned;

use super::Invalid;

/// Why a duration was refused: each key words its own message.
pub(super) enum BadDuration {
    /// Not a duration humantime reads.
    Unreadable(humantime::DurationError),
    /// A duration, outside the range.
    OutOfRange,
}

/// The duration `raw` holds if within `range`, or `default` when absent.
/// `message` words a refusal from the value as written and why.
pub(super) fn duration_within(
    raw: &Option<Spanned<String>>,
    range: RangeInclusive<Duration>,
    default: Duration,
    message: impl FnOnce(&str, BadDuration) -> String,
) -> Result<Duration, Invalid> {
    let Some(s) = raw else { return Ok(default) };
    let bad = match humantime::parse_duration(s.get_ref()) {
        Ok(d) if range.contains(&d) => return Ok(d),
        Ok(_) => BadDuration::OutOfRange,
        Err(e) => BadDuration::Unreadable(e),
    };
    Err((s.span(), message(s.get_ref(), bad)))
}

/// A whole number within `range`, or `default` when absent.
pub(super) fn within(
    raw: &Option<Spanned<u32>>,
    key: &str,
    range: RangeInclusive<u32>,
    default: u32,
) -> Result<u32, Invalid> {
    match raw {
        None => Ok(default),
        Some(n) if range.contains(n.get_ref()) => Ok(*n.get_ref()),
        Some(n) => Err((
            n.span(),
            format!(
                "{key} must be from {} to {}, not {}",
                range.start(),
                range.end(),
                n.get_ref()
            ),
        )),
    }
}

/// A size given in MiB, from 1 to `max`, in bytes; or `default` bytes when absent.
pub(super) fn mib_within(raw: &Option<Spanned<u32>>, key: &str, max: u32, default: u64) -> Result<u64, Invalid> {
    within(raw, key, 1..=max, (default >> 20) as u32).map(|n| u64::from(n) << 20)
}
