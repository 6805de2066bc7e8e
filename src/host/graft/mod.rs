//! The graft: taking over the thread code of an unchanged SBCL 0.9.4.1
//! executable when the library is loaded into it.
//!
//! Upstream links `thread.o` into the `sbcl` executable: the runtime's C
//! code calls its functions directly and the Lisp core holds their fixed
//! addresses, so interposing on symbols changes nothing. But the
//! executable exports them (it is linked with `--export-dynamic`), and the
//! three globals too, which this library's own references (through its
//! GOT) already bind to. So a load-time constructor of the library, run
//! before `main` when the library comes in by `LD_PRELOAD` or a
//! `DT_NEEDED` entry, writes at the entry of each of the executable's
//! thread functions an absolute jump to the library's function of the same
//! name. From then on the library runs in host mode on the executable's
//! globals and hooks, and the executable's `thread.o` is dead code.
//!
//! Who is a candidate, decided silently (nothing is printed, nothing
//! initialised, for everyone else): the executable defines at least one of
//! the functions of 0.9.4.1's `thread.o` ([`FUNCTIONS`]) in its dynamic
//! symbol table, and it is not this library's code linked into the
//! executable (the static library: then this constructor runs inside the
//! executable, or the executable defines `link_thread`, which 0.9.4.1 does
//! not have). Every C program and every other language's FFI is not one.
//!
//! For a candidate, everything is checked before a single byte is written
//! ([`plan`]): each function is the executable's, a function, and long
//! enough for the jump; the library has its own of each; the three globals
//! are the executable's and the ones the library's code uses; `all_threads`
//! is NULL (no thread yet: a load by `dlopen` into a running runtime is
//! refused); every hook of host mode resolves to the executable; each page
//! to write is executable code whose protection is known. Any mismatch,
//! and a system that refuses writable code, gives one line on stderr that
//! says what did not match and that the executable's own thread code stays
//! in charge; nothing is changed then (`patch.rs`: all or
//! nothing, protections restored exactly). `SBTHREAD_GRAFT=0` turns the
//! graft off; `sbthread_is_grafted()` tells whether it happened;
//! `SBTHREAD_TRACE=1` prints one line saying what was grafted.

use core::ffi::CStr;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

use self::dl::{Kind, Own, Span};
use self::patch::JUMP_LEN;
use crate::diag::trace::trace;

pub(super) mod dl;
pub(super) mod patch;

/// The exported functions of SBCL 0.9.4.1's `thread.o` (its only other
/// definition, `create_thread_struct`, is local).
const FUNCTIONS: [&CStr; 9] = [
    c"create_initial_thread",
    c"create_thread",
    c"create_os_thread",
    c"new_thread_trampoline",
    c"reap_dead_thread",
    c"interrupt_thread",
    c"gc_stop_the_world",
    c"gc_start_the_world",
    c"check_sig_stop_for_gc_can_arrive_or_lose",
];

/// A function of this library that 0.9.4.1's `thread.o` does not have: an
/// executable that defines it has this library's thread code linked in.
const OURS_ONLY: &CStr = c"link_thread";

/// Whether the executable's thread functions jump to ours.
static GRAFTED: AtomicBool = AtomicBool::new(false);

/// Whether the process was grafted at load time.
pub(crate) fn is_grafted() -> bool {
    GRAFTED.load(Ordering::Acquire)
}

/// At load time (`init.rs`'s constructor): grafts if the executable is a
/// candidate and everything checks out; otherwise says why, or (not a
/// candidate) does nothing at all.
pub(crate) fn at_load() {
    let Some(exe) = candidate() else { return };
    crate::diag::trace::configure_from_env();
    if std::env::var_os("SBTHREAD_GRAFT").is_some_and(|v| v == "0") {
        trace!(1, "graft: off (SBTHREAD_GRAFT=0): the executable's own thread code stays in charge");
        return;
    }
    crate::diag::fault::arm_from_env();
    match plan(exe) {
        Ok(plan) => apply(&plan),
        Err(problems) => problems.print(),
    }
}

/// An address of this library's code (to find the object it is part of).
fn anchor() -> usize {
    at_load as fn() as usize
}

/// Whether `name` is a function the executable defines (not merely
/// takes the address of).
fn exe_function(exe: Span, name: &CStr) -> bool {
    dl::global(name).is_some_and(|d| exe.contains(d.addr) && matches!(d.kind, Kind::Function(_)))
}

/// The executable's span if it is a candidate for the graft (see the
/// module comment); None, silently, otherwise.
fn candidate() -> Option<Span> {
    let exe = dl::executable()?;
    if exe.contains(anchor()) || exe_function(exe, OURS_ONLY) {
        return None;
    }
    FUNCTIONS.iter().any(|name| exe_function(exe, name)).then_some(exe)
}

/// What the graft found wrong, formatted as the one line it prints.
struct Problems {
    line: String,
    count: usize,
}

impl Problems {
    fn new() -> Self {
        Problems { line: "libsbthread: not grafted, the executable's own thread code stays in charge: ".into(), count: 0 }
    }

    fn add(&mut self, what: core::fmt::Arguments<'_>) {
        if self.count > 0 {
            self.line.push_str("; ");
        }
        let _ = self.line.write_fmt(what);
        self.count += 1;
    }

    fn print(mut self) {
        self.line.push('\n');
        write_stderr(self.line.as_bytes());
    }
}

fn write_stderr(bytes: &[u8]) {
    // SAFETY: writing a buffer we own to fd 2.
    unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
}

/// What the graft will do: each entry of the executable and our function.
struct Plan {
    own: Own,
    patches: Vec<(usize, usize)>,
}

/// Every check, before anything is written.
fn plan(exe: Span) -> Result<Plan, Problems> {
    let mut problems = Problems::new();
    let own = Own::find(anchor());
    if own.is_none() {
        problems.add(format_args!("the dynamic linker cannot name libsbthread's own object"));
    }
    let mut patches = Vec::with_capacity(FUNCTIONS.len());
    let mut undefined = String::new();
    for name in FUNCTIONS {
        let n = name.to_str().unwrap_or("?");
        let entry = match dl::global(name) {
            Some(d) if !exe.contains(d.addr) => {
                undefined.push(' ');
                undefined.push_str(n);
                None
            }
            Some(dl::Definition { addr, kind: Kind::Function(size) }) if size >= JUMP_LEN as u64 => Some(addr),
            Some(dl::Definition { kind: Kind::Function(size), .. }) => {
                problems.add(format_args!("the executable's {n} is {size} bytes, too small for the {JUMP_LEN}-byte jump"));
                None
            }
            Some(_) => {
                problems.add(format_args!("the executable's {n} is not a function in its dynamic symbol table"));
                None
            }
            None => {
                problems.add(format_args!("nothing defines {n}"));
                None
            }
        };
        let target = own.as_ref().and_then(|o| o.lookup(name));
        if own.is_some() && target.is_none() {
            problems.add(format_args!("libsbthread's own {n} is not found"));
        }
        if let (Some(entry), Some(target)) = (entry, target) {
            patches.push((entry, target));
        }
    }
    if !undefined.is_empty() {
        problems.add(format_args!("the executable does not define{undefined}"));
    }
    check_globals(exe, &mut problems);
    check_hooks(exe, &mut problems);
    if problems.count == 0 {
        let entries: Vec<usize> = patches.iter().map(|&(e, _)| e).collect();
        if let Err(e) = patch::check(&entries) {
            problems.add(format_args!("{e}"));
        }
    }
    match own {
        Some(own) if problems.count == 0 => Ok(Plan { own, patches }),
        _ => Err(problems),
    }
}

/// The globals are the executable's, the library's code uses those, and
/// no thread exists yet.
fn check_globals(exe: Span, problems: &mut Problems) {
    use crate::legacy::globals;
    let ours: [(&CStr, usize); 3] = [
        (c"all_threads", core::ptr::addr_of!(globals::all_threads) as usize),
        (c"all_threads_lock", core::ptr::addr_of!(globals::all_threads_lock) as usize),
        (c"dynamic_values_bytes", core::ptr::addr_of!(globals::dynamic_values_bytes) as usize),
    ];
    for (name, used) in ours {
        let n = name.to_str().unwrap_or("?");
        match dl::global(name) {
            Some(d) if exe.contains(d.addr) && d.kind == Kind::Data => {
                if d.addr != used {
                    problems.add(format_args!("libsbthread's code uses another {n} than the executable's"));
                }
            }
            _ => problems.add(format_args!("the executable does not define the variable {n}")),
        }
    }
    if !globals::all_threads.load(Ordering::Acquire).is_null() {
        problems.add(format_args!(
            "the runtime's threads are already running (all_threads is set): libsbthread was loaded too late to take over"
        ));
    }
}

/// Every hook of host mode resolves to the executable.
fn check_hooks(exe: Span, problems: &mut Problems) {
    let (mut missing, mut elsewhere) = (String::new(), String::new());
    for (name, addr) in crate::legacy::hooks::hook_addresses() {
        if addr == 0 {
            missing.push(' ');
            missing.push_str(name);
        } else if !exe.contains(addr) {
            elsewhere.push(' ');
            elsewhere.push_str(name);
        }
    }
    if !missing.is_empty() {
        problems.add(format_args!("the executable does not define the runtime hooks{missing}"));
    }
    if !elsewhere.is_empty() {
        problems.add(format_args!("hooks defined outside the executable:{elsewhere}"));
    }
}

/// Writes the jumps, or says why it could not.
fn apply(plan: &Plan) {
    // SAFETY: `plan` checked that each entry is the start of a function of
    // the executable of at least JUMP_LEN bytes, and each target our
    // function of the same name (the same C signature: the library exports
    // thread.o's ABI). No thread runs the entries: no runtime thread exists
    // yet (all_threads is NULL), and at load time only the loading thread
    // runs.
    match unsafe { patch::write_jumps(&plan.patches) } {
        Err(e) => {
            let mut problems = Problems::new();
            problems.add(format_args!("{e}; nothing was changed"));
            problems.print();
        }
        Ok(unrestored) => {
            GRAFTED.store(true, Ordering::Release);
            if unrestored > 0 {
                write_stderr(b"libsbthread: warning: grafted, but the protection of a page of code could not be restored\n");
            }
            say_grafted(plan);
        }
    }
}

/// The trace line, and a warning if the runtime's `sigwaitinfo` calls
/// reach libc's before ours: `host/resume_wait.rs` needs the library ahead of
/// libc in the lookup order (an interposer ahead of both, such as ASan's,
/// passes the call on to the next definition, ours).
fn say_grafted(plan: &Plan) {
    let sigwait_ours = dl::in_libc(c"sigwaitinfo").is_none_or(|libc| dl::loaded_before(anchor(), libc));
    if !sigwait_ours {
        write_stderr(
            b"libsbthread: warning: the runtime's sigwaitinfo is libc's, not libsbthread's (libsbthread comes after libc \
in the lookup order): a stop's resume wait keeps 0.9.4.1's behaviour on EINTR; load libsbthread ahead of libc \
(LD_PRELOAD, or patchelf --add-needed, which puts it first)\n",
        );
    }
    if crate::diag::trace::enabled(1) {
        let names: Vec<&str> = FUNCTIONS.iter().map(|n| n.to_str().unwrap_or("?")).collect();
        trace!(
            1,
            "grafted: the executable's {} jump to {}; host mode on the executable's globals and hooks; sigwaitinfo {}",
            names.join(" "),
            plan.own.file_name().to_string_lossy(),
            if sigwait_ours { "is libsbthread's" } else { "is NOT libsbthread's" }
        );
    }
}
