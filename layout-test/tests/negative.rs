//! The layout check proves itself: the library's binding passes, and a
//! deliberately wrong one (src/wrong.rs) fails with exactly the expected
//! complaints.

use std::process::Command;

fn run(bin: &str) -> (bool, String) {
    let out = Command::new(bin).output().expect("run the generated ctest binary");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn library_binding_matches_the_legacy_layout() {
    let (ok, text) = run(env!("CARGO_BIN_EXE_layout-test"));
    assert!(ok, "the library's layout check failed:\n{text}");
    assert!(text.contains("PASSED"), "{text}");
}

#[test]
fn wrong_binding_is_caught() {
    let (ok, text) = run(env!("CARGO_BIN_EXE_layout-test-wrong"));
    assert!(!ok, "a wrong layout passed the check:\n{text}");
    for expected in [
        "bad field offset `state` of `Thread`: rust: 144 != c 128",
        "bad `Thread` size: rust: 208 != c 192",
        "bad `AllocRegion` size: rust: 48 != c 40",
        "bad `AllocRegion` align: rust: 16 != c 8",
        "bad `SBTHREAD_STATE_SUSPENDED` value at byte 0: rust: 24 (0x18) != c 16 (0x10)",
    ] {
        assert!(text.contains(expected), "missing complaint `{expected}` in:\n{text}");
    }
}
