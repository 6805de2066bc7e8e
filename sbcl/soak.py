#!/usr/bin/env python3
"""make sbcl-soak: stress files on the real SBCL 0.9.4.1 runtime, with our
libsbthread.so.0 and with upstream's thread library, taking turns.

    soak.py FIXTURE_DIR --seconds S --runs N [--stress FILE ...]
            [--reliability RELIABILITY.md]

The files are STRESSES below (sbcl/lisp/soak.lisp and the stress family
sbcl/lisp/stress-*.lisp), or those named with --stress. Each run is a
fresh process of S seconds with a time limit of S + 60 s. Outcomes: pass
(exit 104), error (exit 1: an error in some thread, the file's own check),
fatal (any other end: the runtime's lose, a segfault, a memory fault) or
hang (the time limit: every thread's backtrace goes to the run's log).
Logs of runs that did not pass are kept in FIXTURE_DIR/soak/. With
--reliability, the results replace the section between the "sbcl-soak"
markers of that file.
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
]


def one_run(fixture, lib, seconds, log, lisp_file="soak.lisp"):
    tree = os.path.join(fixture, "legacy")
    extra = ["--so", lib] if lib else []
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


def soak_markdown(rows, seconds, date):
    out = ["### `soak.lisp`",
           "",
           "%d runs of %d s each on %s: %s." % (rows[0]["runs"], seconds, date, STRESSES[0][1]),
           "",
           "| library | runs | pass | hang | fatal error | error in a thread | median per run: workers / GCs /"
           " interrupts accepted / refused | what failed |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append("| %s | %d | %d | %d | %d | %d | %d / %d / %d / %d | %s |" % (
            "ours" if r["lib"] == "ours" else "upstream `thread.c`", r["runs"], r["pass"], r["hang"], r["fatal"],
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
                "ours" if r["lib"] == "ours" else "upstream `thread.c`", r["runs"], r["pass"], r["hang"],
                r["fatal"], r["error"], " / ".join("%s %d" % (k, v) for k, v in zip(keys, r["medians"])),
                "%d / %d" % (r["backoffs"], r["adoptions"]) if r["lib"] == "ours" else "—",
                "; ".join(r["reasons"]) or "—"))
    return out


def markdown(saved):
    out = [BEGIN,
           "## Real SBCL 0.9.4.1 runtime: soak",
           "",
           "`make sbcl-soak SECONDS=s RUNS=n` (`sbcl/soak.py`): each stress file on the legacy runtime, with our"
           " `libsbthread.so.0` (LD_LIBRARY_PATH) and with upstream's thread library, taking turns, each run a"
           " fresh process; `STRESS=file` runs one file and keeps the others' last results. A hang prints every"
           " thread's backtrace and signal masks into the run's log (`build/sbcl/soak/<file>/`).",
           ""]
    if "soak.lisp" in saved:
        d = saved["soak.lisp"]
        out += soak_markdown(summarize(d["results"]), d["seconds"], d["date"]) + [""]
    out += family_markdown(saved)
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
    a = ap.parse_args()
    fixture = os.path.abspath(a.fixture)
    ours = os.path.join(fixture, "prefix/lib/libsbthread.so.0")
    files = a.stress or [f for f, _, _ in STRESSES]
    unknown = [f for f in files if f not in [s[0] for s in STRESSES]]
    if unknown:
        ap.error("not in STRESSES: " + ", ".join(unknown))
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    saved, failed = {}, False
    for f, _, _ in STRESSES:
        logdir = os.path.join(fixture, "soak", f[:-len(".lisp")])
        path = os.path.join(logdir, "results.json")
        if f in files and not a.from_json:
            os.makedirs(logdir, exist_ok=True)
            results = []
            for i in range(a.runs):
                for name, lib in (("ours", ours), ("upstream", None)) if i % 2 == 0 else \
                        (("upstream", None), ("ours", ours)):
                    log = os.path.join(logdir, f"{name}-{i}.log")
                    outcome, figures, reason, warned = one_run(fixture, lib, a.seconds, log, f)
                    results.append({"lib": name, "run": i, "outcome": outcome, "figures": figures,
                                    "reason": reason, "warned": warned})
                    print(f"{f} run {i + 1}/{a.runs} {name}: {outcome}" + (f" ({reason})" if reason else ""),
                          flush=True)
                    if outcome == "pass":
                        os.remove(log)
            with open(path, "w") as out:
                json.dump({"seconds": a.seconds, "runs": a.runs, "date": date, "results": results}, out, indent=1)
        if os.path.exists(path):
            with open(path) as inp:
                saved[f] = json.load(inp)
            if f in files:
                failed |= any(r["outcome"] != "pass" for r in saved[f]["results"] if r["lib"] == "ours")
    md = markdown(saved)
    print(md)
    if a.reliability:
        text = open(a.reliability).read() if os.path.exists(a.reliability) else ""
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
