#!/usr/bin/env python3
"""Drives libsbthread from Python with ctypes (standalone mode).

Usage: test_ffi.py LIBSBTHREAD LIBPYHELPER

Registers the main thread (sbthread_attach), creates threads whose work is
a Python callback and threads whose work is C code, interrupts the C
threads, stops and starts the world, reaps everything, and checks the
counts against sbthread_stats. Then two Python threads block in read()
inside blocking regions (one between sbthread_blocking_enter and _leave
around os.read, one in sbthread_do_blocking with a C body): stops of the
world count them as stopped without a signal. Exits 0 on success.

GIL rule: a thread suspended by a stop of the world may hold the GIL, so
Python never needs the GIL while the world is stopped unless every thread
that runs Python is dead or inside a blocking region (a thread there is
never suspended: it keeps running and gives the GIL back as usual). The
first stop below happens while only C threads run; the others while the
Python threads sit in their regions.
"""
import ctypes as C
import os
import sys
import threading
import time

STARTING, RUNNING, SUSPENDED, DEAD = 0x0, 0x8, 0x10, 0x18
NIL = 0x40000017

lispobj = C.c_ulong
BODY = C.CFUNCTYPE(C.c_size_t, C.c_void_p)


class Closure(C.Structure):
    _fields_ = [("fn", BODY), ("arg", C.c_void_p)]


class AllocRegion(C.Structure):
    _fields_ = [("free_pointer", C.c_void_p), ("end_addr", C.c_void_p),
                ("first_page", C.c_long), ("last_page", C.c_long),
                ("start_addr", C.c_void_p)]


class Thread(C.Structure):
    pass


Thread._fields_ = [
    ("unbound_marker", lispobj), ("os_thread", C.c_ulong),
    ("binding_stack_start", C.c_void_p), ("binding_stack_pointer", C.c_void_p),
    ("control_stack_start", C.c_void_p), ("control_stack_end", C.c_void_p),
    ("alien_stack_start", C.c_void_p), ("alien_stack_pointer", C.c_void_p),
    ("alloc_region", AllocRegion), ("this", C.POINTER(Thread)),
    ("prev", C.POINTER(Thread)), ("next", C.POINTER(Thread)),
    ("state", lispobj), ("tls_cookie", lispobj),
    ("pseudo_atomic_atomic", lispobj), ("pseudo_atomic_interrupted", lispobj),
    ("interrupt_fun", lispobj), ("interrupt_fun_lock", lispobj),
    ("interrupt_data", C.c_void_p), ("interrupt_contexts", C.c_void_p * 1),
]


class Stats(C.Structure):
    _fields_ = [(name, C.c_uint64) for name in (
        "threads_created", "threads_reaped", "threads_live", "blocks_cached",
        "block_cache_limit", "stops", "interrupts_sent", "interrupts_run",
        "queue_full_retries", "queue_full_worst_wait_ns", "stop_latency_min_ns",
        "stop_latency_mean_ns", "stop_latency_max_ns")] + [("conses_live", C.c_int64)] + [
        (name, C.c_uint64) for name in ("stop_wait_ns", "stop_signals_by_stopper",
                                              "stop_signals_by_helpers", "interrupts_discarded",
                                              "stop_backoffs", "stop_adoptions",
                                              "stop_counted_in_regions", "region_leaves_waited",
                                              "resume_signals", "resume_wakes", "stale_stop_signals", "mutex_rewakes",
                                              "gc_triggers_held", "mutexes_given_back",
                                              "resumes_taken_back")]


def check(cond, what):
    if not cond:
        print("FAIL:", what, flush=True)
        sys.exit(1)


def main():
    lib = C.CDLL(sys.argv[1])
    helper = C.CDLL(sys.argv[2])
    lib.sbthread_attach.restype = C.POINTER(Thread)
    lib.sbthread_current.restype = C.POINTER(Thread)
    lib.create_thread.restype = C.POINTER(Thread)
    lib.create_thread.argtypes = [lispobj]
    lib.interrupt_thread.argtypes = [C.POINTER(Thread), lispobj]
    lib.sbthread_wait_dead.argtypes = [C.POINTER(Thread)]
    lib.reap_dead_thread.argtypes = [C.POINTER(Thread)]
    lib.sbthread_stats.argtypes = [C.POINTER(Stats)]
    check(C.sizeof(Thread) == 192, "struct thread is 192 bytes")
    # The interpreter defines no thread.o of its own: loading the library
    # grafted nothing (and printed nothing: run.sh shows any output).
    check(lib.sbthread_is_grafted() == 0, "python is not grafted")

    me = lib.sbthread_attach()
    check(bool(me) and C.addressof(me.contents) == C.addressof(lib.sbthread_current().contents),
          "attach registers the main thread")
    check(me.contents.state == RUNNING, "main thread RUNNING")

    # Threads whose work is a Python callback.
    results = {}

    def py_body(arg):
        results[arg] = sum(range(arg))
        return arg

    py_fn = BODY(py_body)
    keep = []
    py_threads = []
    for n in (10, 100, 1000):
        closure = Closure(py_fn, n)
        keep.append(closure)
        th = lib.create_thread(C.addressof(closure))
        check(bool(th), "create_thread (Python body)")
        py_threads.append(th)
    for th in py_threads:
        lib.sbthread_wait_dead(th)
        check(th.contents.state == DEAD, "Python thread DEAD")
        lib.reap_dead_thread(th)
    check(results == {n: sum(range(n)) for n in (10, 100, 1000)}, "Python bodies ran once each")

    # Threads whose work is C code: spin until released.
    spin = C.cast(helper.pyhelper_spin_until, BODY)
    count = C.cast(helper.pyhelper_count, BODY)
    release = C.c_int(0)
    hits = C.c_long(0)
    c_threads = []
    for _ in range(3):
        closure = Closure(spin, C.addressof(release))
        keep.append(closure)
        th = lib.create_thread(C.addressof(closure))
        check(bool(th), "create_thread (C body)")
        c_threads.append(th)

    interrupt = Closure(count, C.addressof(hits))
    rounds = 200
    for _ in range(rounds):
        for th in c_threads:
            check(lib.interrupt_thread(th, C.addressof(interrupt)) == 0, "interrupt_thread")

    lib.gc_stop_the_world()
    states = [th.contents.state for th in c_threads]
    lib.gc_start_the_world()
    check(all(s in (SUSPENDED, DEAD) for s in states), "stopped threads are SUSPENDED: %r" % states)

    # All interrupts run before a thread may die (queues drain first).
    release.value = 1
    for th in c_threads:
        lib.sbthread_wait_dead(th)
        lib.reap_dead_thread(th)
    check(hits.value == rounds * len(c_threads), "each interrupt ran once: %d" % hits.value)

    st = Stats()
    check(lib.sbthread_stats(C.byref(st)) == 0, "sbthread_stats")
    check(st.threads_created == 1 + 3 + 3 and st.threads_reaped == 6, "created/reaped counts")
    check(st.threads_live == 1, "only the main thread is left")
    check(st.stops == 1, "one stop of the world")
    check(st.interrupts_sent == st.interrupts_run == rounds * 3, "interrupts sent == run")
    check(st.conses_live == 0, "no interrupt queue cell left")
    check(me.contents.interrupt_fun == NIL, "main thread's queue is empty")
    print("python ffi: %d threads (Python and C bodies), %d interrupts, 1 stop: all counts match"
          % (st.threads_created - 1, st.interrupts_run))
    blocking_regions(lib, helper, keep)


def in_read(tid):
    """Whether thread `tid` of this process is blocked in read(2)."""
    try:
        with open("/proc/self/task/%d/syscall" % tid) as f:
            return f.read().startswith("0 ")
    except OSError:
        return False


def blocking_regions(lib, helper, keep):
    """Two Python threads block in read() inside blocking regions; stops
    count them without a signal."""
    lib.sbthread_do_blocking.restype = C.c_size_t
    lib.sbthread_do_blocking.argtypes = [C.c_void_p, C.c_void_p]
    read_byte = C.cast(helper.pyhelper_read_byte, C.c_void_p)
    r, w = os.pipe()
    tids = {}
    got = {}

    def split_body(arg):
        tids[arg] = threading.get_native_id()
        lib.sbthread_blocking_enter()
        got[arg] = os.read(r, 1)  # releases the GIL while it waits
        lib.sbthread_blocking_leave()
        return 0

    def wrapped_body(arg):
        tids[arg] = threading.get_native_id()
        got[arg] = lib.sbthread_do_blocking(read_byte, r)
        return 0

    threads = []
    for n, body in enumerate((split_body, wrapped_body), start=1):
        fn = BODY(body)
        closure = Closure(fn, n)  # (an argument of 0 would arrive as None)
        keep.extend((fn, closure))
        th = lib.create_thread(C.addressof(closure))
        check(bool(th), "create_thread (blocking region body)")
        threads.append(th)
    # Stop only once both sit in read(): a thread stopped by a signal while
    # it runs Python may hold the GIL, which this thread needs meanwhile.
    deadline = time.monotonic() + 30
    while not (len(tids) == 2 and all(in_read(t) for t in tids.values())):
        check(time.monotonic() < deadline, "the region threads never blocked in read()")
        time.sleep(0.001)
    before = Stats()
    stops = 50
    check(lib.sbthread_stats(C.byref(before)) == 0, "sbthread_stats")
    lib.sbthread_in_blocking_region.argtypes = [C.POINTER(Thread)]
    for _ in range(stops):
        lib.gc_stop_the_world()
        states = [(th.contents.state, lib.sbthread_in_blocking_region(th)) for th in threads]
        lib.gc_start_the_world()
        # Counted as stopped, not suspended: they run on, in read().
        check(states == [(RUNNING, 1), (RUNNING, 1)],
              "threads in regions are RUNNING and counted while stopped: %r" % states)
    after = Stats()
    lib.sbthread_stats(C.byref(after))
    check(after.stops - before.stops == stops, "stops counted")
    check(after.stop_counted_in_regions - before.stop_counted_in_regions == 2 * stops,
          "each stop counted both threads in their regions: %d"
          % (after.stop_counted_in_regions - before.stop_counted_in_regions))
    signals = (after.stop_signals_by_stopper + after.stop_signals_by_helpers
               - before.stop_signals_by_stopper - before.stop_signals_by_helpers)
    check(signals == 0, "no stop signal sent to threads in regions: %d" % signals)
    os.write(w, b"ab")
    for th in threads:
        lib.sbthread_wait_dead(th)
        lib.reap_dead_thread(th)
    check(len(got[1]) == 1 and {got[1][0], got[2]} == {ord("a"), ord("b")},
          "each thread read its own byte: %r" % got)
    os.close(r)
    os.close(w)
    print("python ffi: %d stops with two Python threads blocked in read() inside blocking regions "
          "(enter/leave around os.read, and sbthread_do_blocking): counted, not one signal" % stops)


if __name__ == "__main__":
    main()
