//! Phone numbers and SIP URIs are personal data (STYLE.md rule 10). Everything that logs one goes
//! through here, so an operator can switch redaction on once for the whole process.

use std::sync::atomic::{AtomicBool, Ordering};

static REDACT: AtomicBool = AtomicBool::new(false);

/// Turns redaction of numbers in logs on or off (config `log.redact_numbers`).
pub fn set_enabled(on: bool) {
    REDACT.store(on, Ordering::Relaxed);
}

/// A number or extension as it may appear in a log line: whole, or with all but the last two
/// digits masked when redaction is on.
#[must_use]
pub fn number(value: &str) -> String {
    if !REDACT.load(Ordering::Relaxed) {
        return value.to_owned();
    }
    let keep = value.chars().count().saturating_sub(2);
    value
        .chars()
        .enumerate()
        .map(|(i, c)| if i < keep { '*' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_all_but_the_last_two_characters_when_on() {
        set_enabled(true);
        assert_eq!(number("+33180000042"), "**********42");
        assert_eq!(number("7"), "7");
        set_enabled(false);
        assert_eq!(number("+33180000042"), "+33180000042");
    }
}
