#!/bin/sh
# Builds one real SBCL 0.9.4.1 (x86-64 Linux, :sb-thread) of the test
# fixture, with its own runtime and its own core (built by that runtime):
#
#   fixture.sh legacy   OUT SOURCES
#       upstream thread.c compiled into its own shared library,
#       libsbthread.so.0, next to the runtime (DT_RUNPATH $ORIGIN): the
#       deployment into which users drop our library with LD_LIBRARY_PATH
#       or LD_PRELOAD. A complete build (about 75 s on 2 cores).
#   fixture.sh relinked OUT LEGACY PREFIX
#   fixture.sh static   OUT LEGACY PREFIX
#       thread.c removed and the runtime linked against libsbthread
#       installed in PREFIX (shared, or the static libsbthread.a),
#       following docs/relinking.md: its patches are sbcl/patches/*.patch.
#       Starts from a copy of the LEGACY tree: the cross-compiled Lisp
#       (obj/, independent of the runtime) is reused; the runtime, the
#       cold core (genesis reads the new runtime's symbol table) and the
#       final core are built again (about 30 s).
#
# SOURCES is the folder with sbcl-0.9.4.1.tar.xz and patches/ (the
# compatibility patches every build needs). Each build goes to OUT.tmp and
# is renamed to OUT when it succeeded; its log is OUT.log.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
variant=$1
out=$2

export GNUMAKE=make LANG=C LC_ALL=C
export SBCL_XC_HOST="sbcl --disable-debugger --userinit /dev/null --sysinit /dev/null"

# The runtime works only with address-space randomisation off, and the
# build runs it.
phase() {
    echo "//fixture $variant: $1"
    setarch x86_64 -R sh "$1"
}

relink_runtime() {
    # The GNUmakefile as upstream has it, then the change the guide makes.
    cp src/runtime/GNUmakefile.orig src/runtime/GNUmakefile
    patch -s -p1 < "$here/patches/relink-libsbthread.patch"
}

build() {
    case $variant in
    legacy)
        sources=$1
        tar -xJf "$sources/sbcl-0.9.4.1.tar.xz" -C "$out.tmp" --strip-components=1
        cd "$out.tmp"
        for p in "$sources"/patches/*.patch; do patch -s -p1 < "$p"; done
        patch -s -p1 < "$here/patches/10-ldso-stubs-thread.patch"
        cp src/runtime/GNUmakefile src/runtime/GNUmakefile.orig
        patch -s -p1 < "$here/patches/legacy-thread-library.patch"
        echo '(lambda (features) (pushnew :sb-thread features) features)' > customize-target-features.lisp
        sh make-config.sh
        phase make-host-1.sh
        phase make-target-1.sh
        phase make-host-2.sh
        phase make-target-2.sh
        ;;
    relinked|static)
        legacy=$1
        prefix=$2
        [ -f "$legacy/output/sbcl.core" ] || { echo "fixture.sh: no legacy build in $legacy"; exit 1; }
        rmdir "$out.tmp"
        cp -a "$legacy" "$out.tmp"
        cd "$out.tmp"
        relink_runtime
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
        echo "usage: fixture.sh legacy|relinked|static OUT ..." >&2
        exit 2
        ;;
    esac
}

shift 2
rm -rf "$out" "$out.tmp"
mkdir -p "$out.tmp"
start=$(date +%s)
if ! (build "$@") > "$out.log" 2>&1; then
    echo "fixture.sh: building $variant failed; last lines of $out.log:"
    tail -n 40 "$out.log"
    exit 1
fi
mv "$out.tmp" "$out"
echo "built $variant SBCL 0.9.4.1 in $(( $(date +%s) - start )) s: $out"
