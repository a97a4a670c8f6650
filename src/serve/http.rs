//! The daemon's HTTP endpoints. (Stub: being written.)
