//! libFuzzer target: membership files in JSON and TOML (see `ringroute_fuzz::membership`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ringroute_fuzz::membership::run(data);
});
