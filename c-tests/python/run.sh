#!/bin/sh
# Runs the Python FFI test (make test). Skips, saying so, without python3.
lib=$1 helper=$2
if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP python-ffi: python3 is not installed"
    exit 0
fi
start=$(date +%s%N)
if out=$(timeout 120 python3 "$(dirname "$0")/test_ffi.py" "$lib" "$helper" 2>&1); then
    printf 'PASS %-40s %6d ms\n' python-ffi $(( ($(date +%s%N) - start) / 1000000 ))
    echo "$out" | sed 's/^/    | /'
else
    echo "FAIL python-ffi"
    echo "$out" | sed 's/^/    | /'
    exit 1
fi
