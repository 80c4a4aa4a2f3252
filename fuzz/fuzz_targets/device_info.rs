#![no_main]

#[path = "../harness.rs"]
mod harness;

/// ASan and an optimised build: frames about 4x those of the release binary (see harness.rs).
const STACK_FACTOR: usize = 4;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::device_info(data));
