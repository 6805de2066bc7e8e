#!/usr/bin/env python3
"""make sbcl-soak: stress files on SBCL 0.9.4.1 as upstream builds it,
alone ("upstream": thread.o in the executable) and grafted ("ours": the same
executable and core with our libsbthread.so.0 LD_PRELOADed, which takes
over the executable's thread functions), taking turns: the choice a user
of that runtime makes.

    soak.py FIXTURE_DIR --seconds S --runs N [--stress FILE ...]
            [--env SBTHREAD_NAME=VALUE ...] [--reliability RELIABILITY.md]

The files are STRESSES below (sbcl/lisp/soak.lisp and the stress family
sbcl/lisp/stress-*.lisp), or those named with --stress. First,
sbcl/lisp/which-library.lisp checks that the preloaded library does take
over (the soak stops there if not: its "ours" runs would be upstream's).
Each run is a fresh process of S seconds with a time limit of S + 60 s.
With --env, ours runs with those settings of our library (a measure
switched on or off: README), and the report says so. With --keep-upstream
only ours runs; upstream's runs of the file's last soak (same seconds) are
kept and the report gives their date: a soak of a change to our library
in half the time, against the same upstream figures. Where none are kept
(build/ is not in git: a fresh clone), the report keeps the upstream rows
the replaced report had for that file, or says on stderr that it has
none. Outcomes: pass (exit 104), error (exit 1: an error in some thread, the
file's own check), fatal (any other end: the runtime's lose, a segfault, a
memory fault) or hang (the time limit: every thread's backtrace goes to
the run's log). Logs of runs that did not pass are kept in
FIXTURE_DIR/soak/FILE/. With --reliability, the results replace the
section between the "sbcl-soak" markers of that file.
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BEGIN, END = "<!-- sbcl-soak: begin -->", "<!-- sbcl-soak: end -->"

# The stress files (in sbcl/lisp/), what each varies, and the figures of its
# last line ("stress NAME: key value ...") shown as medians per run.
STRESSES = [
    ("soak.lisp", "2 creators of short-lived workers, 2 consers checking their lists, a collector calling `(gc)`"
     " every few ms, an interrupter sending interrupts and TERMINATE-THREAD to consers and workers", []),
    ("stress-poll.lisp", "issue 21's: rounds of 6 threads consing 10,000-30,000 short strings; to each at random an"
     " interrupt running inside WITHOUT-INTERRUPTS, TERMINATE-THREAD or nothing; `(gc)` every third round; the main"
     " thread conses, then polls THREAD-ALIVE-P with 1 ms sleeps", ["threads", "gcs", "accepted", "refused"]),
    ("stress-exit.lisp", "interrupts (with and without WITHOUT-INTERRUPTS) and TERMINATE-THREAD at random moments"
     " around the end of threads whose exit path conses; a collector every 1-4 ms",
     ["threads", "gcs", "accepted", "refused"]),
    ("stress-terminate.lisp", "TERMINATE-THREAD during consing and during exit (some threads twice), to short-lived"
     " workers and to long-lived consers that are replaced; `(gc)` every fourth round",
     ["workers", "gcs", "terminations", "refused"]),
    ("stress-gc.lisp", "collections started from 3 threads at once and from interrupts, 2 long-lived consers"
     " checking kept lists, 2 creators of short-lived consing threads", ["workers", "gcs", "accepted", "refused"]),
    ("stress-waitqueue.lisp", "joins by waitqueue (the worker's exit path conses, then notifies inside"
     " WITHOUT-INTERRUPTS), interrupts and terminations to workers and to creators asleep in CONDITION-WAIT,"
     " a collector every 1-5 ms", ["joins", "gcs", "accepted", "refused"]),
    ("young-code.lisp", "4 workers calling, by name, a function the main thread loads afresh from a fasl"
     " before every `(gc)`; it makes strings through ALLOCATE-VECTOR (a routine without a frame): the"
     " memory fault below, made frequent", ["rounds"]),
]

def check_grafted(fixture, lib, log):
    """Exits unless LIB, preloaded into the upstream-built runtime, is the
    thread code that runs there (sbcl/lisp/which-library.lisp)."""
    cmd = [sys.executable, os.path.join(HERE, "run_lisp.py"), "--tree", os.path.join(fixture, "upstream"),
           "--preload", lib, "--timeout", "60", "--log", log, "--label", "our library runs when preloaded",
           os.path.join(HERE, "lisp/which-library.lisp"), "grafted"]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        lines = [l for l in open(log, errors="replace").read().splitlines() if l.startswith("which-library:")]
        sys.exit("\n".join([p.stdout.splitlines()[0] if p.stdout else "which-library.lisp failed"] + lines +
                           ["the grafted runs would run upstream's thread code: nothing to compare"]))
    print(p.stdout.splitlines()[0], flush=True)


def env_options(ap, env):
    """run_lisp.py's options for ENV, the settings of our library given
    with --env (SBTHREAD_NAME=VALUE each; anything else is an error of
    the parser AP). Shared with bench.py."""
    bad = [e for e in env if not re.fullmatch(r"SBTHREAD_[A-Z_]+=\S*", e)]
    if bad:
        ap.error("--env takes SBTHREAD_NAME=VALUE settings of our library: " + ", ".join(bad))
    return [x for e in env for x in ("--env", e)]


def one_run(fixture, lib, seconds, log, lisp_file="soak.lisp", env_opts=()):
    """One run; ENV_OPTS (env_options) apply to ours only."""
    tree = os.path.join(fixture, "upstream")
    extra = ["--preload", lib] + list(env_opts) if lib else []
    cmd = [sys.executable, os.path.join(HERE, "run_lisp.py"), "--tree", tree, "--timeout", str(seconds + 60),
           "--log", log] + extra + [os.path.join(HERE, "lisp", lisp_file), str(seconds)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = p.stdout.splitlines()[0] if p.stdout else ""
    text = open(log, errors="replace").read() if os.path.exists(log) else ""
    if p.returncode != 0:
        # Keep the runner's report (on a hang: every thread's backtrace).
        with open(log, "a") as f:
            f.write("\n--- run_lisp.py ---\n" + p.stdout)
    if "(" in first and "hang)" in first:
        outcome = "hang"
    elif p.returncode == 0:
        outcome = "pass"
    elif re.search(r"exit 1\)", first) and ("soak: error in" in text or "stress: error in" in text):
        outcome = "error"
    else:
        outcome = "fatal"
    m = re.search(r"soak: ([\d.]+) s: (\d+) workers, (\d+) conses checked, (\d+) GCs, (\d+) interrupts and "
                  r"(\d+) terminations accepted \((\d+) refused", text)
    figures = dict(zip(["seconds", "workers", "conses", "gcs", "interrupts", "terminations", "refused"],
                       map(float, m.groups()))) if m else {}
    m = re.search(r"^stress \S+: (.*)$", text, re.M)
    if m:
        words = m.group(1).split()
        figures.update({k: float(v) for k, v in zip(words[::2], words[1::2]) if re.match(r"^[\d.]+$", v)})
    m = re.search(r"soak: stops that backed off: (\d+)", text)
    if m:
        figures["backoffs"] = float(m.group(1))
    m = re.search(r"soak: sleepers counted as stopped: (\d+)", text)
    if m:
        figures["adoptions"] = float(m.group(1))
    reason = ""
    if outcome != "pass":
        for pat in [r"fatal error[^\n]*\n[^\n]*", r"unhandled [^\n]*", r"(?:soak|stress): error in[^\n]*",
                    r"Segmentation fault",
                    r"attempt to THROW[^\n]*"]:
            mm = re.search(pat, text)
            if mm:
                reason = mm.group(0).replace("\n", " ").strip()
                break
        reason = reason or first
    return outcome, figures, reason, "recursive lock attempt" in text


def normalize(reason):
    """One wording per kind of failure (no pids, no paths)."""
    reason = re.sub(r"fatal error encountered in SBCL pid \d+\(tid \d+\):\s*", "", reason)
    reason = re.sub(r", round \d+:", ":", reason)
    if re.match(r"FAIL .*\(\d+ s, hang\)", reason):
        return "hang (every thread's backtrace is in the run's log)"
    m = re.match(r"FAIL .*\((\d+) s, exit (-?\d+)\)", reason)
    if m:
        reason = "killed by signal %d" % -int(m.group(2)) if int(m.group(2)) < 0 else "exit " + m.group(2)
    return reason


def summarize(results):
    rows = []
    for name in ("ours", "upstream"):
        rs = [r for r in results if r["lib"] == name]
        count = lambda o: sum(1 for r in rs if r["outcome"] == o)
        med = lambda k: sorted(r["figures"].get(k, 0) for r in rs)[len(rs) // 2] if rs else 0
        reasons = sorted({normalize(r["reason"]) for r in rs if r["reason"]})
        rows.append({"lib": name, "runs": len(rs), "pass": count("pass"), "hang": count("hang"),
                     "fatal": count("fatal"), "error": count("error"), "median_workers": med("workers"),
                     "median_gcs": med("gcs"), "median_interrupts": med("interrupts"),
                     "median_refused": med("refused"), "reasons": reasons,
                     "finalizer_lock_warnings": sum(1 for r in rs if r["warned"]),
                     "backoffs": int(sum(r["figures"].get("backoffs", 0) for r in rs)),
                     "runs_with_backoffs": sum(1 for r in rs if r["figures"].get("backoffs", 0) > 0),
                     "runs_reporting_backoffs": sum(1 for r in rs if "backoffs" in r["figures"]),
                     "adoptions": int(sum(r["figures"].get("adoptions", 0) for r in rs)),
                     "runs_with_adoptions": sum(1 for r in rs if r["figures"].get("adoptions", 0) > 0)})
    return rows


def ours_label(d, label):
    """LABEL, with the settings ours ran with (soak.py --env), if any."""
    return label + "".join(" `%s`" % e for e in (d or {}).get("env", []))


def upstream_label(d, label):
    """LABEL, with the date of upstream's runs when they were kept from an earlier soak (--keep-upstream)."""
    d = d or {}
    return label + (" (kept from an earlier soak, %s)" % d.get("upstream_date") if d.get("upstream_kept") else "")


def kept_upstream(path, seconds):
    """Upstream's runs of the results at PATH if they were S seconds long, and their date."""
    if not os.path.exists(path):
        return [], None
    with open(path) as inp:
        prev = json.load(inp)
    if prev.get("seconds") != seconds:
        return [], None
    return [r for r in prev["results"] if r["lib"] == "upstream"], prev.get("upstream_date", prev["date"])


def keep_reported_upstream(md, old):
    """With --keep-upstream on a machine that has no kept upstream runs (a
    fresh clone: build/ is not in git), the report's upstream rows would
    say 0 runs; keep instead the rows OLD (the report being replaced)
    has for the same file. A row with nothing to keep says so on stderr."""
    lines, prev = md.split("\n"), old.split("\n")

    def old_row(key_line):
        if key_line.startswith("| ours (grafted)"):
            hits = [l for l in prev if l.startswith("| upstream `thread.c` (alone)")]
            return hits[0] if hits else None
        m = re.match(r"^\| `([^`]+)`", key_line)
        if not m:
            return None
        for i, l in enumerate(prev[:-1]):
            if l.startswith("| `%s`" % m.group(1)):
                return prev[i + 1]
        return None

    for i, line in enumerate(lines):
        if "(kept from an earlier soak, None)" in line and i > 0:
            row = old_row(lines[i - 1])
            if row and "upstream" in row and "(kept from an earlier soak, None)" not in row:
                lines[i] = row
            else:
                print("soak: no upstream runs kept for the row after %r" % lines[i - 1][:60], file=sys.stderr)
    return "\n".join(lines)


def soak_markdown(rows, seconds, date, d=None):
    out = ["### `soak.lisp`",
           "",
           "%d runs of %d s each on %s: %s." % (rows[0]["runs"], seconds, date, STRESSES[0][1]),
           "",
           "| library | runs | pass | hang | fatal error | error in a thread | median per run: workers / GCs /"
           " interrupts accepted / refused | what failed |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append("| %s | %d | %d | %d | %d | %d | %d / %d / %d / %d | %s |" % (
            ours_label(d, "ours (grafted)") if r["lib"] == "ours" else upstream_label(d, "upstream `thread.c` (alone)"), r["runs"], r["pass"], r["hang"], r["fatal"],
            r["error"], r["median_workers"], r["median_gcs"], r["median_interrupts"], r["median_refused"],
            "; ".join(r["reasons"]) or "—"))
    out += ["",
            "\"Refused\" is INTERRUPT-THREAD-ERROR for a thread whose function had returned (ours says so;"
            " upstream accepts and silently loses those interrupts). Runs that printed 0.9.4.1's"
            " \"recursive lock attempt\" warning for the finalizer lock (a GC inside `%%create-thread`, where"
            " MAKE-THREAD binds `*current-thread*` to NIL: Lisp code, not the thread library): ours %d,"
            " upstream %d." % (rows[0]["finalizer_lock_warnings"], rows[1]["finalizer_lock_warnings"]),
            "",
            "Stops that backed off with ours (a thread asleep with its stop deferred, maybe on a lock held by"
            " a thread the stop had suspended; `stop_backoffs`, `src/host/stuck.rs`): %d, in %d of the %d runs"
            " that reported them (a run that died before its report does not). Sleepers counted as stopped"
            " because the stopper itself held the Lisp mutex they waited for (`stop_adoptions`,"
            " `src/host/adopt.rs`; each would otherwise have been a hang): %d, in %d runs." % (
                rows[0]["backoffs"], rows[0]["runs_with_backoffs"],
                rows[0]["runs_reporting_backoffs"], rows[0]["adoptions"], rows[0]["runs_with_adoptions"])]
    return out


def stress_rows(results, keys):
    """Per library: the outcomes, medians of KEYS and the rescues."""
    rows = []
    for name in ("ours", "upstream"):
        rs = [r for r in results if r["lib"] == name]
        count = lambda o: sum(1 for r in rs if r["outcome"] == o)
        med = lambda k: sorted(r["figures"].get(k, 0) for r in rs)[len(rs) // 2] if rs else 0
        total = lambda k: int(sum(r["figures"].get(k, 0) for r in rs))
        rows.append({"lib": name, "runs": len(rs), "pass": count("pass"), "hang": count("hang"),
                     "fatal": count("fatal"), "error": count("error"), "medians": [med(k) for k in keys],
                     "reasons": sorted({normalize(r["reason"]) for r in rs if r["reason"]}),
                     "backoffs": total("backoffs"), "adoptions": total("adoptions")})
    return rows


def family_markdown(saved):
    """One table for the stress files of the family that have results."""
    out = ["### The stress family",
           "",
           "| stress: what it varies | library | runs | pass | hang | fatal error | error in a thread |"
           " median per run | rescues (ours): back-offs / adoptions | what failed |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for f, what, keys in STRESSES:
        if f == "soak.lisp" or f not in saved:
            continue
        d = saved[f]
        for r in stress_rows(d["results"], keys):
            out.append("| %s | %s | %d | %d | %d | %d | %d | %s | %s | %s |" % (
                "`%s` (%d x %d s, %s): %s" % (f, d["runs"], d["seconds"], d["date"], what) if r["lib"] == "ours" else "",
                ours_label(d, "ours") if r["lib"] == "ours" else upstream_label(d, "upstream `thread.c`"), r["runs"], r["pass"], r["hang"],
                r["fatal"], r["error"], " / ".join("%s %d" % (k, v) for k, v in zip(keys, r["medians"])),
                "%d / %d" % (r["backoffs"], r["adoptions"]) if r["lib"] == "ours" else "—",
                "; ".join(r["reasons"]) or "—"))
    return out


# What the stress family found, with the evidence (kept with the figures).
FINDINGS = [
    "**Hang (issue 21), root cause: a three-thread deadlock in 0.9.4.1's Lisp code; fixed in the library.** A"
    " hung `stress-poll.lisp` run (library before the fix; `run_lisp.py` report): the stopper is a worker whose"
    " allocation started a collection (it holds `*already-in-gc*`, SUB-GC's `with-mutex`) and waits in"
    " `host_stuck::back_off` (now `host/stop.rs`); a dying thread (SigBlk and SigPnd both have SIG_STOP_FOR_GC)"
    " sleeps in FUTEX_WAIT on `*all-threads-lock*` in HANDLE-THREAD-EXIT (`*gc-inhibit*` bound, blockables"
    " blocked); the main thread sleeps in FUTEX-WAIT inside MAKE-THREAD (its new thread spins, state R, in `(loop"
    " until setup-p)`): the PUSH under `(with-mutex (*all-threads-lock*) ...)` allocated, started a collection"
    " and waits for `*already-in-gc*`; two more workers wait for `*already-in-gc*` too. So: stopper waits for the"
    " dying thread, which waits for the main thread, which waits for the stopper. Backing off resumed the main"
    " thread, which went back to sleep on the stopper's mutex; adoption looked only for a holder that is the"
    " stopper. Now a sleeper whose Lisp mutex is held by the stopper, by a suspended or dead thread, or by"
    " another such sleeper is counted as stopped, decided once every other thread is stopped (nothing that could"
    " release the mutex runs before `gc_start_the_world`, which pops every adopted context before resuming"
    " anyone; `host/adopt.rs adopt_sleepers`). `sbcl/lisp/gc-behind-lock.lisp` makes the same cycle"
    " deterministically (a collector holding a mutex the main thread waits for under `*all-threads-lock*`):"
    " before the fix it hung in round 1 with the same stall warning (futex dump: the dying thread on"
    " `*all-threads-lock*` whose value is the main thread's instance, the main thread on the collector's mutex);"
    " after it, 10 rounds, 10 adoptions; upstream's library hangs in round 1. Upstream's own hangs in this stress"
    " were `sig_stop_for_gc_handler: wrong thread state on wakeup: 2` (the EINTR resume wait that"
    " `host/resume_wait.rs` retries). Back-off keeps a test of its own: `backoff-waitqueue.lisp` (a sleeper in"
    " CONDITION-WAIT inside WITHOUT-GCING that only a suspended thread notifies; upstream hangs).",
    "**Memory faults (issue 21), root cause: 0.9.4.1's collector does not scan the word at a stopped thread's"
    " stack pointer; prevented by the library.** `stress-poll.lisp` ended with MEMORY-FAULT-ERROR in a worker in"
    " about one run of ours in six, always at the same address for a given build of the Lisp files. A core"
    " (`STRESS_ABORT_ON_FAULT=1`) read with gdb: the faulting PC (#x1000C4EF0F) lies in a free page (page table:"
    " not allocated, zeroed), where the first instruction faulted; the registers are those of the assembly"
    " routine ALLOCATE-VECTOR (`src/assembly/x86-64/array.lisp`) returning (RAX #xA2, the character-string"
    " widetag; RBX 8 characters; RDX a fresh string, the first object of a new region; R13 `alloc_tramp`); the"
    " frame's return address is in the worker's function, just after its call to CONS-STRINGS through the fdefn,"
    " whose code object now lies elsewhere: at the same offset in that copy the faulting PC is the instruction"
    " after `call ALLOCATE-VECTOR`. So a collection moved CONS-STRINGS (young: compiled when common.lisp is"
    " loaded) while a worker was inside ALLOCATE-VECTOR, which has no frame of its own: the only reference to its"
    " caller's code is its return address, at the stack pointer. gencgc scans a stopped thread's control stack"
    " from `control_stack_end` down to, but not including, the lowest stack pointer among its interrupt contexts"
    " (`gencgc.c:3605`, `ptr > esp`); ALLOCATE-VECTOR allocates pseudo-atomic, so a stop reaching it there is"
    " deferred and honoured from the trap at the section's end, whose context's stack pointer is exactly that"
    " word. A diagnostic build of the runtime (`sbcl/patches/diagnostic/gcdiag-stack-top.patch`: after the"
    " conservative scan, it looks for unpinned code pointers between each suspended thread's resume wait and its"
    " scan bound) found them at that word only; in two runs of a stress that recompiles CONS-STRINGS every round,"
    " each of the 9 addresses of its 11 memory faults had been reported there by an earlier collection. gencgc is"
    " not ours to change, but the library stops the world: once every thread is stopped, it lowers the stack"
    " pointer of each suspended thread's innermost context by one word, and puts it back before it resumes the"
    " thread (`src/host/stack_top.rs`, measure `SBTHREAD_SCAN_TOP`). Upstream's library has the same fault (it is"
    " the collector's): with `young-code.lisp` (a function loaded afresh from a fasl before every collection), 9"
    " of its 10 soak runs above ended with the fault and the 10th hung (three threads running in Lisp code; not"
    " analysed), as ours did before the fix (5 of 5 runs of 5 s, all four workers) and does with"
    " `SBTHREAD_SCAN_TOP=0`; with the fix, no fault (table above). In `stress-poll.lisp` young code moves only in"
    " the first collections after loading, so the fault is rarer there, but upstream's library has it too: 2 of"
    " its 10 soak runs above (#x1000C6379F, the return address into the first CONS-STRINGS that ours hit with"
    " `SBTHREAD_SCAN_TOP=0`, and #x100003046F, the same offset in a later copy), none of 20 earlier runs. Ours,"
    " 30 more runs of 10 s each (load 4-12 on the 2 cores, other work running): 3 memory faults with"
    " `SBTHREAD_SCAN_TOP=0` (all at #x1000C6379F), 0 with the fix. `c-tests/stack_top.c` checks the collector's"
    " rule deterministically in the test host, whose stop handler now records its context as 0.9.4.1's does:"
    " before the fix 1200 of 1200 stops left the word at the thread's stack pointer outside the scan, after it 0.",
    "**A hang of ours in `stress-poll.lisp` with the fix (1 of the 10 soak runs above): a lost wake-up of a Lisp"
    " mutex, 0.9.4.1's; prevented by the library (measure `SBTHREAD_REWAKE`).** After its last round the main"
    " thread waits in QUIT for the one worker left, asleep in FUTEX_WAIT on `*already-in-gc*` (SUB-GC's Lisp"
    " mutex, #x4083BAA1 in static space) for the value #x0103C831 (the low half of an earlier holder), while the"
    " mutex's value is NIL: it is free, and the wake-up was lost. The worker's mask blocks every blockable signal"
    " but SIG_STOP_FOR_GC (a collection entered with interrupts disabled: the interrupt function's"
    " WITHOUT-INTERRUPTS), and the main thread's termination (SIG_INTERRUPT_THREAD) waits, pending. Root cause,"
    " in 0.9.4.1's Lisp code: RELEASE-MUTEX (`src/code/target-thread.lisp:214-221`) stores NIL, then wakes one"
    " waiter (`futex-wake ... 1`); GET-MUTEX (184-212) retries its compare-and-swap only when its `futex-wait`"
    " returns; WITH-MUTEX (`src/code/thread.lisp:22-26`) releases in an UNWIND-PROTECT cleanup with interrupts"
    " enabled. So when the waiter the release woke is unwound before its compare-and-swap (a TERMINATE-THREAD"
    " that arrives while it is runnable, handled as its FUTEX_WAIT returns), or the releaser between its two"
    " steps, the wake-up is gone and every other waiter sleeps on a free mutex; stress-poll terminates workers at"
    " random while they collect (SUB-GC's WITH-MUTEX, `src/code/gc.lisp:187`). Evidence:"
    " `sbcl/lisp/lost-wake.lisp` makes both deterministic on the real runtime (the woken waiter runs SCHED_IDLE"
    " on the CPU the releasing thread pins itself to, so its termination is pending when its wait returns:"
    " 0.9.4.1's own GET-MUTEX and RELEASE-MUTEX, nothing simulated; the releaser stores NIL inside"
    " WITHOUT-INTERRUPTS with its termination deferred, so QUIT runs where the wake would follow): with"
    " upstream's thread code the first round leaves the second waiter asleep on the free mutex (exit 3, 3 of 3"
    " runs, in 3 s). The library runs in every thread's exit after its last Lisp code, so when a thread that was"
    " sent an interrupt exits, it looks at every task of the process (`/proc/self/task/TID/syscall`): one asleep"
    " in FUTEX_WAIT on a word that is the value slot of a Lisp instance (tags read with `process_vm_readv`),"
    " holding NIL while its waiter waits for an instance there, gets a FUTEX_WAKE (`src/host/rewake.rs`, counted"
    " in `mutex_rewakes`); a wake-up in vain costs nothing (GET-MUTEX loops). With it, lost-wake.lisp recovers"
    " every lost wake-up (5 rounds of each case that lost one, 10 counted); with `SBTHREAD_REWAKE=0` it exits 3"
    " like upstream (both are controls in `make sbcl-test`); `c-tests/lost_wake.c` models the woken waiter in the"
    " test host (20 rounds; the switched-off child keeps its sleeper). In `stress-poll.lisp` it woke sleepers 7"
    " to 14 times per 10 s run (3 runs of ours; `rewakes` on the stress line): an upper bound of the losses,"
    " since a scan that finds a sleeper while a releaser is between its store and its wake (not unwound, only not"
    " there yet) wakes it too; with `SBTHREAD_REWAKE=0` 3 runs of 3 passed: most of those wakes are in vain or"
    " their loss is repaired by the next release of the same mutex, hence the hang's rarity. Not covered: a"
    " thread unwound between the two steps by an interrupt that throws without ending the thread; its loss waits"
    " for the next exit of an interrupted thread.",
    "**`relinked: exit-interrupts.lisp` failed once in `make sbcl-test` with `interrupt_thread: 0x7fffe1ca5b00 is"
    " not a live thread` (not reproduced: 100 runs on relinked and 100 grafted (preload), 1000 threads each, 2 at"
    " a time, all passed).** No `struct thread` is at such an address, stale or not: every one is page-aligned (a"
    " block is a fresh mapping and the struct lies 4 MiB into it; measured #x7FFFF7709000, #x7FFFF7295000, ...;"
    " glibc's descriptors at #x...580). Nor can 0.9.4.1's Lisp hold a reaped thread's struct: it is reaped only"
    " by the finalizer of its THREAD object (`src/code/target-thread.lisp:519`, `(finalize thread (lambda ()"
    " (reap-dead-thread thread-sap)))`), so while INTERRUPT-THREAD can reach the object its `%sap` stays valid,"
    " and a dead thread's answer is -1/ESRCH (INTERRUPT-THREAD-ERROR), as it is. A block reaped and reused would"
    " give a page-aligned pointer to the new thread (and interrupt it; the library cannot tell). So the caller"
    " read `%sap` from memory that no longer held that THREAD object or its SAP: a reference the collector"
    " missed, like the word at a stopped thread's stack pointer above (`SBTHREAD_SCAN_TOP`, if the failure"
    " predates it; not known). The library's part: `lose` stays the answer for a pointer that is no `struct"
    " thread` (the heap is corrupt; signalling some thread would be worse), but the check read the `this` word"
    " through the pointer, so an unmapped one (a block given back, or garbage) faulted inside the library; it now"
    " reads nothing through it before the stop table (`src/thread/table.rs`, never unmapped) has it as a linked"
    " thread's, and says why (`not page-aligned`, `no linked thread has it`, `this` wrong; `c-tests/misuse.c`"
    " interrupt-unmapped, a SIGSEGV before, and interrupt-unaligned). A first version read the word with"
    " `process_vm_readv`: a system call per interrupt, which made interrupts to a sleeping thread 1.8× slower"
    " (`make sbcl-bench`).",
    "**Resource exhaustion (`sbcl/lisp/exhaust-threads.lisp`; 2000 rounds in `make sbcl-test`, on the"
    " configurations with our library): fixed in the library.** RLIMIT_AS = what the process maps at start (8568"
    " MiB, mostly the dynamic space) + 720 MiB; threads made until MAKE-THREAD fails, all ended, a full"
    " collection, then rounds of make + wait, one at a time, without a collection on purpose. Measured"
    " (`sbcl/run_lisp.py --tree build/sbcl/upstream --runtime build/sbcl/upstream/src/runtime/sbcl --core"
    " build/sbcl/upstream/output/sbcl.core [--preload build/lib/libsbthread.so.0] sbcl/lisp/exhaust-threads.lisp"
    " 10000`, 2026-12-06): ours 146 threads, then 10,000 of 10,000 rounds in 7 s, with 10,002 dead threads"
    " unreaped at the end in 463 MiB (47 KiB of address space each; no collection came in 10,000 rounds; with"
    " 20,000 rounds the first failure is in round 13,700, then a collection reaps); ours before the fix 146, then"
    " 276 of 10,000 (first failure in round 138); upstream 152, then 306 of 10,000 (first failure in round 153)."
    " (Ours makes 6 threads fewer while they live: its signal stack is 32 × the run-time SIGSTKSZ, 422 KiB, where"
    " upstream's is 256 KiB.) The make-and-wait loop conses too little to collect, so dead threads pile up"
    " unreaped, and each kept its whole block (4.3 MiB) of address space: giving back memory (MADV_DONTNEED) does"
    " not give back address space. What 0.9.4.1 reads of a dead, unreaped thread (checked in its sources:"
    " gencgc.c garbage_collect_generation and gc_alloc_update_all_page_tables, linux-os.c is_valid_lisp_addr,"
    " interrupt.c fake_foreign_function_call, thread.c create_thread_struct; target-thread.lisp): the struct's"
    " fields; its interrupt contexts and the control stack from the lowest context's stack pointer up, only while"
    " FREE_INTERRUPT_CONTEXT_INDEX > 0 (0 once its function has returned: the index is bound around each"
    " handler); every `interrupt_data->interrupt_handlers[]` entry (its own mapping); `interrupt_fun`; the"
    " binding stack up to BINDING_STACK_POINTER (for a dead thread the 7 bindings `create_thread_struct` made:"
    " 112 bytes); the TLS words up to FREE_TLS_INDEX (which grows, so the 32 KiB TLS area stays whole;"
    " SYMBOL-VALUE-IN-THREAD reads it too); plus glibc's descriptor and static TLS at the top of the control"
    " stack until the join, and the library's private words there. Never read: the control stack below its top,"
    " the binding stack past its first page, the alien stack, the signal stack, the last page. So under an"
    " address-space limit (or `SBTHREAD_GIVE_BACK=unmap`) a dying thread that gives back unmaps those"
    " (`src/thread/dormant.rs`), keeping 64 KiB of stack below its last frame for its own exit, which the next"
    " dying thread unmaps once this one's task is gone; the pieces it unmapped are recorded in its private words,"
    " and `Block::release` unmaps only the pieces left and never caches such a block (a hole may hold someone"
    " else's mapping by then). Without a limit it keeps its address space as before: a block with holes is two or"
    " three map entries that merge with nothing, and there `vm.max_map_count` runs out first. `c-tests/dormant.c`"
    " (both modes, .so and .a): under an RLIMIT_AS, 64 dead threads keep at most 108 KiB of their blocks mapped,"
    " each hole unmapped (/proc/self/maps, mincore ENOMEM), struct, first binding page and glibc's page intact;"
    " 12 dying one at a time keep 44 KiB once the next has died; a mapping put into a hole survives the reap, and"
    " nothing else of the blocks stays mapped. With the library before the fix it fails (a dead thread keeps 4384"
    " KiB mapped); with a `Block::release` that ignores the holes it fails too (the blocks are cached, 48 KiB"
    " left mapped).",
    "**Ours' hang in `stress-waitqueue.lisp` above was the test's own**: its report shows one creator left,"
    " asleep in CONDITION-WAIT on its join queue (futex word = the creator itself, the waiter), every other"
    " thread gone: its worker had been terminated before notifying, and the interrupter's fallback broadcasts had"
    " ended with the run. The file now broadcasts from the main thread until the creators are gone (3 s check"
    " runs pass); the table's figures are from before that change.",
    "**A hang in `pthread_create` (found while chasing the corruption below; root cause: 0.9.4.1's reaping; fixed"
    " in the library).** One of 12 further `stress-terminate.lisp` runs with the resume wake on hung"
    " (`sbcl/findings/2026-12-07-stress-terminate-hang-in-pthread-create.log`): the main thread in"
    " `create_thread` inside `pthread_create` waiting for glibc's stack-list lock (`_rtld_global`'s"
    " `dl_stack_cache_lock`, value 2) with `all_threads_lock` held, a stopper waiting for `all_threads_lock`, two"
    " threads asleep on a Lisp mutex; no live thread held the glibc lock. 0.9.4.1 reaps dead threads from"
    " finalizers, in whichever thread collected, and `reap_dead_thread` (0.9.4.1's, and ours until now) called"
    " `pthread_join` with every signal unblocked; glibc frees the joined thread's descriptor holding that lock,"
    " and TERMINATE-THREAD runs QUIT, a Lisp throw, in the interrupted thread: a worker terminated while reaping"
    " unwinds out of the join and leaves the lock taken. The reap now keeps the deferrable signals"
    " (`SIG_INTERRUPT_THREAD` among them) blocked through the join (`src/lifecycle/reap.rs`);"
    " `c-tests/reap_join.c` checks the mask at every join the library makes and sends the reaper an interrupt"
    " inside each: before the fix 50 of 50 joins ran unblocked and took it there, after it 0. Not the cause of"
    " the corruption below (a throw out of the join loses a lock, not a cons), and not related to the resume"
    " wake.",
    "**A heap corruption with the resume wake on (1 run in 350; root cause found later: 0.9.4.1's `alloc_cons`,"
    " next item).** The soak of 2026-12-07 04:32-05:33 UTC ran ours with `SBTHREAD_RESUME_WAKE` on (the library"
    " of `b1ea0e7`, where it was the default for that commit) against the upstream runs above: 349 of 350 runs"
    " passed (soak.lisp, stress-poll, stress-exit, stress-gc, stress-waitqueue, young-code 50 of 50 each;"
    " stress-terminate 49 of 50). In the failed run a conser found its kept list `(0 1 ... 999)` cut after 388"
    " elements: the 389th cons held `#'QUIT` and NIL, the interrupt cons `interrupt_thread` makes with the"
    " runtime's `alloc_cons` for TERMINATE-THREAD. So that cons was allocated at the address of a live one: some"
    " collection had freed the rest of the list while the conser held it. Not reproduced since: stress-terminate"
    " 19 more runs with the wake on, 19 with it on and `SBTHREAD_GIVE_BACK=0`, 18 with it off; a hotter variant"
    " (6 consers of 3000-element lists, one terminated and replaced every other round, a collection every other"
    " round) 39 runs with the wake on, 22 with it off, and 38 with the library of `c65b08d` (before this change),"
    " one of which failed on its own (exit 1, no output: not analysed). The wake changes when a stopped thread"
    " runs again, not what a collection scans; no path was found by which a thread could run, or lose its"
    " recorded context, while the world is stopped (`world/resume.rs`: the state is the signal, RUNNING only from"
    " a start; a new stop waits for each thread to be SUSPENDED again inside a new handler). The run's log:"
    " `sbcl/findings/2026-12-07-resume-wake-stress-terminate.log`. **Then seen with the wake off:** the soak of"
    " the final library (the wake off, the batched give-back and the reap fix on; the table above) had 1 fatal"
    " run in 10 of stress-terminate.lisp, 0.9.4.1's collector stopping on `no transport function for object"
    " 0x005fb00f (widetag 0xa9)`: a corrupt object, so the same class"
    " (`sbcl/findings/2026-12-07-stress-terminate-no-transport-function.log`). So it is not the wake's. Both"
    " failing libraries have the batched give-back; the library before it (`c65b08d`) passed 50 of 50 runs of"
    " this file in the soak of issue 21, but failed once, unexplained, in 38 runs of the hotter variant."
    " (Root-caused in the next item: neither the wake nor the give-back.)",
    "**The heap corruption above, root-caused: 0.9.4.1's `alloc_cons` frees the cons it returns when a collection"
    " starts inside it; fixed in the library (measure `SBTHREAD_HOLD_GC`).** Made frequent by a hotter"
    " stress-terminate (6 consers of 3000-element lists, one replaced every other round, a collection every other"
    " round) with gencgc's own check that every new region is zero (`gencgc_zero_check`, set from Lisp): ours"
    " failed 5 times in 75 runs of 10 s (library of `346ec67`, wake off; with `SBTHREAD_GIVE_BACK=0` too): three"
    " times \"The new region at ... is not zero\", once a conser's kept list with NIL in it, once more \"not zero\""
    " with the give-back off. A diagnostic preload that turns the runtime's `exit(1)` into `abort()` gave a core"
    " of a \"not zero\" run: the collector itself (`copy_large_unboxed_object` → `gc_alloc_new_region`) opened its"
    " region at a page the page table had free (`bytes_used` 0) whose first two words were `0x20b9e5a9` and NIL:"
    " a cons of `#'QUIT` and NIL, i.e. the cons `interrupt_thread` makes for TERMINATE-THREAD, written into a"
    " free page. Cause, in 0.9.4.1's C: `alloc_cons` (`src/runtime/alloc.c:111-119`) takes its cell from"
    " `pa_alloc` (37-52), which allocates pseudo-atomic and, once out of the section, calls"
    " `do_pending_interrupt` if it was interrupted: when the allocation opened a region past the GC trigger"
    " (`alloc()` marks the section so), or a stop arrived meanwhile. The thread then collects right there"
    " (SUB-GC) or suspends for another thread's collection; the only reference to the new cell is `pa_alloc`'s"
    " untagged pointer, which the conservative scan does not take for a cons (`gencgc.c:2036`: untagged pointers"
    " count only into code objects), so its page is freed and zeroed; then `alloc_cons` writes the car and cdr"
    " into the free page and `interrupt_thread` queues the cell. Whatever is allocated there next is overwritten"
    " or not zeroed: that is every signature seen: the kept list cut by a `(QUIT . NIL)` cell (written over the"
    " list's live cell), \"no transport function for object 0x005fb00f (widetag 0xa9)\" (an object's header"
    " overwritten by `#'QUIT`, whose low byte is 0xa9), the target popping a function that is gone. Upstream's"
    " `interrupt_thread` calls `alloc_cons` the same way (`thread.c:425`); its stress failures (\"memory fault in"
    " conser\", segfaults) may include it. It needs an interrupt cons to be the allocation that crosses the"
    " trigger, hence the rarity (stress-terminate sends ~100 interrupts a second). The fix (`src/host/cons.rs`):"
    " the cons is made with the blockable signals blocked (no stop can be deferred into the section) and"
    " `*GC-INHIBIT*` bound to T around the call (the runtime's own `bind_variable`): `alloc()` then only records"
    " that a collection is due, nothing is pending, and the cons is queued (a root the collector scavenges)"
    " before the signals are unblocked; if the call made the collection due, `*GC-PENDING*` goes back to NIL so"
    " that the thread's next allocation past the trigger asks again (`gc_triggers_held` in `sbthread_stats`)."
    " Tests that fail without it: `c-tests/interrupt_cons.c` (the test host now models `pa_alloc`: a collection"
    " due at every cons, 2000 interrupts while another thread stops and starts the world: none lost, 2000 held;"
    " the child with `SBTHREAD_HOLD_GC=0` loses 2000 of 2000); `sbcl/lisp/interrupt-cons-gc.lisp` on the real"
    " runtime (the main thread the only allocator, a collection due every 64 KiB, 40,000 interrupts in bursts,"
    " zero check on: before, 10 of 10 runs with `SBTHREAD_HOLD_GC=0` failed (9 lost interrupts, one unnoticed)"
    " and upstream's thread code hung 2 of 2; after, with the next item's fix too, 30 of 30 passed, 16"
    " collections and 75 held per run). The hotter probe after both fixes (library of `a4daa86`): 35 of 35 runs"
    " with the resume wake off and 35 of 35 with it on (`SBTHREAD_RESUME_WAKE=1`), two at a time, where the"
    " library before them failed 5 times in 75. Then `make sbcl-soak RUNS=10` of the library of this change, ours"
    " only: 70 of 70 runs passed (soak.lisp, the five stress files and young-code.lisp, 10 each;"
    " stress-terminate.lisp 10 of 10; 2026-12-07 13:22-13:36 UTC); the table above is still that of the soak"
    " before it (upstream's runs are not kept on a new machine, so it was not rewritten).",
    "**A lost interrupt in the runtime's compiled handler (found by the test of the previous fix; fixed in the"
    " library, measure `SBTHREAD_HANDLER_ORDER`).** With the cons fixed, `interrupt-cons-gc.lisp` still died now"
    " and then of \"interrupt_thread_handler: NIL function\": 1 run in 12, and 1 in 16 with no collection at all"
    " (the trigger at 400 MiB), while upstream's thread code passed 16 of 16 without collections. A core: the"
    " target's queue empty (`interrupt_fun` NIL) when a signal arrived. The runtime's handler pops with"
    " `th->interrupt_fun = c->cdr; release_spinlock(&th->interrupt_fun_lock)` (`interrupt.c:897-901`), and"
    " `release_spinlock` is a volatile store of 0 without a compiler barrier (`x86-64-arch.h:41-44`); gcc 12"
    " sinks the store of the head below it (`movq $0x0,0xa8(%rdx)` then `mov %rax,0xa0(%rdx)`, disassembled from"
    " the fixture's executable). A push between the two is overwritten by the late store: its function is lost,"
    " and its signal pops the next one or NIL. Our push is quicker than upstream's, so it meets the window more"
    " often; no order on the pushing side can help (the late store is blind). The fix"
    " (`src/host/handler_order.rs`): at initialisation, while the process has one thread, the two instructions of"
    " the executable's `interrupt_thread_handler` are swapped in place when found exactly so (a `movq $0` at the"
    " lock's offset, then a `mov` at the head's offset, same base register), with the graft's code writer;"
    " anything else is left alone. It applies in every deployment (preload, DT_NEEDED, relinked, static: checked"
    " with `SBTHREAD_TRACE=1`). Tests: unit tests of the matcher (found and swapped; another offset, base"
    " register, immediate, an ambiguous or cut pattern left alone); `sbcl/lisp/handler-order.lisp` reads the"
    " handler's bytes in the running process (exit 104 when the head is stored first; 3 on `upstream` and with"
    " `SBTHREAD_HANDLER_ORDER=0`, both controls in `make sbcl-test`); the no-collection variant of"
    " `interrupt-cons-gc.lisp` passed 30 of 30 after it.",
    "**A hang with the resume wake on by default (1 run in 70), root cause: 0.9.4.1's WITH-MUTEX; fixed in the"
    " library (measure `SBTHREAD_ABANDONED`).** After the two fixes above the library was tried with the wake on"
    " by default (every c-test and `make test` passed), then soaked (`sbcl/soak.py build/sbcl --seconds 10 --runs"
    " 10`, ours only, 2026-12-07 13:59-14:12 UTC): 69 of 70 runs passed; run 9 of stress-terminate.lisp hung"
    " (`sbcl/findings/2026-12-07-resume-wake-default-stress-terminate-hang.log`). Four threads sleep in"
    " FUTEX_WAIT on the value slot of `*finalizer-store-lock*` (#x403AC228), which holds a thread instance"
    " (#x1000550CA1), while the main thread waits for them by polling; nobody is stopped. The process has five"
    " tasks left: the main thread, which polls, and the four sleepers, which wait for that value to change: the"
    " holder had exited. Cause: 0.9.4.1's WITH-MUTEX (`src/code/thread.lisp:22-26`) is `(let ((got (get-mutex"
    " m))) (when got (unwind-protect body (release-mutex m))))` with interrupts enabled, and WITHOUT-GCING"
    " (`src/code/sysmacs.lisp:33-47`), around RUN-PENDING-FINALIZERS' `(with-mutex (*finalizer-store-lock*) ...)`"
    " (`src/code/final.lisp:80-89`), holds off collections, not interrupts. A TERMINATE-THREAD whose signal lands"
    " after GET-MUTEX's compare-and-swap and before the UNWIND-PROTECT unwinds the thread past a cleanup that was"
    " never set up, and the thread exits holding the lock; SUB-GC runs the finalizers in whichever thread"
    " collected, and stress-terminate terminates consers while they collect. Later SBCLs take the mutex inside"
    " WITHOUT-INTERRUPTS. Upstream's thread code has the same hang: `sbcl/lisp/abandoned-mutex.lisp` makes the"
    " window deterministic (the holder takes the mutex inside WITHOUT-INTERRUPTS with its termination deferred,"
    " so QUIT runs exactly where WITH-MUTEX would enter its UNWIND-PROTECT) and upstream exits 3 on its first"
    " round. Whether the wake made the window likelier is not known (one hit in 70 runs; none in 70 runs with the"
    " wake off, nor in the soaks before). The fix (`src/host/abandoned.rs`): a terminated thread runs the"
    " library's exit code, where an interrupted thread already looked for sleepers on free Lisp mutexes"
    " (`rewake.rs`); that look is now taken before the thread is DEAD (still RUNNING with its stop signal"
    " blocked, so no collection can move a mutex while it looks), and a sleeper's mutex held by the exiting"
    " thread, or by a DEAD one (its struct stays until its Lisp finalizer reaps it, which cannot happen while a"
    " mutex names its instance), is swapped from that holder to NIL and woken (`mutexes_given_back`). What it"
    " cannot give back: a mutex whose first sleeper comes after every later exit of an interrupted thread. Tests"
    " that fail without it: `c-tests/abandoned_mutex.c` (the test host: 10 rounds with the sleeper there when the"
    " holder exits and 10 where it comes later and another interrupted thread exits; 20 given back; the child"
    " with `SBTHREAD_ABANDONED=0` keeps its sleeper) and `sbcl/lisp/abandoned-mutex.lisp` (the same two cases on"
    " the real runtime; upstream and `SBTHREAD_ABANDONED=0` exit 3, both controls in `make sbcl-test`). Then the"
    " soak of the wake as the default with this fix (`sbcl/soak.py build/sbcl --seconds 10 --runs 10"
    " --keep-upstream`, ours only, 2026-12-07 15:00-15:13 UTC): 70 of 70 runs passed, stress-terminate.lisp 10 of"
    " 10 (not in the table above, which is of the default library). `make bench` then showed the wake up to 7×"
    " slower than the 0.9.4.1 algorithm with busy threads, which a stop right after a start now avoids by taking"
    " back the resumes not yet seen (BENCHMARKS.md); the soak of both is the next item. Noticed in the same log"
    " and left alone (0.9.4.1's Lisp, upstream's too): MAKE-THREAD binds `*current-thread*` to NIL around"
    " `%create-thread` (`src/code/target-thread.lisp:472`), and a collection started by that call's result"
    " allocation runs the finalizers with it: GET-MUTEX then takes NIL for its value, warns \"recursive lock"
    " attempt\" on the free lock and \"takes\" it without changing it, so that one finalizer pass runs without the"
    " lock.",
    "**A hang with the resume wake as the default and the take-back (1 run in 70), root cause: 0.9.4.1's"
    " unsynchronized hash tables, two threads printing backtraces at once; not the library's, and the wake is the"
    " default.** With the take-back (a stop right after a start takes back the resumes their threads have not yet"
    " seen) and the wake on by default, `make test` and every c-test passed; the soak (`sbcl/soak.py build/sbcl"
    " --seconds 10 --runs 10 --keep-upstream`, ours only, 2026-12-07 15:49-16:02 UTC) passed 69 of 70 runs, every"
    " stress file 10 of 10 (stress-terminate's `given-back` 0 in each run, `rewakes` 6-22), and run 6 of"
    " `soak.lisp` hung (`sbcl/findings/2026-12-07-resume-wake-take-back-soak-hang.log`). The stopper waits in"
    " `await_stopped` for two threads that run Lisp code at the same PC with no signal blocked and none pending;"
    " six others are suspended in the resume wait. Both runners had just printed 0.9.4.1's \"recursive lock"
    " attempt\" on the finalizer lock (a collection inside `%create-thread`, where MAKE-THREAD binds"
    " `*current-thread*` to NIL, runs the finalizers, and GET-MUTEX warns and prints a backtrace) and started"
    " their backtraces at the same time. Their PC, #x200597AE, lies in the code of `SB-IMPL::GETHASH3` (found"
    " with `sb-di::component-ptr-from-pc` in the fixture's core), which searches a hash table inside"
    " WITHOUT-GCING with no lock (`src/code/target-hash-table.lisp:420-460`): the backtrace code shares such"
    " tables (`SB-DI::MAKE-COMPILED-DEBUG-FUN`'s cache of debug functions), two threads updating one at once can"
    " corrupt its chains, and a search of a corrupt chain loops for ever with GC inhibited, so the runtime's"
    " handler defers the stop signal (it was taken, hence nothing pending) and the stop waits for ever. A probe"
    " that makes two threads print backtraces at once in a loop"
    " (`sbcl/findings/2026-12-07-concurrent-backtraces.lisp`, 10 s, a `(gc)` now and then) shows it without our"
    " library: upstream's thread code alone hung 4 runs of 5 and died once of \"no pointer at 0 in hash table\""
    " (`…-concurrent-backtraces-upstream-fatal.log`: the backtrace inside GETHASH3 of the debug-fun table); ours"
    " hung 1 run of 2. Not the library's to fix (0.9.4.1's Lisp; later SBCLs lock their hash tables), so the wake"
    " is the default. The stopper could back off from a thread that runs with its stop deferred for a long time"
    " as it does from one asleep that way (`stuck.rs`), but a thread looping on a corrupt table would never stop;"
    " left alone. The next soak, of the library with the block cache's cold tier (same command, 2026-12-07"
    " 17:56-18:07 UTC), passed 70 of 70 runs, `soak.lisp` 10 of 10: the tables above.",
    "**Correction (2026-12-07): `interrupt-cons-gc.lisp`'s lost interrupts were its own count's.** A fresh-clone"
    " `make test` failed it once (`interrupts 40000 ran 2560 ... INTERRUPTS LOST`, 30 s, five test files at a"
    " time): the count stopped at a multiple of 100 less 40, the interrupts the main thread had sent since. The"
    " count was `(incf *ran*)` in the interrupt function, and 0.9.4.1's SIG_INTERRUPT_THREAD handler runs the next"
    " queued function inside the one running: an INCF interrupted between its read and its write (the target"
    " preempted there while 40 more were queued) stores its stale sum over the nested ones'. Counted both ways"
    " side by side with `SBTHREAD_HOLD_GC=0`, compare-and-swap (`COUNTER-BUMP` in `common.lisp`) saw all 40,000"
    " run in 5 of 5 runs, INCF 39,712-39,923; with the compare-and-swap count the file passed 10 of 10 runs with"
    " the measure off and 5 of 5 with upstream's thread code. So the file's failures with the measure off, given"
    " above as evidence for the lost cons, were this race (the stops of the collections that come due inside"
    " `interrupt_thread` when nothing holds them off made it frequent), and the file does not show the lost cons;"
    " the core that does is the one above, and `c-tests/interrupt_cons.c` the test that fails without the fix."
    " The measure stays: its cause is read from 0.9.4.1's code and that core. `bench-interrupt.lisp` counted the"
    " same way and now uses the same counter.",
    "**A second stop signal to a thread that still owed one (found by reading, for the resume wake; not seen in a"
    " run).** The back-off never re-sent a stop signal still on its way, but a new stop did: it asked every"
    " RUNNING thread, so an adopted sleeper whose first signal was still queued behind its blocked mask got a"
    " second. Had it ever unblocked, 0.9.4.1's handler would have taken the second for the resume of the first"
    " (\"wrong thread state on wakeup\", or a resume in the middle of a stop); with the resume wake it would have"
    " started a suspension no stopper asked for. 0.9.4.1's exit code never unblocks, so the thread died with"
    " both. A stop now claims the thread's `stop_sent` (`world/resume.rs`: `claim_stop`) and sends nothing while"
    " one is owed; a resumed thread takes any stale stop signal before its handler returns"
    " (`c-tests/resume_wake.c`, the loom model `host_resume_*`).",
]


def markdown(saved):
    out = [BEGIN,
           "## Real SBCL 0.9.4.1 runtime: soak",
           "",
           "`make sbcl-soak SECONDS=s RUNS=n` (`sbcl/soak.py`): each stress file on SBCL 0.9.4.1 as upstream"
           " builds it (`thread.o` in the executable, its own core), alone (\"upstream\") and grafted (\"ours\":"
           " the same executable and core with our `libsbthread.so.0` LD_PRELOADed), taking turns, each run a"
           " fresh process; `STRESS=file` runs one file and keeps the others' last results. A hang prints every"
           " thread's backtrace and signal masks into the run's log (`build/sbcl/soak/<file>/`).",
           ""]
    if "soak.lisp" in saved:
        d = saved["soak.lisp"]
        out += soak_markdown(summarize(d["results"]), d["seconds"], d["date"], d) + [""]
    out += family_markdown(saved)
    out += ["", "### What the stress family and the exhaustion test found", ""] + ["- " + f for f in FINDINGS]
    out.append(END)
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fixture")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--stress", action="append", help="a file of STRESSES (default: all)")
    ap.add_argument("--reliability")
    ap.add_argument("--from-json", action="store_true", help="rewrite the report from the last results.json")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting of our library for its runs (e.g. SBTHREAD_RESUME_WAKE=0)")
    ap.add_argument("--keep-upstream", action="store_true",
                    help="run ours only; keep upstream's runs of the last soak of each file")
    a = ap.parse_args()
    env_opts = env_options(ap, a.env)
    fixture = os.path.abspath(a.fixture)
    ours = os.path.join(fixture, "prefix/lib/libsbthread.so.0")
    files = a.stress or [f for f, _, _ in STRESSES]
    unknown = [f for f in files if f not in [s[0] for s in STRESSES]]
    if unknown:
        ap.error("not in STRESSES: " + ", ".join(unknown))
    if not a.from_json:
        os.makedirs(os.path.join(fixture, "soak"), exist_ok=True)
        check_grafted(fixture, ours, os.path.join(fixture, "soak", "which-library.log"))
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    saved, failed = {}, False
    for f, _, _ in STRESSES:
        logdir = os.path.join(fixture, "soak", f[:-len(".lisp")])
        path = os.path.join(logdir, "results.json")
        if f in files and not a.from_json:
            os.makedirs(logdir, exist_ok=True)
            results = []
            kept, upstream_date = kept_upstream(path, a.seconds) if a.keep_upstream else ([], date)
            for i in range(a.runs):
                turns = (("ours", ours), ("upstream", None)) if i % 2 == 0 else (("upstream", None), ("ours", ours))
                for name, lib in turns if not a.keep_upstream else (("ours", ours),):
                    log = os.path.join(logdir, f"{name}-{i}.log")
                    outcome, figures, reason, warned = one_run(fixture, lib, a.seconds, log, f, env_opts)
                    results.append({"lib": name, "run": i, "outcome": outcome, "figures": figures,
                                    "reason": reason, "warned": warned})
                    print(f"{f} run {i + 1}/{a.runs} {name}: {outcome}" + (f" ({reason})" if reason else ""),
                          flush=True)
                    if outcome == "pass":
                        os.remove(log)
            with open(path, "w") as out:
                json.dump({"seconds": a.seconds, "runs": a.runs, "date": date, "env": a.env,
                           "upstream_date": upstream_date, "upstream_kept": a.keep_upstream,
                           "results": results + kept}, out, indent=1)
        if os.path.exists(path):
            with open(path) as inp:
                saved[f] = json.load(inp)
            if f in files:
                failed |= any(r["outcome"] != "pass" for r in saved[f]["results"] if r["lib"] == "ours")
    md = markdown(saved)
    print(md)
    if a.reliability:
        text = open(a.reliability).read() if os.path.exists(a.reliability) else ""
        if a.keep_upstream:
            md = keep_reported_upstream(md, text)
        if BEGIN in text and END in text:
            text = text[:text.index(BEGIN)] + md + text[text.index(END) + len(END):]
        else:
            text = text.rstrip("\n") + "\n\n" + md + "\n"
        with open(a.reliability, "w") as f:
            f.write(text)
        print(f"updated {a.reliability}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
