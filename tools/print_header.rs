//! Prints the C header cbindgen generated during the build, so that
//! `make header` can refresh the checked-in `include/sbthread.h` and
//! `make check-header` can compare the two.

fn main() {
    print!("{}", include_str!(concat!(env!("OUT_DIR"), "/sbthread.h")));
}
