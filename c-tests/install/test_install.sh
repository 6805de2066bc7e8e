#!/bin/sh
# make install / uninstall into a temporary DESTDIR; a C program built with
# `pkg-config --cflags --libs sbthread` against the installed copy, shared
# and static; the SONAME checked with readelf. Run by `make test`.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
prefix=/usr/local
fail() { echo "FAIL install: $*"; exit 1; }

make -s -C "$top" install PREFIX=$prefix DESTDIR="$dest" >/dev/null 2>&1 || fail "make install"
lib=$dest$prefix/lib
for f in libsbthread.so.0.1.0 libsbthread.so.0 libsbthread.so libsbthread.a pkgconfig/sbthread.pc; do
    [ -e "$lib/$f" ] || fail "missing $lib/$f"
done
[ -e "$dest$prefix/include/sbthread.h" ] || fail "missing sbthread.h"
[ "$(readlink "$lib/libsbthread.so")" = libsbthread.so.0 ] || fail "libsbthread.so -> $(readlink "$lib/libsbthread.so")"
[ "$(readlink "$lib/libsbthread.so.0")" = libsbthread.so.0.1.0 ] || fail "libsbthread.so.0 link"
readelf -d "$lib/libsbthread.so.0.1.0" | grep -q 'SONAME.*\[libsbthread.so.0\]' || fail "SONAME"

export PKG_CONFIG_PATH="$lib/pkgconfig"
pc="pkg-config --define-variable=prefix=$dest$prefix"
cflags=$($pc --cflags sbthread)
libs=$($pc --libs sbthread)
cc -std=c11 -Wall -Wextra -Werror $cflags "$top/c-tests/install/hello.c" $libs -o "$dest/hello-shared"
LD_LIBRARY_PATH="$lib" "$dest/hello-shared" >/dev/null || fail "shared program failed"
LD_LIBRARY_PATH="$lib" ldd "$dest/hello-shared" | grep -q 'libsbthread.so.0 => '"$lib" || fail "shared program does not load the installed copy"

static_libs=$($pc --static --libs sbthread | sed 's/-lsbthread//')
cc -std=c11 -Wall -Wextra -Werror $cflags "$top/c-tests/install/hello.c" \
    -Wl,-Bstatic -lsbthread -Wl,-Bdynamic $static_libs -o "$dest/hello-static"
"$dest/hello-static" >/dev/null || fail "static program failed"
if ldd "$dest/hello-static" | grep -q libsbthread; then fail "static program links the shared library"; fi

make -s -C "$top" uninstall PREFIX=$prefix DESTDIR="$dest" >/dev/null 2>&1 || fail "make uninstall"
left=$(find "$dest$prefix" -type f -o -type l)
[ -z "$left" ] || fail "uninstall left: $left"
echo "PASS install: make install/uninstall (DESTDIR), SONAME libsbthread.so.0, pkg-config builds shared and static programs"
