//! ctest of a deliberately wrong binding (`wrong.rs`): must fail. See
//! `tests/negative.rs`.
#![allow(bad_style, dead_code, unused_imports, clippy::all)]

mod wrong;
use wrong::*;

include!(concat!(env!("OUT_DIR"), "/wrong.rs"));
