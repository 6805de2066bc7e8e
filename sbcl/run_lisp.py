#!/usr/bin/env python3
"""Runs one Lisp file, or a core with its own toplevel, on a real SBCL 0.9.4.1
runtime of the fixture.

    run_lisp.py --tree DIR [--runtime EXE] [--core CORE] [--preload LIB]
                [--env NAME=VALUE] [--timeout S] [--expect CODE]
                [--lines REGEX MIN MAX] [--tty] [--log FILE] [--label TEXT]
                [--workdir DIR] [--toplevel] [FILE.lisp] [-- ARGS...]

FILE is LOADed, from DIR/tests or a fresh copy of it (upstream's test
files load helpers by relative name and write scratch files there), by
DIR/src/runtime/sbcl (or EXE) with DIR/output/sbcl.core (or CORE), under
`setarch x86_64 -R` (the runtime needs address-space randomisation off).

--toplevel      CORE has a toplevel of its own (an application saved with
                save-lisp-and-die): it is run with no FILE and no init files
--preload LIB   LD_PRELOADs LIB
--env N=V       sets N for the runtime only (not script, sh, setarch)
--tty           gives the process a controlling terminal (`script`), which
                threads.impure.lisp needs: without one it exits 0, not 104
--timeout S     a hang fails after S seconds; before the process is killed,
                every thread's backtrace (gdb in batch mode) and its signal
                masks (/proc/PID/task/*/status) are printed
--expect CODE   the exit status that means success (104, upstream's "ten
                four", unless given)
--lines R N M   success also needs between N and M lines of the output
                matching the regular expression R (M -1: no upper bound);
                may be given more than once

Prints one line `PASS|FAIL label (seconds, status)`; on failure also what
did not hold and the tail of the output. Exit status 0 on PASS, 1 on FAIL.
"""
import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

def thread_report(pid):
    """Every thread's backtrace and signal state, for a hung process."""
    out = []
    futexes = set()
    try:
        tids = sorted(os.listdir(f"/proc/{pid}/task"), key=int)
    except OSError as e:
        return f"(no /proc/{pid}/task: {e})\n"
    for tid in tids:
        fields = {}
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    k, _, v = line.partition(":")
                    fields[k] = v.strip()
        except OSError:
            continue
        out.append(f"task {tid}: State={fields.get('State')} SigBlk={fields.get('SigBlk')} "
                   f"SigPnd={fields.get('SigPnd')} ShdPnd={fields.get('ShdPnd')}")
        # The system call it is blocked in: for a futex (202), the word's
        # address, which for a Lisp mutex is 3 words into the mutex object.
        try:
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                words = f.read().split()
            out.append(f"  syscall: {' '.join(words)}")
            if words and words[0] == "202":
                futexes.add(int(words[1], 16))
        except (OSError, ValueError, IndexError):
            pass
    # Each futex word with the three words before it: for a Lisp mutex,
    # the instance header, its layout, its name (a string) and the holder.
    dumps = []
    for addr in sorted(futexes):
        dumps += ["-ex", f"x/4gx {addr - 24:#x}"]
    gdb = subprocess.run(
        ["gdb", "-q", "-batch", "-p", str(pid), "-ex", "set pagination off"] + dumps +
        ["-ex", "info threads", "-ex", "thread apply all bt 30"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    out.append(gdb.stdout)
    return "\n".join(out) + "\n"

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", required=True)
    ap.add_argument("--runtime")
    ap.add_argument("--core")
    ap.add_argument("--preload")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--expect", type=int, default=104)
    ap.add_argument("--lines", nargs=3, action="append", default=[], metavar=("REGEX", "MIN", "MAX"))
    ap.add_argument("--tty", action="store_true")
    ap.add_argument("--toplevel", action="store_true")
    ap.add_argument("--log")
    ap.add_argument("--label")
    ap.add_argument("--workdir", help="run in a fresh copy of the tree's tests/ made here "
                    "(upstream's files write scratch files there under fixed names)")
    ap.add_argument("file", nargs="?")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    if not a.toplevel and not a.file:
        ap.error("FILE is needed unless --toplevel")

    tree = os.path.abspath(a.tree)
    tests = os.path.join(tree, "tests")
    exe = os.path.abspath(a.runtime or os.path.join(tree, "src/runtime/sbcl"))
    core = os.path.abspath(a.core or os.path.join(tree, "output/sbcl.core"))
    lisp_file = os.path.abspath(a.file) if a.file else None
    label = a.label or f"{os.path.basename(lisp_file or core)} on {tree}"
    if a.workdir:
        shutil.rmtree(a.workdir, ignore_errors=True)
        shutil.copytree(tests, a.workdir)
        if lisp_file and os.path.dirname(lisp_file) == tests:
            lisp_file = os.path.join(os.path.abspath(a.workdir), os.path.basename(lisp_file))
        tests = os.path.abspath(a.workdir)
    # C.UTF-8: under LANG=C, exhaust.impure.lisp segfaults with upstream's
    # thread code too (a fixture fact, not a thread-library one).
    env = dict(os.environ, LANG="C.UTF-8", SBCL_TEST_ARGS=" ".join(a.args))
    env.pop("LC_ALL", None)
    # Only the runtime sees these (not script, sh, setarch).
    override = "".join(f"{shlex.quote(kv)} " for kv in a.env)
    if a.preload:
        override += f"LD_PRELOAD={shlex.quote(os.path.abspath(a.preload))} "

    tmp = tempfile.mkdtemp(prefix="sbcl-run-")
    pidfile = os.path.join(tmp, "pid")
    if a.toplevel:
        runtime = [exe, "--core", core, "--noinform"] + a.args
        stdin = "/dev/null"
    else:
        # The runtime reads the LOAD form from a file: with a pipe, `exec`
        # would run in a subshell and $$ would not be the runtime's pid.
        stdin = os.path.join(tmp, "load.lisp")
        with open(stdin, "w") as f:
            f.write("(load " + json_str(lisp_file) + ")\n")
        runtime = [exe, "--core", core, "--noinform", "--sysinit", "/dev/null", "--userinit", "/dev/null",
                   "--noprint", "--disable-debugger"]
    # setarch execs the runtime, so the shell's pid is the runtime's pid.
    inner = (f"echo $$ > {shlex.quote(pidfile)}; "
             f"{override}exec setarch x86_64 -R {' '.join(shlex.quote(x) for x in runtime)} "
             f"< {shlex.quote(stdin)}")
    if a.tty:
        cmd = ["script", "-qefc", f"sh -c {shlex.quote(inner)}", "/dev/null"]
    else:
        cmd = ["sh", "-c", inner]
    log = open(a.log, "w") if a.log else tempfile.TemporaryFile("w+")
    start = time.monotonic()
    p = subprocess.Popen(cmd, cwd=tests, env=env, stdin=subprocess.DEVNULL, stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True)
    hung = False
    try:
        p.wait(timeout=a.timeout)
    except subprocess.TimeoutExpired:
        hung = True
    elapsed = time.monotonic() - start
    report = ""
    if hung:
        try:
            pid = int(open(pidfile).read())
            report = f"--- hung after {a.timeout:.0f} s: threads of pid {pid} ---\n" + thread_report(pid)
        except (OSError, ValueError, subprocess.TimeoutExpired) as e:
            report = f"--- hung after {a.timeout:.0f} s; no thread report: {e}\n"
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    status = p.returncode
    log.flush()
    log.seek(0) if not a.log else None
    text = open(a.log, errors="replace").read() if a.log else log.read()
    problems = []
    if hung:
        problems.append(f"no exit within {a.timeout:.0f} s")
    elif status != a.expect:
        problems.append(f"exit status {status}, not {a.expect}")
    for regex, low, high in a.lines:
        n = sum(1 for line in text.splitlines() if re.search(regex, line))
        if n < int(low) or (int(high) >= 0 and n > int(high)):
            want = f"at least {low}" if int(high) < 0 else f"{low} to {high}"
            problems.append(f"{n} lines match /{regex}/, {want} wanted")
    ok = not problems
    what = "hang" if hung else f"exit {status}"
    print(f"{'PASS' if ok else 'FAIL'} {label} ({elapsed:.0f} s, {what})", flush=True)
    if not ok:
        tail = "\n".join(text.splitlines()[-40:])
        print("--- " + "; ".join(problems) + f"\n--- last lines of output ---\n{tail}\n{report}", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    if ok and a.workdir:
        shutil.rmtree(a.workdir, ignore_errors=True)
    return 0 if ok else 1

def json_str(s):
    """A Lisp string literal for a path."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

if __name__ == "__main__":
    sys.exit(main())
