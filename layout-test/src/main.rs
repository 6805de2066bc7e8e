//! ctest: the library's ABI types (`src/legacy/types.rs`) against the C
//! description of the legacy layout (`ffi/legacy_thread.h`). Exits non-zero
//! on any difference.
#![allow(bad_style, dead_code, unused_imports, clippy::all)]

#[path = "../../src/legacy/types.rs"]
mod abi_types;
use abi_types::*;

include!(concat!(env!("OUT_DIR"), "/good.rs"));
