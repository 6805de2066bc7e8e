#!/usr/bin/env python3
"""Runs one Lisp file on a real SBCL 0.9.4.1 runtime of the fixture.

    run_lisp.py --tree DIR [--so LIB | --preload LIB] [--timeout S]
                [--expect CODE] [--tty] [--log FILE] [--label TEXT]
                [--workdir DIR] FILE.lisp [-- ARGS...]

The file is LOADed from DIR/tests, or a fresh copy of it (upstream's test
files load helpers by relative name and write scratch files there) by DIR/src/runtime/sbcl with DIR/output/sbcl.core, under
`setarch x86_64 -R` (the runtime needs address-space randomisation off).

--so LIB        puts LIB's folder first on LD_LIBRARY_PATH (drops that copy
                of libsbthread.so.0 into a runtime that loads it by SONAME)
--preload LIB   LD_PRELOADs LIB (interposes on the executable's calls)
--tty           gives the process a controlling terminal (`script`), which
                threads.impure.lisp needs: without one it exits 0, not 104
--timeout S     a hang fails after S seconds; before the process is killed,
                every thread's backtrace (gdb in batch mode) and its signal
                masks (/proc/PID/task/*/status) are printed
--expect CODE   the exit status that means success (104, upstream's "ten
                four"; 0 for files of ours that say so)

Prints one line `PASS|FAIL label (seconds, status)`; on failure also the tail
of the output. Exit status 0 on PASS, 1 on FAIL.
"""
import argparse
import os
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
    ap.add_argument("--so")
    ap.add_argument("--preload")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--expect", type=int, default=104)
    ap.add_argument("--tty", action="store_true")
    ap.add_argument("--log")
    ap.add_argument("--label")
    ap.add_argument("--workdir", help="run in a fresh copy of the tree's tests/ made here "
                    "(upstream's files write scratch files there under fixed names)")
    ap.add_argument("file")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()

    tree = os.path.abspath(a.tree)
    tests = os.path.join(tree, "tests")
    lisp_file = os.path.abspath(a.file)
    label = a.label or f"{os.path.basename(lisp_file)} on {tree}"
    if a.workdir:
        shutil.rmtree(a.workdir, ignore_errors=True)
        shutil.copytree(tests, a.workdir)
        if os.path.dirname(lisp_file) == tests:
            lisp_file = os.path.join(os.path.abspath(a.workdir), os.path.basename(lisp_file))
        tests = os.path.abspath(a.workdir)
    # C.UTF-8: under LANG=C, exhaust.impure.lisp segfaults with upstream's
    # thread code too (a fixture fact, not a thread-library one).
    env = dict(os.environ, LANG="C.UTF-8", SBCL_TEST_ARGS=" ".join(a.args))
    env.pop("LC_ALL", None)
    # Only the runtime sees the library override (not script, sh, setarch).
    override = ""
    if a.so:
        override += f"LD_LIBRARY_PATH={shlex.quote(os.path.dirname(os.path.abspath(a.so)))} "
    if a.preload:
        override += f"LD_PRELOAD={shlex.quote(os.path.abspath(a.preload))} "

    tmp = tempfile.mkdtemp(prefix="sbcl-run-")
    pidfile = os.path.join(tmp, "pid")
    # The runtime reads the LOAD form from a file: with a pipe, `exec` would
    # run in a subshell and $$ would not be the runtime's pid.
    loadfile = os.path.join(tmp, "load.lisp")
    with open(loadfile, "w") as f:
        f.write("(load " + json_str(lisp_file) + ")\n")
    runtime = [os.path.join(tree, "src/runtime/sbcl"), "--core", os.path.join(tree, "output/sbcl.core"),
               "--noinform", "--sysinit", "/dev/null", "--userinit", "/dev/null",
               "--noprint", "--disable-debugger"]
    # setarch execs the runtime, so the shell's pid is the runtime's pid.
    inner = (f"echo $$ > {shlex.quote(pidfile)}; "
             f"{override}exec setarch x86_64 -R {' '.join(shlex.quote(x) for x in runtime)} "
             f"< {shlex.quote(loadfile)}")
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
    ok = not hung and status == a.expect
    what = "hang" if hung else f"exit {status}"
    print(f"{'PASS' if ok else 'FAIL'} {label} ({elapsed:.0f} s, {what})", flush=True)
    if not ok:
        log.flush()
        log.seek(0) if not a.log else None
        text = open(a.log).read() if a.log else log.read()
        tail = "\n".join(text.splitlines()[-40:])
        print(f"--- last lines of output ---\n{tail}\n{report}", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    if ok and a.workdir:
        shutil.rmtree(a.workdir, ignore_errors=True)
    return 0 if ok else 1

def json_str(s):
    """A Lisp string literal for a path."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

if __name__ == "__main__":
    sys.exit(main())
