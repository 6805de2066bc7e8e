#!/usr/bin/env python3
"""make sbcl-soak: sbcl/lisp/soak.lisp on SBCL 0.9.4.1 as upstream builds it,
alone ("upstream": thread.o in the executable) and grafted ("ours": the same
executable and core with our libsbthread.so.0 LD_PRELOADed, which takes
over the executable's thread functions), taking turns: the choice a user
of that runtime makes.

    soak.py FIXTURE_DIR --seconds S --runs N [--reliability RELIABILITY.md]

First, sbcl/lisp/which-library.lisp checks that the preloaded library does
take over (the soak stops there if not: its "ours" runs would be upstream's).

Each run is a fresh process of S seconds with a time limit of S + 60 s.
Outcomes: pass (exit 104), error (exit 1: an error in some thread, the
soak's own check), fatal (any other end: the runtime's lose, a segfault,
a memory fault) or hang (the time limit: every thread's backtrace goes to
the run's log). Logs of runs that did not pass are kept in
FIXTURE_DIR/soak/. With --reliability, the results replace the section
between the "sbcl-soak" markers of that file.
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


def one_run(fixture, lib, seconds, log):
    tree = os.path.join(fixture, "upstream")
    extra = ["--preload", lib] if lib else []
    cmd = [sys.executable, os.path.join(HERE, "run_lisp.py"), "--tree", tree, "--timeout", str(seconds + 60),
           "--log", log] + extra + [os.path.join(HERE, "lisp/soak.lisp"), str(seconds)]
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
    elif re.search(r"exit 1\)", first) and "soak: error in" in text:
        outcome = "error"
    else:
        outcome = "fatal"
    m = re.search(r"soak: ([\d.]+) s: (\d+) workers, (\d+) conses checked, (\d+) GCs, (\d+) interrupts and "
                  r"(\d+) terminations accepted \((\d+) refused", text)
    figures = dict(zip(["seconds", "workers", "conses", "gcs", "interrupts", "terminations", "refused"],
                       map(float, m.groups()))) if m else {}
    m = re.search(r"soak: stops that backed off: (\d+)", text)
    if m:
        figures["backoffs"] = float(m.group(1))
    m = re.search(r"soak: sleepers counted as stopped: (\d+)", text)
    if m:
        figures["adoptions"] = float(m.group(1))
    reason = ""
    if outcome != "pass":
        for pat in [r"fatal error[^\n]*\n[^\n]*", r"unhandled [^\n]*", r"soak: error in[^\n]*", r"Segmentation fault",
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


def markdown(rows, seconds, date):
    out = [BEGIN,
           "## Real SBCL 0.9.4.1 runtime: soak",
           "",
           "`make sbcl-soak SECONDS=%d RUNS=%d` on %s: `sbcl/lisp/soak.lisp` (2 creators of short-lived"
           " workers, 2 consers checking their lists, a collector calling `(gc)` every few ms, an interrupter"
           " sending interrupts and TERMINATE-THREAD to consers and workers) on SBCL 0.9.4.1 as upstream"
           " builds it (`thread.o` in the executable, its own core), alone and grafted (the same executable"
           " and core with our `libsbthread.so.0` LD_PRELOADed), taking turns, each run a fresh process."
           % (seconds, rows[0]["runs"], date),
           "",
           "| library | runs | pass | hang | fatal error | error in a thread | median per run: workers / GCs /"
           " interrupts accepted / refused | what failed |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append("| %s | %d | %d | %d | %d | %d | %d / %d / %d / %d | %s |" % (
            "ours (grafted)" if r["lib"] == "ours" else "upstream `thread.c` (alone)", r["runs"], r["pass"], r["hang"], r["fatal"],
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
            " a thread the stop had suspended; `stop_backoffs`, `src/host_stuck.rs`): %d, in %d of the %d runs"
            " that reported them (a run that died before its report does not). Sleepers counted as stopped"
            " because the stopper itself held the Lisp mutex they waited for (`stop_adoptions`,"
            " `src/host_adopt.rs`; each would otherwise have been a hang): %d, in %d runs." % (
                rows[0]["backoffs"], rows[0]["runs_with_backoffs"],
                rows[0]["runs_reporting_backoffs"], rows[0]["adoptions"], rows[0]["runs_with_adoptions"]),
            END]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fixture")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--reliability")
    ap.add_argument("--from-json", action="store_true", help="rewrite the report from the last results.json")
    a = ap.parse_args()
    fixture = os.path.abspath(a.fixture)
    ours = os.path.join(fixture, "prefix/lib/libsbthread.so.0")
    logdir = os.path.join(fixture, "soak")
    os.makedirs(logdir, exist_ok=True)
    if not a.from_json:
        check_grafted(fixture, ours, os.path.join(logdir, "which-library.log"))
    results = []
    if a.from_json:
        with open(os.path.join(logdir, "results.json")) as f:
            saved = json.load(f)
        results, a.runs, a.seconds = saved["results"], saved["runs"], saved["seconds"]
    for i in range(0 if a.from_json else a.runs):
        for name, lib in (("ours", ours), ("upstream", None)) if i % 2 == 0 else (("upstream", None), ("ours", ours)):
            log = os.path.join(logdir, f"{name}-{i}.log")
            outcome, figures, reason, warned = one_run(fixture, lib, a.seconds, log)
            results.append({"lib": name, "run": i, "outcome": outcome, "figures": figures, "reason": reason,
                            "warned": warned})
            print(f"soak run {i + 1}/{a.runs} {name}: {outcome}" + (f" ({reason})" if reason else ""), flush=True)
            if outcome == "pass":
                os.remove(log)
    rows = summarize(results)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    with open(os.path.join(logdir, "results.json"), "w") as f:
        json.dump({"seconds": a.seconds, "runs": a.runs, "date": date, "results": results, "summary": rows}, f,
                  indent=1)
    md = markdown(rows, a.seconds, date)
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
    ours_row = rows[0]
    return 0 if ours_row["hang"] == 0 and ours_row["fatal"] == 0 and ours_row["error"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
