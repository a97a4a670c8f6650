//! A MOTChallenge seqinfo.ini: whatever it says, the sequence it accepts is one vigil can size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::motchallenge::{SeqInfo, MAX_SEQ_LENGTH};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(info) = SeqInfo::parse(text, std::path::Path::new("seq")) {
        assert!(info.length <= MAX_SEQ_LENGTH);
        assert!(info.frame_rate.is_finite() && info.frame_rate > 0.0);
    }
});
