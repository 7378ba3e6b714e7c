//! switchboard-acd (first module being written).
