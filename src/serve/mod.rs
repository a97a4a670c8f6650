//! `vigil serve`: many cameras in one process, one detector pool, HTTP and MQTT. (Being written.)

pub mod http;
