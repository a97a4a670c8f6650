//! A gt.txt and a tracker's result file (split at the first NUL byte), scored as `vigil eval`
//! scores them: parse, prepare, HOTA, CLEAR and Identity, over a sequence of up to 100 frames.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::eval::{parse_gt, parse_results, prepare, Clear, Hota, Identity};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (gt_text, res_text) = text.split_once('\0').unwrap_or((text, ""));
    let (Ok(gt), Ok(res)) = (parse_gt(gt_text), parse_results(res_text)) else {
        return;
    };
    let length = 100;
    let data = prepare(&gt, &res, length);
    let hota = Hota::evaluate(&data);
    let _ = Clear::evaluate(&data);
    let _ = Identity::evaluate(&data);
    let h = hota.mean(Hota::hota);
    assert!(h.is_nan() || (0.0..=1.0 + 1e-9).contains(&h), "HOTA {h}");
});
