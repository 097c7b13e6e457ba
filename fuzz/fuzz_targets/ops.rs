//! libFuzzer target: op sequences on a Router against a model (see `ringroute_fuzz::ops`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ringroute_fuzz::ops::run(data);
});
