/*
 * C functions for the Python FFI test (test_ffi.py), built into
 * build/tests/libpyhelper.so. Thread bodies and interrupt functions that
 * must not be Python: interrupt functions run inside a signal handler of
 * the target thread, where running Python code is not safe.
 */
#include <stdint.h>
#include <unistd.h>

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

/* A body for sbthread_do_blocking: reads one byte from the file
 * descriptor arg; returns it, or 0x100 at end of file or on an error. */
uintptr_t pyhelper_read_byte(void *arg);
uintptr_t pyhelper_read_byte(void *arg)
{
    unsigned char c;
    return read((int)(intptr_t)arg, &c, 1) == 1 ? c : 0x100;
}
