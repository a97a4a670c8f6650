//! What tracks did, derived from the tracker's output alone: pure, no I/O.

mod lifecycle;

pub use lifecycle::Lifecycle;
