//! A TOML configuration, read both as `vigil track --config` and as `vigil serve --config` read it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::config::Config;
use vigil::serve::ServeConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text) {
        // An accepted configuration is a valid one.
        assert!(config.validate().is_ok());
    }
    let _ = ServeConfig::parse(text);
});
