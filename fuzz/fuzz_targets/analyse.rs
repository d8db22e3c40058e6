//! Fuzz target: the pure analysis core must never panic or hang, whatever the
//! bytes. The 1 MiB cap keeps single inputs cheap while still exercising the
//! truncation path (libFuzzer's default `-max_len` is far below it, but
//! corpus files may be larger).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rebound::bounce::{Options, analyse_with};

fuzz_target!(|data: &[u8]| {
    let report = analyse_with(data, &Options { max_bytes: 1 << 20 });
    std::hint::black_box(report);
});
