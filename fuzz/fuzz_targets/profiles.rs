//! libFuzzer target: names, weights and virtual nodes under every profile (see
//! `ringroute_fuzz::profiles`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringroute_fuzz::profiles::run(data));
