#!/bin/sh
# Builds one part of the real SBCL 0.9.4.1 (x86-64 Linux, :sb-thread) test
# fixture (make sbcl; sbcl/README.md says what each part is for):
#
#   fixture.sh upstream OUT
#       SBCL 0.9.4.1 as upstream builds it: the source tarball of
#       sbcl/upstream/, the compatibility patches of sbcl/patches/compat/
#       (they touch neither thread.c nor the way it is linked), threads on,
#       then upstream's make.sh, contribs included. thread.o is in the
#       `sbcl` executable. Writes OUT.sha256: the checksums of the runtime
#       and of its core, which the test runner checks before every use.
#   fixture.sh app OUT UPSTREAM
#       An application core (OUT/app.core), saved with SAVE-LISP-AND-DIE by
#       the upstream runtime after loading sbcl/lisp/app.lisp: its toplevel
#       makes threads, collects, interrupts, waits for them and exits 42.
#       Writes OUT.sha256 as above.
#   fixture.sh needed OUT UPSTREAM PREFIX
#       A copy of the upstream executable with libsbthread.so.0 added as
#       DT_NEEDED (patchelf --add-needed; DT_RUNPATH PREFIX/lib, where the
#       fixture installs our library). Checks that every symbol kept its
#       address (the core holds them) and prints the lookup order.
#   fixture.sh relinked OUT UPSTREAM PREFIX
#   fixture.sh static   OUT UPSTREAM PREFIX
#       thread.c removed and the runtime linked against libsbthread
#       installed in PREFIX (shared, or the static libsbthread.a), as
#       docs/relinking.md says: sbcl/patches/relink/*.patch. Starts from a
#       copy of the UPSTREAM tree: the cross-compiled Lisp (obj/, which
#       does not depend on the runtime) is reused; src/runtime/ldso-stubs.S
#       is generated again from the patched stub list (make-host-1.sh's
#       first step), then the runtime, the cold core (genesis reads the new
#       runtime's symbol table) and the final core are built again.
#
# Each build goes to OUT.tmp and is renamed to OUT when it succeeded; its
# log is OUT.log.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
variant=$1
out=$2

export GNUMAKE=make LANG=C LC_ALL=C
host_lisp="sbcl --disable-debugger --userinit /dev/null --sysinit /dev/null"
export SBCL_XC_HOST="$host_lisp"

# The runtime works only with address-space randomisation off, and the
# build runs it.
phase() {
    echo "//fixture $variant: $*"
    setarch x86_64 -R sh "$@"
}

checksums() {
    # Paths relative to the fixture folder (OUT's parent).
    (cd "$(dirname "$out")" && sha256sum "$@") > "$out.sha256"
}

build() {
    case $variant in
    upstream)
        tar -xJf "$here/upstream/sbcl-0.9.4.1.tar.xz" -C "$out.tmp" --strip-components=1
        cd "$out.tmp"
        for p in "$here"/patches/compat/*.patch; do
            echo "//fixture upstream: applying $(basename "$p")"
            patch -s -p1 < "$p"
        done
        # Threads on; the file holds a function of the feature list (INSTALL).
        echo '(lambda (features) (pushnew :sb-thread features) features)' > customize-target-features.lisp
        phase make.sh "$host_lisp"
        ;;
    app)
        upstream=$(cd "$1" && pwd)
        cd "$out.tmp"
        # The application is loaded into the upstream core and saved by the
        # upstream runtime, as a user saves theirs.
        setarch x86_64 -R "$upstream/src/runtime/sbcl" --core "$upstream/output/sbcl.core" --noinform \
            --sysinit /dev/null --userinit /dev/null --noprint --disable-debugger <<EOF
(load "$here/lisp/app.lisp")
(sb-ext:save-lisp-and-die "app.core" :toplevel #'app-main)
EOF
        test -s app.core
        ;;
    needed)
        upstream=$1
        prefix=$2
        cp "$upstream/src/runtime/sbcl" "$out.tmp/sbcl"
        # Two calls: patchelf 0.14 (Debian 12) given both options at once
        # writes the new library's name as the run path too.
        patchelf --add-needed libsbthread.so.0 "$out.tmp/sbcl"
        patchelf --set-rpath "$prefix/lib" "$out.tmp/sbcl"
        # The core calls the executable's functions and reads its variables
        # at the addresses genesis took from sbcl.nm: patchelf may move
        # dynamic-linking sections, never a symbol.
        nm "$upstream/src/runtime/sbcl" | grep -v ' U ' > "$out.tmp/symbols.upstream"
        nm "$out.tmp/sbcl" | grep -v ' U ' > "$out.tmp/symbols.needed"
        if ! cmp -s "$out.tmp/symbols.upstream" "$out.tmp/symbols.needed"; then
            echo "fixture.sh needed: patchelf moved symbols of the executable:"
            diff "$out.tmp/symbols.upstream" "$out.tmp/symbols.needed" | head -20
            exit 1
        fi
        echo "//fixture needed: symbols at the same addresses as upstream's ($(wc -l < "$out.tmp/symbols.needed"))"
        # The order in which the dynamic linker searches for a symbol: the
        # executable, then its DT_NEEDED libraries breadth-first in this
        # order. libsbthread must come before libc, so that its sigwaitinfo
        # is the one the runtime's SIG_STOP_FOR_GC handler calls.
        readelf -d "$out.tmp/sbcl" | grep -E 'NEEDED|RUNPATH|RPATH' | tee "$out.tmp/dynamic.txt"
        awk '/NEEDED/ { n++ } /libsbthread/ { s = n } /libc\.so/ { c = n }
             END { if (!s || !c || s > c) exit 1 }' "$out.tmp/dynamic.txt" || {
            echo "fixture.sh needed: libsbthread.so.0 is not before libc.so.6 among the DT_NEEDED entries"
            exit 1
        }
        ;;
    relinked|static)
        upstream=$1
        prefix=$2
        [ -f "$upstream/output/sbcl.core" ] || { echo "fixture.sh: no upstream build in $upstream"; exit 1; }
        rmdir "$out.tmp"
        cp -a "$upstream" "$out.tmp"
        cd "$out.tmp"
        for p in "$here"/patches/relink/*.patch; do
            echo "//fixture $variant: applying $(basename "$p")"
            patch -s -p1 < "$p"
        done
        # The stub list changed: generate ldso-stubs.S again, as
        # make-host-1.sh does (shared.lisp sets up the target features the
        # list's #!+ conditionals read).
        echo "//fixture $variant: tools-for-build/ldso-stubs.lisp"
        $host_lisp --non-interactive --eval '(load "src/cold/shared.lisp")' \
            --eval '(load "tools-for-build/ldso-stubs.lisp")'
        grep -q 'LDSO_STUBIFY(create_thread)' src/runtime/ldso-stubs.S || {
            echo "fixture.sh: src/runtime/ldso-stubs.S has no stub for create_thread"; exit 1; }
        export SBTHREAD_PREFIX="$prefix"
        if [ "$variant" = static ]; then
            # What `pkg-config --static --libs sbthread` lists, with the
            # archive named so the linker cannot pick the shared library.
            export SBTHREAD_LIBS="$prefix/lib/libsbthread.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
        fi
        phase make-target-1.sh
        phase make-genesis-2.sh
        phase make-target-2.sh
        ;;
    *)
        echo "usage: fixture.sh upstream|app|needed|relinked|static OUT ..." >&2
        exit 2
        ;;
    esac
}

shift 2
rm -rf "$out" "$out.tmp" "$out.sha256"
mkdir -p "$out.tmp"
start=$(date +%s)
# Not `if ! (build ...)`: a shell ignores set -e in a tested command, and
# build relies on it to stop at the first failing step.
set +e
(set -e; build "$@") > "$out.log" 2>&1
status=$?
set -e
if [ $status -ne 0 ]; then
    echo "fixture.sh: building $variant failed; last lines of $out.log:"
    tail -n 40 "$out.log"
    exit 1
fi
mv "$out.tmp" "$out"
name=$(basename "$out")
case $variant in
upstream) checksums "$name/src/runtime/sbcl" "$name/output/sbcl.core" ;;
app) checksums "$name/app.core" ;;
needed) grep -E 'NEEDED|RUNPATH' "$out/dynamic.txt" | sed 's/^ */  /' ;;
esac
echo "built $variant SBCL 0.9.4.1 in $(( $(date +%s) - start )) s: $out"
