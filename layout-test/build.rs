//! Generates two ctest suites against `../ffi/legacy_thread.h` (the C
//! description of the legacy layout, independent of the Rust side):
//! `good.rs` checks the library's own `src/legacy/types.rs`, `wrong.rs` a
//! deliberately wrong binding (`src/wrong.rs`).
//!
//! ctest compiles the C half with the C compiler and links it into the
//! binaries; the Rust half compares sizes, alignments, offsets, field
//! sizes, volatile qualifiers and constant values at run time.

use ctest::TestGenerator;

fn configure(cfg: &mut TestGenerator) {
    cfg.header("legacy_thread.h").include("../ffi").edition(2024);
    // Rust names -> the legacy C names.
    cfg.rename_struct_ty(|ty| match ty {
        "Thread" => Some("struct thread".to_string()),
        "AllocRegion" => Some("struct alloc_region".to_string()),
        "InterruptData" => Some("struct interrupt_data".to_string()),
        _ => None,
    });
    // `volatile_lispobj` is the Rust spelling of C's `volatile lispobj`.
    cfg.rename_type(|ty| (ty == "volatile_lispobj").then(|| "lispobj".to_string()));
    cfg.volatile_struct_field(|s, f| {
        s.ident() == "Thread" && matches!(f.ident(), "state" | "interrupt_fun_lock")
    });
    cfg.rename_constant(|c| {
        let legacy = match c.ident() {
            "SBTHREAD_UNBOUND_MARKER" => "UNBOUND_MARKER_WIDETAG",
            other => other.strip_prefix("SBTHREAD_")?,
        };
        Some(legacy.to_string())
    });
    // Library extensions with no legacy counterpart.
    cfg.skip_const(|c| c.ident().starts_with("SBTHREAD_SYM_"));
    cfg.skip_struct(|s| matches!(s.ident(), "InterruptData" | "SbthreadClosure" | "SbthreadStats" | "SbthreadRoots"));
    // The Rust side only handles pointers to a context (`c_void`), the C side
    // has the full `ucontext_t`; `volatile_lispobj` has no C typedef (it is
    // a qualifier there). Their uses in struct fields are still checked.
    cfg.skip_alias(|t| matches!(t.ident(), "os_context_t" | "volatile_lispobj" | "SbthreadRootsVisitor" | "SbthreadBlockingFn"));
    cfg.skip_roundtrip(|_| true);
}

fn main() {
    println!("cargo:rerun-if-changed=../src/legacy/types.rs");
    println!("cargo:rerun-if-changed=../ffi/legacy_thread.h");
    println!("cargo:rerun-if-changed=src/wrong.rs");
    let mut good = TestGenerator::new();
    configure(&mut good);
    ctest::generate_test(&mut good, "../src/legacy/types.rs", "good.rs").expect("ctest: good binding");
    let mut wrong = TestGenerator::new();
    configure(&mut wrong);
    ctest::generate_test(&mut wrong, "src/wrong.rs", "wrong.rs").expect("ctest: wrong binding");
}
