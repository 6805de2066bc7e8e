#!/usr/bin/env python3
"""make sbcl-bench: Lisp-level benchmarks on SBCL 0.9.4.1 as upstream builds it,
alone ("upstream": thread.o in the executable) and grafted ("ours": the
same executable and core with our libsbthread.so.0 LD_PRELOADed, which
takes over the executable's thread functions), taking turns: the choice a
user of that runtime makes.

    bench.py FIXTURE_DIR [--runs N] [--survive-runs N] [--survive-seconds S]
             [--lib OUR_LIBSBTHREAD_SO] [--benchmarks BENCHMARKS.md] [--quick]
             [--command TEXT] [--env SBTHREAD_NAME=VALUE ...]
    bench.py --from-json [--benchmarks BENCHMARKS.md] [--quiet]

First, sbcl/lisp/which-library.lisp checks that the preloaded library does
take over (the run stops there if not). Every benchmark file
(sbcl/lisp/bench-*.lisp) then runs N times per deployment, each time in a
fresh process of the upstream-built runtime with its own core, alone or
with our library (copied at the start into FIXTURE_DIR/../sbcl-bench/lib so
that a rebuild during the run cannot mix builds) preloaded, the two
alternating, file by file. Each file prints `sbcl-bench NAME VALUE UNIT
...` lines (the median over its own samples); the figure of a deployment is
the median over its processes, with the range (min-max) over them.

The survival test (bench-survive.lisp: create/join rounds without an
explicit GC, capped) runs --survive-runs times per deployment (default 2:
up to a minute each); a process that dies is a result, not a failure. A
process killed from outside (SIGTERM, SIGKILL) is run again once.

No per-call timing: an interposer (LD_PRELOAD) sees no call into the
thread code of either deployment. Upstream's thread.o is called inside
the executable, and the graft sends those calls straight to our library.

Raw results go to sbcl/bench-results.json, the plot to sbcl/bench.svg;
with --benchmarks, the section between the "sbcl-bench" markers of that
file is replaced (appended when absent). --from-json rewrites the plot and
the section from the saved results. Logs: FIXTURE_DIR/../sbcl-bench/logs
(those of passing runs are removed).
"""
import argparse
import importlib.util
import json
import math
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in sbcl/
from soak import check_grafted, env_options, normalize  # noqa: E402  (one wording per kind of failure)

BEGIN, END = "<!-- sbcl-bench: begin -->", "<!-- sbcl-bench: end -->"
RESULTS = os.path.join(HERE, "bench-results.json")
# run_lisp.py's options for the settings of our library (--env), for its
# processes.
OURS_ENV = []
SVG = os.path.join(HERE, "bench.svg")


def bench_run_module():
    """bench/run.py (the C-level benchmarks' generator) as a module: its
    machine description and its conventions."""
    spec = importlib.util.spec_from_file_location("bench_run", os.path.join(ROOT, "bench", "run.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


BR = bench_run_module()

# (kind, file, settings, settings with --quick)
KINDS = [
    ("create", "bench-create.lisp", "batches=30 batch=100", "batches=4 batch=50"),
    ("gc", "bench-gc.lisp", "gcs=100 consing-gcs=60", "gcs=10 consing-gcs=6"),
    ("interrupt", "bench-interrupt.lisp", "bursts=100 burst=50 pings=2000", "bursts=10 burst=20 pings=100"),
    ("dead", "bench-dead.lisp", "threads=2000", "threads=300"),
]

# (name, label, what a sample is); in table order
TIMED = [
    ("create-join-cv", "create + join, join on a waitqueue", "µs / thread"),
    ("create-join-poll", "create + join, join by polling `thread-alive-p`", "µs / thread"),
    ("gc-idle-0", "GC, no other thread", "ms / GC"),
    ("gc-idle-queue-8", "GC, 8 threads waiting on a waitqueue", "ms / GC"),
    ("gc-idle-sleep-8", "GC, 8 threads sleeping", "ms / GC"),
    ("gc-idle-queue-64", "GC, 64 threads waiting on a waitqueue", "ms / GC"),
    ("gc-idle-sleep-64", "GC, 64 threads sleeping", "ms / GC"),
    ("gc-spaced-queue-64", "GC, 64 threads waiting on a waitqueue, collections 5 ms apart", "ms / GC"),
    ("stw-idle-queue-64", "stop + start of the world (no collection), 64 threads waiting on a waitqueue",
     "µs / round trip"),
    ("stw-stop-idle-queue-64", "… its stop alone (`gc_stop_the_world`)", "µs / stop"),
    ("stw-start-idle-queue-64", "… its start alone (`gc_start_the_world`)", "µs / start"),
    ("gc-consing-2", "GC while 2 threads cons", "ms / GC"),
    ("gc-consing-8", "GC while 8 threads cons", "ms / GC"),
    ("interrupt-burst-busy", "interrupt bursts, busy target", "µs / interrupt"),
    ("interrupt-burst-sleeping", "interrupt bursts, sleeping target", "µs / interrupt"),
    ("interrupt-ping-pong", "interrupt ping-pong", "µs / round trip"),
]
MEMORY = [
    ("dead-thread-rss", "resident memory per dead, unreaped thread", "KiB"),
    ("dead-thread-maps", "map entries per dead, unreaped thread", "entries"),
]
LABELS = {name: label for name, label, _ in TIMED + MEMORY}
# Rows that are parts of another benchmark, shown to say where its time goes,
# not benchmarks themselves: the start returns before the threads it resumed
# have run, so some of their work lands in the next stop (BENCHMARKS.md).
PARTS = {"stw-stop-idle-queue-64", "stw-start-idle-queue-64"}
TIMED_NAMES = {name for name, _, _ in TIMED}
LINE = re.compile(r"^sbcl-bench (\S+) (\S+) (\S+)((?: \S+=\S+)*)\s*$")


def parse_keys(text):
    return dict(kv.split("=", 1) for kv in text.split())


def parse_output(text):
    """{name: {"value", "unit", "keys"}} of a benchmark's output, and the last
    survive-progress count."""
    results, progress = {}, 0
    for line in text.splitlines():
        m = LINE.match(line.strip())
        if not m:
            continue
        name, value, unit, keys = m.groups()
        if name == "survive-progress":
            progress = int(value)
            continue
        results[name] = {"value": float(value), "unit": unit, "keys": parse_keys(keys)}
    return results, progress


def failure_reason(text, status_line):
    for pat in [r"fatal error[^\n]*\n[^\n]*", r"mprotect[^\n]*", r"unhandled [^\n]*", r"Segmentation fault",
                r"Heap exhausted[^\n]*", r"attempt to THROW[^\n]*"]:
        m = re.search(pat, text)
        if m:
            return normalize(m.group(0).replace("\n", " ").strip())
    return normalize(status_line)


def one_process(fixture, logdir, kind, lisp, settings, lib, lib_name, run, timeout):
    """Runs one benchmark file in a fresh process (sbcl/run_lisp.py) of the
    upstream-built runtime, with LIB preloaded when given."""
    tree = os.path.join(fixture, "upstream")
    log = os.path.join(logdir, "%s-%s-%d.log" % (kind, lib_name, run))
    cmd = [sys.executable, os.path.join(HERE, "run_lisp.py"), "--tree", tree, "--timeout", str(timeout),
           "--log", log, "--label", "%s (%s, run %d)" % (lisp, lib_name, run + 1)]
    if lib:
        cmd += ["--preload", lib] + OURS_ENV
    cmd += [os.path.join(HERE, "lisp", lisp), "--"] + settings.split()
    start = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.monotonic() - start
    first = p.stdout.splitlines()[0] if p.stdout else ""
    text = open(log, errors="replace").read() if os.path.exists(log) else ""
    results, progress = parse_output(text)
    hang = "hang)" in first
    outcome = "pass" if p.returncode == 0 else ("hang" if hang else "died")
    reason = "" if outcome == "pass" else failure_reason(text, first)
    rec = {"kind": kind, "lib": lib_name, "run": run, "outcome": outcome, "reason": reason,
           "seconds": round(elapsed, 1), "settings": settings, "results": results, "progress": progress}
    if outcome == "pass":
        os.remove(log) if os.path.exists(log) else None
    else:
        with open(log, "a") as f:
            f.write("\n--- run_lisp.py ---\n" + p.stdout)
    return rec


def run_all(a, fixture, ours, logdir):
    procs = []
    plan = []
    for i in range(a.runs):
        for k, (kind, lisp, settings, quick) in enumerate(KINDS):
            plan.append((i, k, kind, lisp, quick if a.quick else settings, 300))
        if i < a.survive_runs:
            rounds = 20000 if a.quick else 200000
            plan.append((i, len(KINDS), "survive", "bench-survive.lisp",
                         "rounds=%d seconds=%d" % (rounds, a.survive_seconds), a.survive_seconds + 120))
    total = 2 * len(plan)
    n = 0
    for i, k, kind, lisp, settings, timeout in plan:
        # ours and upstream's take turns: which goes first alternates with
        # the run and with the file
        libs = [("ours", ours), ("upstream", None)]
        if (i + k) % 2:
            libs.reverse()
        for lib_name, lib in libs:
            n += 1
            rec = one_process(fixture, logdir, kind, lisp, settings, lib, lib_name, i, timeout)
            if rec["outcome"] == "died" and re.match(r"killed by signal (9|15)$", rec["reason"]):
                # SIGTERM / SIGKILL come from outside (the runtime dies by
                # lose, SIGSEGV or SIGABRT; a hang is reported as such):
                # run it again, once, and say so
                print("sbcl-bench: %s (%s, run %d) was %s: once more" % (kind, lib_name, i + 1, rec["reason"]),
                      flush=True)
                again = one_process(fixture, logdir, kind, lisp, settings, lib, lib_name, i, timeout)
                again["retried_after"] = rec["reason"]
                rec = again
            procs.append(rec)
            extra = ""
            if kind == "survive":
                r = rec["results"].get("survive-rounds")
                extra = " %d rounds" % (r["value"] if r else rec["progress"])
            print("sbcl-bench %3d/%d run %d %-13s %-8s %s (%.0f s)%s%s" % (
                n, total, i + 1, kind, lib_name, rec["outcome"], rec["seconds"], extra,
                (": " + rec["reason"]) if rec["reason"] else ""), flush=True)
    return procs


# ---- summary

def spread(values):
    s = sorted(values)
    return {"median": statistics.median(s), "min": s[0], "max": s[-1], "n": len(s),
            "p25": BR.pct(s, 0.25), "p75": BR.pct(s, 0.75), "values": s}


def summarize(procs):
    out = {"timed": {}, "memory": {}, "survive": {}, "failures": [],
           "retried": [{k: rec[k] for k in ("kind", "lib", "run", "outcome", "retried_after")}
                       for rec in procs if rec.get("retried_after")]}
    for rec in procs:
        if rec["outcome"] != "pass" and rec["kind"] != "survive":
            out["failures"].append({k: rec[k] for k in ("kind", "lib", "run", "outcome", "reason")})
    for name, _, _ in TIMED + MEMORY:
        row = {}
        for lib in ("upstream", "ours"):
            vals = [r["results"][name]["value"] for r in procs
                    if r["lib"] == lib and name in r["results"]]
            if vals:
                row[lib] = spread(vals)
        if "upstream" in row and "ours" in row and row["upstream"]["median"] > 0:
            row["ratio"] = row["ours"]["median"] / row["upstream"]["median"]
        out["timed" if name in TIMED_NAMES else "memory"][name] = row
    for lib in ("upstream", "ours"):
        runs = []
        for r in procs:
            if r["kind"] == "survive" and r["lib"] == lib:
                res = r["results"].get("survive-rounds")
                rounds = int(res["value"]) if res else r["progress"]
                cap = int(res["keys"].get("cap", 0)) if res else 0
                runs.append({"run": r["run"], "outcome": r["outcome"], "rounds": rounds,
                             "reached_cap": bool(res) and rounds >= cap,
                             "most_maps": int(res["keys"].get("most_maps", 0)) if res else None,
                             "seconds": float(res["keys"]["seconds"]) if res else r["seconds"],
                             "reason": r["reason"]})
        out["survive"][lib] = runs
    return out


# ---- plots (in the style of bench/run.py's write_svg)

def svg_ratio_chart(path, title, rows, refs, width=760):
    """Horizontal bars on a log scale: rows = [(label, ratio, low, high,
    target or None)]; refs = [(x, label)] vertical reference lines."""
    left, right, top, bar, gap = 300, 50, 44, 16, 8
    h = top + len(rows) * (bar + gap) + 62
    xs = [r[1] for r in rows] + [r[2] for r in rows if r[2]] + [r[3] for r in rows if r[3]] + [x for x, _ in refs]
    xs += [r[4] for r in rows if r[4]]
    # a ratio of 0 (e.g. no map entry at all) is drawn at the left edge
    floor = max(0.01, min([v for v in xs if v > 0] or [0.05]) / 2)
    xs = [max(v, floor) for v in xs]
    lo, hi = math.log10(min(xs) / 1.15), math.log10(max(xs) * 1.15)
    axis_y = top + len(rows) * (bar + gap)

    def x(v):
        return left + (math.log10(max(v, floor)) - lo) / (hi - lo) * (width - left - right)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">'
           % (width, h), '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="20" font-size="14">%s</text>' % title]
    ticks = []
    for v in (1, 0.5, 2, 0.25, 5, 0.1, 10, 0.2, 20, 0.05, 50, 0.8, 0.7, 1.5, 3, 100):
        if lo <= math.log10(v) <= hi and all(abs(x(v) - x(t)) >= 36 for t in ticks):
            ticks.append(v)
    for v in ticks:
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (x(v), top - 5, x(v), axis_y))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%g×</text>' % (x(v), axis_y + 15, v))
    for v, label in refs:
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black" stroke-dasharray="%s"/>' % (
            x(v), top - 5, x(v), axis_y, "" if v == 1 else "4,3"))
        if label:
            out.append('<text x="%.1f" y="%d" font-size="10">%s</text>' % (x(v) + 3, top - 8, label))
    for i, (label, ratio, low, high, target) in enumerate(rows):
        y0 = top + i * (bar + gap)
        color = "#1f77b4" if ratio <= 1.05 else "#d62728"
        out.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (left - 8, y0 + bar - 4, label))
        x1 = x(1.0)
        out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" opacity="0.8"/>' % (
            min(x1, x(ratio)), y0, abs(x(ratio) - x1), bar, color))
        if low is not None and high is not None:
            out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>' % (
                x(low), y0 + bar // 2, x(high), y0 + bar // 2))
        if target:
            out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#2ca02c" stroke-width="3"/>' % (
                x(target), y0 - 2, x(target), y0 + bar + 2))
        out.append('<text x="%.1f" y="%d" font-size="10">%.2f×</text>' % (
            max(x1, x(ratio), x(high) if high else 0) + 4, y0 + bar - 4, ratio))
    out.append('<text x="%d" y="%d" text-anchor="middle">ours ÷ upstream (medians); whisker: ours\' min–max'
               ' ÷ upstream\'s median</text>' % (width // 2, h - 24))
    out.append('<text x="%d" y="%d" text-anchor="middle">green mark: the target; red bar: above 1.05×</text>' % (
        width // 2, h - 8))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


# Once bench/run.py has these (moved there), its copies are the ones used.
svg_ratio_chart = getattr(BR, "svg_ratio_chart", svg_ratio_chart)

TARGETS = {"gc-idle-queue-64": 0.85, "gc-idle-sleep-64": 0.8, "gc-consing-8": 1.0,
           "stw-idle-queue-64": 0.6, "create-join-cv": 1.0, "create-join-poll": 1.0,
           "dead-thread-rss": 0.25, "dead-thread-maps": 0.5}


def noise_band(row):
    """A benchmark's noise band, measured: how far apart upstream's own
    processes landed (max ÷ min of their medians, minus 1), the spread of
    the same executable, core and library run after run."""
    u = row.get("upstream") or {}
    return u["max"] / u["min"] - 1 if u.get("min") else None

def write_svgs(summary):
    rows = []
    for name, label, _ in TIMED + MEMORY:
        r = (summary["timed"].get(name) or summary["memory"].get(name) or {})
        if "ratio" not in r:
            continue
        up = r["upstream"]["median"]
        rows.append((label.replace("`", ""), r["ratio"], r["ours"]["min"] / up if up else None,
                     r["ours"]["max"] / up if up else None, TARGETS.get(name)))
    if rows:
        svg_ratio_chart(SVG, "Real SBCL 0.9.4.1 runtime, Lisp level: ours ÷ upstream's thread.c", rows,
                        [(1.0, ""), (1.05, "1.05×")])


# ---- BENCHMARKS.md section

def fmt(v):
    if v is None:
        return "—"
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def md_section(saved):
    s, m = saved["summary"], saved["meta"]
    timed, memory = s["timed"], s["memory"]
    ok = BR.ok

    def ratio(name):
        r = timed.get(name) or memory.get(name) or {}
        return r.get("ratio")

    def rtxt(v):
        return "%.2f×" % v if v is not None else "n/a"

    out = [BEGIN, "## Real SBCL 0.9.4.1 runtime: Lisp-level benchmarks", "",
           "Generated by `%s` (sbcl/bench.py) on %s. Do not edit by hand." % (m["command"], m["date"]), "",
           "Machine: %d CPUs, %s; Linux %s; %s; load average %s at the start, %s at the end. SBCL 0.9.4.1 as"
           " upstream builds it (`make sbcl`: `thread.o` in the executable, its own core) runs each benchmark"
           " file (`sbcl/lisp/bench-*.lisp`) in %d fresh processes alone (\"upstream\") and %d grafted"
           " (\"ours\": the same executable and core with `%s` LD_PRELOADed, which takes over the"
           " executable's thread functions), the two taking turns file by file."
           " Each process prints the median of its own samples; a figure below is the median over the"
           " processes, and the range is their min–max. Times are wall-clock (`gettimeofday`)."
           % (m["cpus"], m["cpu"], m["kernel"], m["glibc"], m["load_start"], m["load_end"], m["runs"], m["runs"],
              m["ours"]), ""]
    if m.get("ours_sha256"):
        out += ["Our library: `%s` as it was at the start (sha256 %s…; copied, so that a rebuild during the run"
                " does not mix builds)%s. The whole run took %s minutes." % (
                    m["ours"], m["ours_sha256"] if isinstance(m["ours_sha256"], str) else m["ours_sha256"][0],
                    ", run with " + ", ".join("`%s`" % e for e in m["ours_env"]) if m.get("ours_env") else "",
                    m.get("minutes", "?")), ""]
    # targets
    out += ["### Targets (issue 11)", "", "| target | measured (ours ÷ upstream) | |", "|---|---|---|"]
    g64 = [ratio("gc-idle-queue-64"), ratio("gc-idle-sleep-64")]
    out.append("| GC with 64 idle threads ≤ 0.8× (waiting on a waitqueue / sleeping) | %s / %s | %s |" % (
        rtxt(g64[0]), rtxt(g64[1]), ok(None not in g64 and max(g64) <= 0.8)))
    c8 = ratio("gc-consing-8")
    out.append("| GC while 8 threads cons ≤ 0.7× | %s | %s |" % (rtxt(c8), ok(c8 is not None and c8 <= 0.7)))
    benches = [n for n, _, _ in TIMED if n not in PARTS and "ratio" in timed.get(n, {})]
    above = [(n, timed[n]["ratio"]) for n in benches if timed[n]["ratio"] > 1.05]
    worst = max([(timed[n]["ratio"], n) for n in benches] or [(0, None)])
    out.append("| no benchmark above 1.05× | %s | %s |" % (
        "; ".join("%s %.2f×" % (LABELS[n].replace("`", ""), r) for n, r in above) if above
        else "highest: %s %.2f×" % (LABELS[worst[1]].replace("`", ""), worst[0]) if worst[1] else "n/a",
        ok(worst[1] is not None and not above)))
    rss, maps = ratio("dead-thread-rss"), ratio("dead-thread-maps")
    out.append("| resident memory per dead, unreaped thread ≤ 0.25× | %s | %s |" % (
        rtxt(rss), ok(rss is not None and rss <= 0.25)))
    out.append("| map entries per dead, unreaped thread ≤ 0.5× | %s | %s |" % (
        rtxt(maps), ok(maps is not None and maps <= 0.5)))
    sv = s["survive"]

    def surv(lib):
        runs = sv.get(lib, [])
        return sum(1 for r in runs if r["reached_cap"]), len(runs)

    so, su = surv("ours"), surv("upstream")
    cap = m["survive_rounds"]
    out.append("| the low-consing create/join loop survives %d rounds where upstream dies | ours %d of %d runs, "
               "upstream %d of %d | %s |" % (cap, so[0], so[1], su[0], su[1],
                                              ok(so[1] > 0 and so[0] == so[1] and su[0] < su[1])))
    out += ["", "The last target asks for ours to survive where upstream's library dies: it is met only if"
            " every run of ours reached the cap and some run of upstream's did not; when both survive, the"
            " runs show no difference to claim.", ""]
    # issue 20's targets (the grafted deployment against upstream alone)
    out += ["", "### Targets (issue 20)", "", "| target | measured (ours ÷ upstream) | |", "|---|---|---|"]
    stw = ratio("stw-idle-queue-64")
    out.append("| stop + start of the world at 64 waiting threads, timed at the library boundary, ≤ 0.6× | %s | %s |"
               % (rtxt(stw), ok(stw is not None and stw <= 0.6)))
    q64 = ratio("gc-idle-queue-64")
    out.append("| GC with 64 threads waiting ≤ 0.85× | %s | %s |" % (rtxt(q64), ok(q64 is not None and q64 <= 0.85)))
    out.append("| GC while 8 threads cons ≤ 1.0× | %s | %s |" % (rtxt(c8), ok(c8 is not None and c8 <= 1.0)))
    cj = [ratio("create-join-poll"), ratio("create-join-cv")]
    out.append("| create + join ≤ 1.0× (polling / waitqueue), dead threads' give-back on | %s / %s | %s |" % (
        rtxt(cj[0]), rtxt(cj[1]), ok(None not in cj and max(cj) <= 1.0)))
    beyond = []
    for n, _, _ in TIMED:
        r = timed.get(n, {})
        band = noise_band(r)
        if n in PARTS:
            continue
        if "ratio" in r and band is not None and r["ratio"] > 1.0 + band:
            beyond.append("%s %.2f× (band %.0f%%)" % (LABELS[n].replace("`", ""), r["ratio"], 100 * band))
    out.append("| no benchmark above 1.0× beyond its noise band | %s | %s |" % (
        "; ".join(beyond) if beyond else "none", ok(not beyond)))
    out += ["", "A benchmark's noise band is measured in the same run: the spread of upstream's own processes"
            " (the largest of their medians ÷ the smallest, minus 1); a ratio above 1.0× by less than that is"
            " within what rerunning the same executable shows. The stop and the start alone are parts of the"
            " stop + start round trip, not benchmarks of their own: the start returns before the threads it"
            " resumed have run, so some of their work lands in the next stop.", ""]
    # main table
    out += ["### Results", "", "![ours ÷ upstream](sbcl/bench.svg)", "",
            "| benchmark | unit | upstream median (range) | ours median (range) | ours ÷ upstream |",
            "|---|---|---:|---:|---:|"]
    for name, label, unit in TIMED + MEMORY:
        r = timed.get(name) or memory.get(name) or {}
        if "upstream" not in r or "ours" not in r:
            out.append("| %s | %s | — | — | — |" % (label, unit))
            continue
        u, o = r["upstream"], r["ours"]
        out.append("| %s | %s | %s (%s–%s) | %s (%s–%s) | %s |" % (
            label, unit, fmt(u["median"]), fmt(u["min"]), fmt(u["max"]), fmt(o["median"]), fmt(o["min"]),
            fmt(o["max"]), rtxt(r.get("ratio"))))
    st = m["settings"]
    out += ["", "What each one does (sample counts per process as run here):", "",
            "- **create + join** (`bench-create.lisp`, %s): batches of threads that return at once, each"
            " joined before the next is created, then one `(gc)` so that the finalizers reap the batch (0.9.4.1"
            " reaps a dead thread only from its finalizer after a GC): a sample is the batch's time, GC and"
            " reaping included, per thread. *Waitqueue join*: the thread's function sets a flag under a mutex"
            " and notifies a waitqueue, the creator `condition-wait`s (0.9.4.1 has no `join-thread`)."
            " *Polling join*: the creator polls `thread-alive-p`, which turns false when the library marks"
            " the thread DEAD, with a `sched_yield` between polls (a pure spin holds the CPU the thread needs"
            " to finish whenever the two share one: on a loaded 2-core machine it made samples 10× slower)."
            % st["create"],
            "- **GC** (`bench-gc.lisp`, %s): the time of one `(sb-ext:gc)` (a nursery collection) in the"
            " main thread, with N other threads waiting in `condition-wait` on one waitqueue, or sleeping"
            " (`(sleep 0.05)` in a loop), or consing lists as fast as they can; while they cons,"
            " `bytes-consed-between-gcs` is raised (512 MiB) so that only the main thread's `(gc)`, every 2 ms,"
            " collects: a sample is a collection that has to stop N threads busy allocating, not a wait for"
            " theirs." % st["gc"],
            "- **interrupts** (`bench-interrupt.lisp`, %s): bursts of `interrupt-thread` sent back to back to"
            " one thread spinning in Lisp or sleeping, timed until the target has run them all, per interrupt;"
            " ping-pong: the main thread interrupts a sleeping thread whose interrupt function interrupts the"
            " main thread back, per round trip. The waiting thread polls, with a `sched_yield` between polls."
            % st["interrupt"],
            "- **dead, unreaped threads** (`bench-dead.lisp`, %s): threads that return at once, kept"
            " referenced so that no finalizer reaps them; growth of VmRSS and of `/proc/self/maps` lines"
            " from before the first to after the last is dead, per thread." % st["dead"],
            "- **survival** (`bench-survive.lisp`, %s): create a thread that returns at once, poll"
            " `thread-alive-p` (yielding the CPU) until it is dead, again, with no explicit GC, until the cap"
            " or the time limit; a process that dies is a result." % st["survive"], ""]
    # survival
    out += ["### Survival without an explicit GC", "",
            "| library | run | outcome | rounds | most map entries seen | seconds |", "|---|---:|---|---:|---:|---:|"]
    for lib in ("upstream", "ours"):
        for r in sv.get(lib, []):
            what = ("reached the cap" if r["reached_cap"] else
                    "stopped at the time limit" if r["outcome"] == "pass" else
                    "%s: %s" % (r["outcome"], r["reason"] or "—"))
            out.append("| %s | %d | %s | %s%d | %s | %.0f |" % (
                lib, r["run"] + 1, what, "" if r["outcome"] == "pass" else "≥ ", r["rounds"],
                r["most_maps"] if r["most_maps"] is not None else "—", r["seconds"]))
    out += ["", "Most map entries seen: sampled every 10,000 rounds (the peak between samples is not seen);"
            " `vm.max_map_count` here: %s." % m.get("max_map_count", "?"), ""]
    if s["failures"]:
        out += ["### Runs that failed", "", "| file | library | run | outcome | reason |", "|---|---|---:|---|---|"]
        for f in s["failures"]:
            out.append("| %s | %s | %d | %s | %s |" % (f["kind"], f["lib"], f["run"] + 1, f["outcome"], f["reason"]))
        out += ["", "Logs of failed runs: `build/sbcl-bench/logs/`.", ""]
    if s.get("retried"):
        out += ["Processes killed from outside (SIGTERM or SIGKILL, which the runtime never sends itself) and run"
                " again once: %s." % "; ".join("%s, %s, run %d (%s; then %s)" % (
                    r["kind"], r["lib"], r["run"] + 1, r["retried_after"], r["outcome"]) for r in s["retried"]), ""]
    out.append(END)
    return "\n".join(out)


def write_section(path, md):
    text = open(path).read() if os.path.exists(path) else ""
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + md + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + md + "\n"
    with open(path, "w") as f:
        f.write(text)


def file_hash(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def loadavg():
    with open("/proc/loadavg") as f:
        return " / ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fixture", nargs="?", help="build/sbcl (not needed with --from-json)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--survive-runs", type=int, default=2)
    ap.add_argument("--survive-seconds", type=int, default=120)
    ap.add_argument("--lib", default=os.path.join(ROOT, "build/lib/libsbthread.so.0"))
    ap.add_argument("--benchmarks")
    ap.add_argument("--quick", action="store_true", help="small counts (for developing the harness)")
    ap.add_argument("--command", help="the command to show in the report")
    ap.add_argument("--from-json", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="do not print the section")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting of our library for its processes (e.g. SBTHREAD_RESUME_WAKE=0)")
    a = ap.parse_args()
    OURS_ENV[:] = env_options(ap, a.env)
    if a.from_json:
        with open(RESULTS) as f:
            saved = json.load(f)
        saved["summary"] = summarize(saved["processes"])
    else:
        if not a.fixture:
            ap.error("FIXTURE_DIR is needed (build/sbcl)")
        fixture = os.path.abspath(a.fixture)
        ours = os.path.abspath(a.lib)
        for f in (ours, os.path.join(fixture, "upstream/output/sbcl.core")):
            if not os.path.exists(f):
                sys.exit("sbcl-bench: %s is missing (make sbcl)" % f)
        logdir = os.path.join(os.path.dirname(fixture), "sbcl-bench", "logs")
        os.makedirs(logdir, exist_ok=True)
        # Our library as it is now, copied: a rebuild of build/lib during the
        # run (make lib replaces the file) does not mix two builds.
        snapdir = os.path.join(os.path.dirname(fixture), "sbcl-bench", "lib")
        os.makedirs(snapdir, exist_ok=True)
        snapshot = os.path.join(snapdir, "libsbthread.so.0")
        shutil.copyfile(ours, snapshot + ".tmp")
        os.replace(snapshot + ".tmp", snapshot)
        check_grafted(fixture, snapshot, os.path.join(logdir, "which-library.log"))
        load_start = loadavg()
        hash_start = file_hash(snapshot)
        t0 = time.monotonic()
        procs = run_all(a, fixture, snapshot, logdir)
        meta = BR.machine()
        command = a.command or "python3 sbcl/bench.py %s" % " ".join(shlex.quote(x) for x in sys.argv[1:])
        settings = {kind: (quick if a.quick else s) for kind, _, s, quick in KINDS}
        settings["survive"] = "rounds=%d seconds=%d, %d runs per library" % (
            20000 if a.quick else 200000, a.survive_seconds, min(a.survive_runs, a.runs))
        meta.update({"command": command, "runs": a.runs, "ours": os.path.relpath(ours, ROOT),
                     "load_start": load_start, "load_end": loadavg(), "settings": settings,
                     "survive_rounds": 20000 if a.quick else 200000, "quick": a.quick,
                     "minutes": round((time.monotonic() - t0) / 60, 1),
                     "ours_sha256": hash_start, "ours_env": a.env,
                     "max_map_count": open("/proc/sys/vm/max_map_count").read().strip()})
        saved = {"meta": meta, "processes": procs}
        saved["summary"] = summarize(procs)
        with open(RESULTS, "w") as f:
            json.dump(saved, f, indent=1)
    write_svgs(saved["summary"])
    md = md_section(saved)
    if not a.quiet:
        print(md)
    if a.benchmarks:
        write_section(a.benchmarks, md)
        print("updated %s" % a.benchmarks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
