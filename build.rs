//! Build script:
//! 1. compiles the weak-reference shim (`src/legacy/shim.c`) with `cc`;
//! 2. runs bindgen over `ffi/host_hooks.h` (the hook signatures the Rust
//!    side calls with) and `ffi/legacy_thread.h` (the independent C layout
//!    description `src/layout.rs` compares the Rust types with);
//! 3. runs cbindgen to generate the public header into `$OUT_DIR`;
//! 4. gives the shared library its SONAME.

use std::env;
use std::path::PathBuf;

/// Major version in the SONAME; bump when the ABI changes incompatibly.
const SONAME: &str = "libsbthread.so.0";

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let ffi = crate_dir.join("ffi");

    for watched in [
        "ffi/host_hooks.h",
        "ffi/legacy_thread.h",
        "src/legacy/shim.c",
        "cbindgen.toml",
        "src",
    ] {
        println!("cargo:rerun-if-changed={watched}");
    }

    cc::Build::new()
        .file("src/legacy/shim.c")
        .include(&ffi)
        .flag("-fvisibility=hidden")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("sbthread_shim");

    bindgen::Builder::default()
        .header(ffi.join("host_hooks.h").to_string_lossy())
        .allowlist_type("sbthread_host_table")
        .allowlist_function("sbthread_shim_.*")
        .allowlist_var("SBTHREAD_HOST_HOOK_COUNT")
        .blocklist_type("thread|alloc_region|interrupt_data|os_context_t|sigset_t|__sigset_t|pthread_key_t|lispobj|boolean|os_vm_address_t|os_vm_size_t")
        .raw_line("#[allow(unused_imports)]")
        .raw_line("use crate::legacy::types::{AllocRegion as alloc_region, InterruptData as interrupt_data, Thread as thread, boolean, lispobj, os_context_t, os_vm_address_t, os_vm_size_t};")
        .raw_line("#[allow(unused_imports)]")
        .raw_line("use libc::{pthread_key_t, sigset_t};")
        .layout_tests(false)
        .generate()
        .expect("bindgen: ffi/host_hooks.h")
        .write_to_file(out_dir.join("host_hooks.rs"))
        .expect("write host_hooks.rs");

    bindgen::Builder::default()
        .header(ffi.join("legacy_thread.h").to_string_lossy())
        .allowlist_type("thread|alloc_region")
        .allowlist_var("STATE_.*|MAX_INTERRUPTS|UNBOUND_MARKER_WIDETAG|INTERRUPT_DATA_SIZE|NIL|T")
        .opaque_type("os_context_t|ucontext_t|pthread_t")
        .derive_debug(false)
        .derive_copy(false)
        .layout_tests(true)
        .generate()
        .expect("bindgen: ffi/legacy_thread.h")
        .write_to_file(out_dir.join("legacy_thread.rs"))
        .expect("write legacy_thread.rs");

    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml");
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header")
        .write_to_file(out_dir.join("sbthread.h"));

    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{SONAME}");
}
