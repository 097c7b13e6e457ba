//! The checks behind ringroute's fuzz targets, as plain functions of the fuzzer's bytes, so the same
//! code runs under libFuzzer (`fuzz_targets/`) and in the crate's own test suite
//! (`tests/fuzz_checks.rs` includes these files and feeds them the corpus and random inputs).

pub mod input;
pub mod membership;
pub mod ops;
pub mod profiles;
