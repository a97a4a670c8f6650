//! A labels file (one class name a line) and a `--classes` list looked up in it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::labels::Labels;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (names, classes) = text.split_once('\0').unwrap_or((text, "person"));
    if let Ok(labels) = Labels::parse(names) {
        assert!(!labels.is_empty());
        if let Ok(ids) = labels.ids_of(classes) {
            assert!(ids.iter().all(|&i| i < labels.len()));
        }
    }
});
