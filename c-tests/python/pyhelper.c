/*
 * C functions for the Python FFI test (test_ffi.py), built into
 * build/tests/libpyhelper.so. Thread bodies and interrupt functions that
 * must not be Python: interrupt functions run inside a signal handler of
 * the target thread, where running Python code is not safe.
 */
#include <stdint.h>

/* Spins until *(volatile int *)arg becomes non-zero; returns the spin count. */
uintptr_t pyhelper_spin_until(void *arg);
uintptr_t pyhelper_spin_until(void *arg)
{
    volatile int *flag = arg;
    uintptr_t spins = 0;
    while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
        spins++;
    return spins;
}

/* Interrupt function: adds one to the long counter at arg. */
uintptr_t pyhelper_count(void *arg);
uintptr_t pyhelper_count(void *arg)
{
    __atomic_fetch_add((long *)arg, 1, __ATOMIC_SEQ_CST);
    return 0;
}
