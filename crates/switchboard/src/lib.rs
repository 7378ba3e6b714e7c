//! Switchboard library.
