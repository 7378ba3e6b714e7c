//! Queue and agent statistics computed from [`crate::event`]s (to be written).
