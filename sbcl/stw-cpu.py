#!/usr/bin/env python3
"""Where a stop + start of the world spends its time on the real runtime:
the process's CPU time per round trip against the round trip's wall time,
upstream alone against ours grafted (as make sbcl-bench deploys them).

    sbcl/stw-cpu.py FIXTURE_DIR [--runs N] [--threads N] [--count N] [--env SBTHREAD_NAME=VALUE ...]

Each run is a fresh process of sbcl/lisp/stw-loop.lisp: COUNT round trips
with THREADS threads waiting on a waitqueue, and the same process with 0
round trips; the round trips' mean wall time, and the CPU time of the runtime (getrusage of the reaped
children) of the second is taken from the first's, divided by COUNT. A
library whose round trip is about its CPU time divided by the machine's
CPUs is bound by the work of the threads it stops and resumes (their
wake-ups, signal frames and sleeps), not by its own waiting. Medians of
RUNS runs each, the two libraries taking turns (BENCHMARKS.md, "Where a
stop + start of 64 waiting threads spends its time").
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from soak import env_options  # noqa: E402  (the --env check and options, as bench.py)


def one(fixture, lib, threads, count, env_opts):
    """(CPU seconds of the run's processes, mean round trip in µs: the
    round trips' total over their count, as the CPU time is)."""
    with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
        cmd = [sys.executable, os.path.join(HERE, "run_lisp.py"), "--tree", os.path.join(fixture, "upstream"),
               "--log", log.name]
        if lib:
            cmd += ["--preload", lib] + env_opts
        cmd += [os.path.join(HERE, "lisp", "stw-loop.lisp"), "n=%d" % threads, "count=%d" % count]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode != 0:
            sys.exit("stw-cpu: %s failed:\n%s" % (" ".join(cmd), p.stdout))
        m = re.search(r"^sbcl-bench stw-loop \S+ us n=(\d+) threads=\d+ total_us=(\d+)", log.read(), re.M)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return cpu, int(m.group(2)) / int(m.group(1)) if m and int(m.group(1)) else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fixture")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=64)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    a = ap.parse_args()
    env_opts = env_options(ap, a.env)
    fixture = os.path.abspath(a.fixture)
    libs = {"upstream": None, "ours": os.path.join(fixture, "prefix/lib/libsbthread.so.0")}
    res = {name: {"cpu": [], "wall": []} for name in libs}
    for i in range(a.runs):
        for name in (list(libs) if i % 2 == 0 else list(libs)[::-1]):
            base, _ = one(fixture, libs[name], a.threads, 0, env_opts)
            cpu, wall = one(fixture, libs[name], a.threads, a.count, env_opts)
            res[name]["cpu"].append((cpu - base) / a.count * 1e6)
            res[name]["wall"].append(wall)
    print("%d threads waiting, %d round trips per run, %d runs each (medians; CPUs: %d)" % (
        a.threads, a.count, a.runs, os.cpu_count()))
    print("| library | round trip, mean (µs) | process CPU per round trip (µs) | CPU ÷ round trip |")
    print("|---|---:|---:|---:|")
    for name, r in res.items():
        w, c = statistics.median(r["wall"]), statistics.median(r["cpu"])
        print("| %s | %.0f | %.0f | %.2f |" % (name, w, c, c / w if w else 0))


if __name__ == "__main__":
    main()
