//! The variables the switch owns: facts of the call and results of verbs.
//!
//! They can be read anywhere (`${caller_id}`) but not assigned: `set`, `read` and `http`'s
//! `set` refuse them, and `language` has its own verb so the prompt lookup always follows it.

/// Variables the interpreter sets, with what they hold (for the docs and hints).
pub const BUILTIN_VARS: [(&str, &str); 13] = [
    ("caller_id", "the caller's number (From), e.g. +33612345678"),
    (
        "caller_name",
        "the caller's display name, when the trunk sends one",
    ),
    ("dnis", "the dialled number"),
    (
        "trunk",
        "the trunk the call came in on (empty for internal calls)",
    ),
    ("call_id", "the switch's id for this call"),
    (
        "language",
        "the caller's language (fr, en): set with the `language` verb",
    ),
    (
        "http_status",
        "status code of the last `http` answer (empty on no answer)",
    ),
    (
        "dial_status",
        "outcome of the last `dial`: answered, busy, no-answer, unavailable, failed",
    ),
    ("dial_code", "SIP status of a failed `dial`"),
    (
        "overflow_reason",
        "why the last `enqueue` gave the call back: max-wait, no-agents, full, key",
    ),
    (
        "overflow_key",
        "the exit key that took the caller out of the last `enqueue`",
    ),
    ("record_path", "file of the last `record` / `voicemail`"),
    ("record_duration", "length in seconds of the last recording"),
];

/// Whether `name` is set by the switch (a built-in, or a pattern capture `0`…`99`).
#[must_use]
pub fn is_read_only(name: &str) -> bool {
    BUILTIN_VARS.iter().any(|(n, _)| *n == name)
        || (!name.is_empty() && name.len() <= 2 && name.bytes().all(|b| b.is_ascii_digit()))
}
