//! switchboard-media (first module being written).
