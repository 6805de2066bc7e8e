#!/usr/bin/env python3
"""The real-runtime tests of `make test`: upstream's own test files and ours,
on every way of running SBCL 0.9.4.1 on libsbthread, with upstream's thread
library as the control.

    run_tests.py FIXTURE_DIR [--jobs N] [--only CONFIG]

FIXTURE_DIR is what `make sbcl` built (build/sbcl): legacy/, relinked/,
static/ and prefix/ (our library, installed). Configurations:

  control    legacy runtime + upstream's thread.c library (a failure here is
             a fixture problem, not ours)
  so         legacy runtime + our libsbthread.so.0 via LD_LIBRARY_PATH
  preload    legacy runtime + our libsbthread.so.0 via LD_PRELOAD
  relinked   runtime linked against our libsbthread.so.0 (docs/relinking.md)
  static     runtime linked against our libsbthread.a

Each configuration first runs sbcl/lisp/which-library.lisp, which fails
unless the thread library it expects is the one in use. Runs N files at a
time (the test files mostly sleep); every file has its own time limit and a
hang prints every thread's backtrace (run_lisp.py).
"""
import argparse
import concurrent.futures
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# (file, time limit in s, needs a terminal, extra args); upstream's files are
# under the tree's tests/, ours under sbcl/lisp/.
UPSTREAM = [
    ("threads.impure.lisp", 300, True),   # threads, GC, interrupts, sessions
    ("gc.impure.lisp", 120, False),       # GC from Lisp, finalizers
    ("debug.impure.lisp", 120, False),    # backtraces through signal contexts
    ("exhaust.impure.lisp", 120, False),  # control stack exhaustion: the guard page
    ("alien.impure.lisp", 120, False),    # foreign calls
]
OURS = [
    ("exit-interrupts.lisp", 240, False),  # interrupts racing thread exit
    ("exit-lock.lisp", 120, False),        # a stop deferred by a thread asleep on a suspended thread's lock
    ("gc-in-lock.lisp", 120, False),       # ... asleep on a lock the collecting thread itself holds
    ("gc-behind-lock.lisp", 120, False),   # ... on a lock whose holder waits for the collecting thread
    ("backoff-waitqueue.lisp", 120, False),  # ... on a waitqueue a suspended thread notifies
    ("young-code.lisp", 120, False),       # the word at a stopped thread's stack pointer, scanned
]
# One short round of each file of the stress family (sbcl/soak.py runs them
# long): (file, seconds of stress).
STRESS_SECONDS = 2
STRESSES = ["stress-poll.lisp", "stress-exit.lisp", "stress-terminate.lisp", "stress-gc.lisp",
            "stress-waitqueue.lisp"]


def configs(fixture):
    so = os.path.join(fixture, "prefix/lib/libsbthread.so.0")
    legacy = os.path.join(fixture, "legacy")
    return {
        "control": (legacy, [], "upstream"),
        "so": (legacy, ["--so", so], "shared"),
        "preload": (legacy, ["--preload", so], "shared"),
        "relinked": (os.path.join(fixture, "relinked"), [], "shared"),
        "static": (os.path.join(fixture, "static"), [], "static"),
    }


def run(tree, extra, lisp_file, limit, tty, label, log, args=()):
    # Each run in its own copy of tests/: files run in parallel, and
    # upstream's write scratch files under fixed names (threads.impure.lisp
    # compiles threads-foreign.so there).
    work = log[:-len(".log")] + ".work"
    cmd = [sys.executable, os.path.join(HERE, "run_lisp.py"), "--tree", tree, "--timeout", str(limit),
           "--label", label, "--log", log, "--workdir", work] + extra + (["--tty"] if tty else []) + \
        [lisp_file] + list(args)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode == 0, p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fixture")
    ap.add_argument("--jobs", type=int, default=5)
    ap.add_argument("--only", action="append")
    a = ap.parse_args()
    fixture = os.path.abspath(a.fixture)
    logs = os.path.join(fixture, "logs")
    os.makedirs(logs, exist_ok=True)
    chosen = {k: v for k, v in configs(fixture).items() if not a.only or k in a.only}

    # Which library is in use, per configuration: a wrong answer fails the
    # configuration (and skips its files: they would prove nothing).
    failed, jobs, checks = [], [], 0
    for name, (tree, extra, expect) in chosen.items():
        label = f"{name}: thread library is {expect}"
        checks += 1
        ok, out = run(tree, extra, os.path.join(HERE, "lisp/which-library.lisp"), 60, False, label,
                      os.path.join(logs, f"{name}-which.log"), [expect])
        print(out, end="", flush=True)
        if not ok:
            failed.append(label)
            continue
        files = [(os.path.join(tree, "tests", f), limit, tty, ()) for f, limit, tty in UPSTREAM]
        if name != "control":
            files += [(os.path.join(HERE, "lisp", f), limit, tty, ()) for f, limit, tty in OURS]
            files += [(os.path.join(HERE, "lisp", f), 60 + STRESS_SECONDS, False, (str(STRESS_SECONDS),))
                      for f in STRESSES]
        for path, limit, tty, args in files:
            f = os.path.basename(path)
            jobs.append((tree, extra, path, limit, tty, f"{name}: {f}", os.path.join(logs, f"{name}-{f}.log"),
                         args))
    start = time.monotonic()
    # Longest first, so that the slow files overlap.
    jobs.sort(key=lambda j: -j[3])
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
        for job, (ok, out) in zip(jobs, pool.map(lambda j: run(*j), jobs)):
            print(out, end="", flush=True)
            if not ok:
                failed.append(job[5])
    total = checks + len(jobs)
    print(f"real SBCL 0.9.4.1: {total - len(failed)} of {total} passed in {time.monotonic() - start:.0f} s "
          f"(logs in {logs})")
    if failed:
        print("failed: " + "; ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
