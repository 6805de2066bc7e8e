# libsbthread: build, test, demo.
#
#   make              build build/lib/libsbthread.{so,a} and build/include/sbthread.h
#   make test         everything CI runs (cargo tests, ABI checks, C tests)
#   make demo         run the standalone demo program
#   make collector-test  the example collector on the roots API (examples/collector; part of make test)
#   make header       refresh the checked-in include/sbthread.h
#   make bench        benchmarks -> BENCHMARKS.md (needs libgc-dev for the bdwgc comparison)
#   make bench-bdwgc  only the bdwgc comparison, merged into BENCHMARKS.md
#   make sbcl         the real SBCL 0.9.4.1 fixture (build/sbcl; README: "The real SBCL 0.9.4.1 runtime")
#   make sbcl-test    upstream's tests, ours and an application core on it (part of make test)
#   make sbcl-soak    the stress files on it, upstream-built alone against grafted -> RELIABILITY.md
#   make sbcl-bench   Lisp-level benchmarks on it, upstream-built alone against grafted -> BENCHMARKS.md
#   make clean

CARGO     ?= cargo
CC        ?= cc
CXX       ?= c++
BUILD     := build
LIB       := $(BUILD)/lib
T         := $(BUILD)/tests
VERSION   := 0.1.0
SOVERSION := 0
SONAME    := libsbthread.so.$(SOVERSION)
# What a static link of the Rust staticlib needs (rustc --print native-static-libs).
STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

CWARN     := -Wall -Wextra -Werror
TEST_CFLAGS := -std=gnu11 $(CWARN) -O1 -g -pthread -Iinclude -Ic-tests/harness -Ic-tests/host -Ic-tests/special -Iffi
SO_LINK   := -L$(LIB) -lsbthread -Wl,-rpath,$(abspath $(LIB))
A_LINK    := $(LIB)/libsbthread.a $(STATIC_LIBS)

SO_FILE   := $(LIB)/libsbthread.so.$(VERSION)
A_FILE    := $(LIB)/libsbthread.a
GEN_HDR   := $(BUILD)/include/sbthread.h

HARNESS       := c-tests/harness/harness.c c-tests/harness/harness.h
STANDALONE    := c-tests/harness/standalone_main.c
HOST          := c-tests/host/host.c c-tests/host/host.h ffi/host_hooks.h
TESTS         := $(basename $(notdir $(wildcard c-tests/*.c)))
TEST_BINS     := $(foreach t,$(TESTS),$(T)/$(t)-so $(T)/$(t)-a $(T)/$(t)-host-so $(T)/$(t)-host-a)
# Fault-injection build of the library (test-only injection points).
FI_TARGET     := target/fault-injection
FI_LIB        := $(BUILD)/lib-fi
FI_SO         := $(FI_LIB)/libsbthread.so.$(VERSION)
FAULT_TESTS   := $(basename $(notdir $(wildcard c-tests/fault/*.c)))
FAULT_BINS    := $(foreach t,$(FAULT_TESTS),$(T)/fault-$(t)-so $(T)/fault-$(t)-host-so)
PYHELPER      := $(T)/libpyhelper.so
SPECIAL_BINS  := $(PYHELPER) $(T)/special/static_taken-so $(T)/special/copy_reloc-so $(T)/special/partial_hooks-so $(T)/special/partial_hooks-a \
                 $(T)/special/lazy_init

.PHONY: fi-lib all lib header check-header test cargo-test layout-test check-symbols check-signatures \
        check-header-compiles c-tests test-bins demo clean install uninstall bench bench-bdwgc check-bdwgc sanitize soak reliability \
        sbcl sbcl-fixture sbcl-test sbcl-soak sbcl-bench collector-test bench-memory

all: lib $(GEN_HDR)

# cargo decides what to rebuild; files are replaced only when they changed,
# so make's timestamps stay meaningful for the C side. A changed file is
# replaced by rename, never rewritten in place: a process running with the
# old copy mapped (a test, the real runtime) keeps a consistent library.
REPLACE = replace() { cmp -s "$$1" "$$2" || { cp -f "$$1" "$$2.tmp" && mv -f "$$2.tmp" "$$2"; }; }
lib:
	$(CARGO) build --release --lib --bin sbthread-header
	@mkdir -p $(LIB) $(BUILD)/include
	@$(REPLACE); replace target/release/libsbthread.so $(SO_FILE); replace target/release/libsbthread.a $(A_FILE)
	@ln -sf libsbthread.so.$(VERSION) $(LIB)/$(SONAME)
	@ln -sf $(SONAME) $(LIB)/libsbthread.so
	@target/release/sbthread-header > $(GEN_HDR).tmp
	@cmp -s $(GEN_HDR).tmp $(GEN_HDR) && rm -f $(GEN_HDR).tmp || mv -f $(GEN_HDR).tmp $(GEN_HDR)

fi-lib:
	CARGO_TARGET_DIR=$(FI_TARGET) $(CARGO) build --release --lib --features fault-injection
	@mkdir -p $(FI_LIB)
	@$(REPLACE); replace $(FI_TARGET)/release/libsbthread.so $(FI_SO)
	@ln -sf libsbthread.so.$(VERSION) $(FI_LIB)/$(SONAME)
	@ln -sf $(SONAME) $(FI_LIB)/libsbthread.so

header: lib
	cp $(GEN_HDR) include/sbthread.h

check-header: lib
	@if ! cmp -s $(GEN_HDR) include/sbthread.h; then \
	  echo "include/sbthread.h is stale: run 'make header' and commit it"; \
	  diff -u include/sbthread.h $(GEN_HDR) | head -40; exit 1; fi
	@echo "header: include/sbthread.h is current"

test: check-header cargo-test layout-test check-symbols check-signatures check-header-compiles c-tests collector-test sbcl-test

cargo-test:
	$(CARGO) test --release --workspace

layout-test:
	$(CARGO) run --release -q -p layout-test

# Exported dynamic symbols must be exactly the allow-list.
check-symbols: lib
	@nm -D --defined-only $(SO_FILE) | awk '{print $$3}' | grep -v '^$$' | sort > $(BUILD)/exports.txt
	@if ! diff -u c-tests/exports.allow $(BUILD)/exports.txt; then \
	  echo "exported symbols differ from c-tests/exports.allow"; exit 1; fi
	@readelf -d $(SO_FILE) | grep -q 'SONAME.*\[$(SONAME)\]' || { echo "SONAME is not $(SONAME)"; exit 1; }
	@echo "symbols: $$(wc -l < $(BUILD)/exports.txt) exports match c-tests/exports.allow; SONAME $(SONAME)"

# The generated header and the legacy declarations in one translation unit.
check-signatures: lib
	$(CC) -std=c11 $(CWARN) -pedantic -fsyntax-only -Iinclude -Iffi c-tests/special/abi_signatures.c
	$(CC) -std=c11 $(CWARN) -pedantic -fsyntax-only -Iinclude -Iffi c-tests/host/host.c -Ic-tests/harness
	@echo "signatures: header, legacy declarations and host hooks agree"

check-header-compiles: lib
	$(CC) -std=c99 $(CWARN) -pedantic -fsyntax-only -Iinclude c-tests/special/header_only.c
	$(CXX) -std=c++11 $(CWARN) -pedantic -fsyntax-only -Iinclude -x c++ c-tests/special/header_only.c
	@echo "header: compiles as C99 and C++11 with -Wall -Wextra -Werror -pedantic"

# ---- C tests: each c-tests/NAME.c against the .so and the .a, standalone
# and in host mode (linked with the test host, which defines every hook).
$(T)/%-so: c-tests/%.c $(HARNESS) $(STANDALONE) include/sbthread.h $(SO_FILE)
	@mkdir -p $(T)
	@echo "  CC $@"
	@$(CC) $(TEST_CFLAGS) $< c-tests/harness/harness.c $(STANDALONE) $(SO_LINK) -o $@

$(T)/%-a: c-tests/%.c $(HARNESS) $(STANDALONE) include/sbthread.h $(A_FILE)
	@mkdir -p $(T)
	@echo "  CC $@"
	@$(CC) $(TEST_CFLAGS) $< c-tests/harness/harness.c $(STANDALONE) $(A_LINK) -o $@

$(T)/%-host-so: c-tests/%.c $(HARNESS) $(HOST) include/sbthread.h $(SO_FILE)
	@mkdir -p $(T)
	@echo "  CC $@"
	@$(CC) $(TEST_CFLAGS) -rdynamic $< c-tests/harness/harness.c c-tests/host/host.c $(SO_LINK) -o $@

$(T)/%-host-a: c-tests/%.c $(HARNESS) $(HOST) include/sbthread.h $(A_FILE)
	@mkdir -p $(T)
	@echo "  CC $@"
	@$(CC) $(TEST_CFLAGS) -rdynamic $< c-tests/harness/harness.c c-tests/host/host.c $(A_LINK) -o $@

# Tests of c-tests/fault/ run against the fault-injection build.
FI_CFLAGS := $(TEST_CFLAGS) -DSBTHREAD_FAULT_INJECTION
FI_LINK   := -L$(FI_LIB) -lsbthread -Wl,-rpath,$(abspath $(FI_LIB))

$(T)/fault-%-so: c-tests/fault/%.c $(HARNESS) $(STANDALONE) include/sbthread.h $(FI_SO)
	@mkdir -p $(T)
	@echo "  CC $@"
	@$(CC) $(FI_CFLAGS) $< c-tests/harness/harness.c $(STANDALONE) $(FI_LINK) -o $@

$(T)/fault-%-host-so: c-tests/fault/%.c $(HARNESS) $(HOST) include/sbthread.h $(FI_SO)
	@mkdir -p $(T)
	@echo "  CC $@"
	@$(CC) $(FI_CFLAGS) -rdynamic $< c-tests/harness/harness.c c-tests/host/host.c $(FI_LINK) -o $@

# A non-PIE executable referring to the globals directly (copy relocations).
$(T)/special/copy_reloc-so: c-tests/special/copy_reloc.c include/sbthread.h $(SO_FILE)
	@mkdir -p $(T)/special
	$(CC) $(TEST_CFLAGS) -fno-pic -no-pie $< $(SO_LINK) -o $@
	@readelf -r $@ | grep -q 'R_X86_64_COPY.*all_threads ' || { echo "$@: no copy relocation for all_threads"; exit 1; }
	@readelf -r $@ | grep -q 'R_X86_64_COPY.*dynamic_values_bytes' || { echo "$@: no copy relocation for dynamic_values_bytes"; exit 1; }

$(T)/special/static_taken-so: c-tests/special/static_taken.c include/sbthread.h $(SO_FILE)
	@mkdir -p $(T)/special
	$(CC) $(TEST_CFLAGS) $< $(SO_LINK) -o $@

$(T)/special/partial_hooks-so: c-tests/special/partial_hooks.c include/sbthread.h $(SO_FILE)
	@mkdir -p $(T)/special
	$(CC) $(TEST_CFLAGS) -rdynamic $< $(SO_LINK) -o $@

$(T)/special/partial_hooks-a: c-tests/special/partial_hooks.c include/sbthread.h $(A_FILE)
	@mkdir -p $(T)/special
	$(CC) $(TEST_CFLAGS) -rdynamic $< $(A_LINK) -o $@

# The graft (c-tests/graft/): executables built as upstream builds SBCL
# 0.9.4.1 (non-PIE, -rdynamic, thread.o's functions and globals their own:
# stand-ins that abort if they run), with the library as DT_NEEDED
# (graft-*) or not linked at all (late: LD_PRELOAD and dlopen).
GRAFT_DEPS   := c-tests/graft/graft.h c-tests/graft/common.c c-tests/graft/standins.c $(HOST) include/sbthread.h
GRAFT_CFLAGS := $(TEST_CFLAGS) -Ic-tests/graft -fno-pie -no-pie -rdynamic -DHOST_MAIN=host_main
GRAFT_SRC    := c-tests/graft/common.c c-tests/graft/standins.c c-tests/host/host.c
GRAFT_BINS   := $(T)/graft/graft-needed $(T)/graft/graft-missing $(T)/graft/graft-small $(T)/graft/late

$(T)/graft/graft-%: c-tests/graft/graft.c $(GRAFT_DEPS) $(HARNESS) $(SO_FILE)
	@mkdir -p $(T)/graft
	@echo "  CC $@"
	@$(CC) $(GRAFT_CFLAGS) $(if $(filter missing,$*),-DGRAFT_OMIT_INTERRUPT_THREAD) $(if $(filter small,$*),-DGRAFT_SMALL_START) \
	  $< $(GRAFT_SRC) c-tests/harness/harness.c -Wl,--no-as-needed $(SO_LINK) -ldl -o $@
	@nm -D --defined-only $@ | grep -q ' T create_thread$$' || { echo "$@: create_thread is not exported"; exit 1; }

$(T)/graft/late: c-tests/graft/late.c $(GRAFT_DEPS)
	@mkdir -p $(T)/graft
	@echo "  CC $@"
	@$(CC) $(GRAFT_CFLAGS) -DGRAFT_LIB='"$(abspath $(LIB))/$(SONAME)"' -DGRAFT_FI_LIB='"$(abspath $(FI_LIB))/$(SONAME)"' \
	  -DGRAFT_TESTS='"$(abspath $(T))"' $< $(GRAFT_SRC) -ldl -o $@
	@! readelf -d $@ | grep -q 'NEEDED.*libsbthread' || { echo "$@: must not be linked with the library"; exit 1; }

# C functions for the Python FFI test (c-tests/python/test_ffi.py).
$(PYHELPER): c-tests/python/pyhelper.c
	@mkdir -p $(T)
	$(CC) -shared -fPIC -O2 $(CWARN) $< -o $@

# Not linked with the library: loads it with LD_PRELOAD and dlopen.
$(T)/special/lazy_init: c-tests/special/lazy_init.c include/sbthread.h
	@mkdir -p $(T)/special
	$(CC) $(TEST_CFLAGS) $< -ldl -o $@

# The library is built first (recursive make), so that test binaries see
# its files with their final timestamps.
c-tests: lib fi-lib
	@$(MAKE) --no-print-directory test-bins
	@SBTHREAD_LIB=$(abspath $(SO_FILE)) c-tests/run-tests.sh $(T)
	@c-tests/python/run.sh $(abspath $(SO_FILE)) $(abspath $(PYHELPER))
	@c-tests/install/test_install.sh

test-bins: $(TEST_BINS) $(FAULT_BINS) $(SPECIAL_BINS) $(GRAFT_BINS)

# ---- demo
$(BUILD)/demo: demo/demo.c include/sbthread.h $(SO_FILE)
	@mkdir -p $(BUILD)
	$(CC) -std=c11 $(CWARN) -O2 -pthread -Iinclude $< $(SO_LINK) -o $@

demo: lib
	@$(MAKE) --no-print-directory $(BUILD)/demo
	$(BUILD)/demo

# ---- examples/collector: a conservative mark-and-sweep collector on the
# roots API and its test (examples/collector/README.md), against the .so
# and the .a; longer in make soak, under ASan + UBSan in make sanitize.
COLLECTOR_SRC          := examples/collector/gc.c examples/collector/collector_test.c
COLLECTOR_DEPS         := $(COLLECTOR_SRC) examples/collector/gc.h include/sbthread.h
COLLECTOR_CFLAGS       := -std=gnu11 $(CWARN) -O2 -g -pthread -Iinclude
COLLECTOR_BIN          := $(BUILD)/collector
COLLECTOR_SECONDS      ?= 3
COLLECTOR_SOAK_SECONDS ?= 120
# A conservative collector cannot see ASan's fake stacks: keep locals on the stack.
COLLECTOR_ASAN_ENV     := ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=0 \
                          UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

$(COLLECTOR_BIN)/collector-so: $(COLLECTOR_DEPS) $(SO_FILE)
	@mkdir -p $(@D)
	$(CC) $(COLLECTOR_CFLAGS) $(COLLECTOR_SRC) $(SO_LINK) -o $@

$(COLLECTOR_BIN)/collector-a: $(COLLECTOR_DEPS) $(A_FILE)
	@mkdir -p $(@D)
	$(CC) $(COLLECTOR_CFLAGS) $(COLLECTOR_SRC) $(A_LINK) -o $@

$(COLLECTOR_BIN)/collector-asan: $(COLLECTOR_DEPS) $(SO_FILE)
	@mkdir -p $(@D)
	$(CC) $(COLLECTOR_CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
	  $(COLLECTOR_SRC) $(SO_LINK) -o $@

collector-test: lib
	@$(MAKE) --no-print-directory $(COLLECTOR_BIN)/collector-so $(COLLECTOR_BIN)/collector-a
	$(COLLECTOR_BIN)/collector-so $(COLLECTOR_SECONDS)
	$(COLLECTOR_BIN)/collector-a $(COLLECTOR_SECONDS)

# ---- sanitizers and valgrind (not part of make test: minutes)
sanitize: lib fi-lib
	@$(MAKE) --no-print-directory test-bins $(BUILD)/demo
	c-tests/sanitize.sh
	@$(MAKE) --no-print-directory $(COLLECTOR_BIN)/collector-asan
	$(COLLECTOR_ASAN_ENV) $(COLLECTOR_BIN)/collector-asan $(COLLECTOR_SECONDS)

# ---- RELIABILITY.md from a fresh run of the reliability scenarios
RELIABILITY_SOAK ?= 20
reliability: lib fi-lib
	@$(MAKE) --no-print-directory test-bins
	python3 c-tests/reliability.py $(T) $(RELIABILITY_SOAK)

# ---- long soak (make soak SOAK_SECONDS=600)
SOAK_SECONDS ?= 300
soak: lib
	@$(MAKE) --no-print-directory $(T)/soak-so $(T)/soak-host-so
	SBTHREAD_SOAK_SECONDS=$(SOAK_SECONDS) SBTHREAD_TEST_TIMEOUT=$$(( $(SOAK_SECONDS) + 120 )) $(T)/soak-so
	SBTHREAD_SOAK_SECONDS=$(SOAK_SECONDS) SBTHREAD_TEST_TIMEOUT=$$(( $(SOAK_SECONDS) + 120 )) $(T)/soak-host-so
	@$(MAKE) --no-print-directory $(COLLECTOR_BIN)/collector-so
	$(COLLECTOR_BIN)/collector-so $(COLLECTOR_SOAK_SECONDS)

# ---- benchmarks (not part of make test): make bench [BENCH_QUICK=1], make bench-bdwgc
BENCH_BINS := $(BUILD)/bench/bench-standalone $(BUILD)/bench/bench-host $(BUILD)/bench/floor

$(BUILD)/bench/bench-standalone: bench/bench.c $(HARNESS) $(STANDALONE) include/sbthread.h $(SO_FILE)
	@mkdir -p $(BUILD)/bench
	$(CC) -std=gnu11 $(CWARN) -O2 -g -pthread -Iinclude -Ic-tests/harness -Ic-tests/special -Iffi $< c-tests/harness/harness.c $(STANDALONE) $(SO_LINK) -o $@

$(BUILD)/bench/bench-host: bench/bench.c $(HARNESS) $(HOST) include/sbthread.h $(SO_FILE)
	@mkdir -p $(BUILD)/bench
	$(CC) -std=gnu11 $(CWARN) -O2 -g -pthread -rdynamic -Iinclude -Ic-tests/harness -Ic-tests/special -Iffi $< c-tests/harness/harness.c c-tests/host/host.c $(SO_LINK) -o $@

$(BUILD)/bench/floor: bench/floor/floor.c
	@mkdir -p $(BUILD)/bench
	$(CC) -std=gnu11 $(CWARN) -O2 -g -pthread $< -o $@

# The bdwgc comparison (bench/bdwgc.c, BENCHMARKS.md section 5): the same
# source built against bdwgc (Debian's libgc-dev, found with pkg-config) and
# against our library; the two run in separate processes.
BDWGC_BINS  := $(BUILD)/bench/bdwgc-gc $(BUILD)/bench/bdwgc-ours
BDWGC_CHECK := pkg-config --exists bdw-gc 2>/dev/null || { \
  echo "make bench: the bdwgc comparison needs bdwgc (pkg-config bdw-gc not found); install it with:"; \
  echo "    apt-get install -y libgc-dev"; exit 1; }

check-bdwgc:
	@$(BDWGC_CHECK)

$(BUILD)/bench/bdwgc-gc: bench/bdwgc.c
	@$(BDWGC_CHECK)
	@mkdir -p $(BUILD)/bench
	$(CC) -std=gnu11 $(CWARN) -O2 -g -pthread -DSTW_BDWGC $$(pkg-config --cflags bdw-gc) $< $$(pkg-config --libs bdw-gc) -o $@

$(BUILD)/bench/bdwgc-ours: bench/bdwgc.c include/sbthread.h $(SO_FILE)
	@mkdir -p $(BUILD)/bench
	$(CC) -std=gnu11 $(CWARN) -O2 -g -pthread -DSTW_OURS -Iinclude $< $(SO_LINK) -o $@

bench: check-bdwgc lib
	@$(MAKE) --no-print-directory $(BENCH_BINS) $(BDWGC_BINS)
	python3 bench/run.py $(BUILD)/bench

# Section 4 (memory) of BENCHMARKS.md again, the rest kept from the last run.
bench-memory: lib
	@$(MAKE) --no-print-directory $(BENCH_BINS)
	python3 bench/run.py --only-memory $(BUILD)/bench

bench-bdwgc: check-bdwgc lib
	@$(MAKE) --no-print-directory $(BDWGC_BINS)
	python3 bench/run.py --only-bdwgc $(BUILD)/bench

# ---- the real SBCL 0.9.4.1 runtime as a test fixture (README: "The real
# SBCL 0.9.4.1 runtime"; sbcl/fixture.sh). Everything it needs is in sbcl/:
# upstream's source tarball (sbcl/upstream/), our compatibility patches
# (sbcl/patches/compat/) and the relinking patches (sbcl/patches/relink/).
# Builds are kept in build/sbcl: a rerun rebuilds only what changed (the
# static runtime when libsbthread.a changed; nothing else: the others load
# the library at run time).
SBCL_DIR     := $(BUILD)/sbcl
SBCL_PREFIX  := $(abspath $(SBCL_DIR)/prefix)
SBCL_TARBALL := sbcl/upstream/sbcl-0.9.4.1.tar.xz
SBCL_COMPAT  := $(sort $(wildcard sbcl/patches/compat/*.patch))
SBCL_RELINK  := $(sort $(wildcard sbcl/patches/relink/*.patch))
SBCL_JOBS    ?= 5
SBCL_PARTS   := $(SBCL_DIR)/upstream/output/sbcl.core $(SBCL_DIR)/app/app.core $(SBCL_DIR)/needed/sbcl \
                $(SBCL_DIR)/relinked/output/sbcl.core $(SBCL_DIR)/static/output/sbcl.core

sbcl: lib
	@$(MAKE) -j2 --no-print-directory sbcl-fixture

sbcl-fixture: $(SBCL_PARTS) $(SBCL_PREFIX)/lib/libsbthread.a

# Upstream's build, as upstream builds it.
$(SBCL_DIR)/upstream/output/sbcl.core: $(SBCL_TARBALL) $(SBCL_COMPAT) sbcl/fixture.sh
	@command -v sbcl >/dev/null || { echo "make sbcl: needs a host Lisp: apt-get install -y sbcl"; exit 1; }
	sbcl/fixture.sh upstream $(SBCL_DIR)/upstream

# An application core saved by the upstream runtime.
$(SBCL_DIR)/app/app.core: $(SBCL_DIR)/upstream/output/sbcl.core sbcl/lisp/app.lisp
	sbcl/fixture.sh app $(SBCL_DIR)/app $(SBCL_DIR)/upstream

# Our library as a user installs it; the other runtimes load or embed it.
$(SBCL_PREFIX)/lib/libsbthread.a: $(A_FILE) $(SO_FILE) include/sbthread.h
	@$(MAKE) --no-print-directory -s install PREFIX=$(SBCL_PREFIX)

# The upstream executable with libsbthread.so.0 as DT_NEEDED.
$(SBCL_DIR)/needed/sbcl: $(SBCL_DIR)/upstream/output/sbcl.core
	@command -v patchelf >/dev/null || { echo "make sbcl: needs patchelf: apt-get install -y patchelf"; exit 1; }
	sbcl/fixture.sh needed $(SBCL_DIR)/needed $(abspath $(SBCL_DIR)/upstream) $(SBCL_PREFIX)

# The shared runtime needs our library only to link: it loads the current
# copy at run time, so it is not rebuilt when the library changes.
$(SBCL_DIR)/relinked/output/sbcl.core: $(SBCL_DIR)/upstream/output/sbcl.core $(SBCL_RELINK) | $(SBCL_PREFIX)/lib/libsbthread.a
	sbcl/fixture.sh relinked $(SBCL_DIR)/relinked $(abspath $(SBCL_DIR)/upstream) $(SBCL_PREFIX)

$(SBCL_DIR)/static/output/sbcl.core: $(SBCL_DIR)/upstream/output/sbcl.core $(SBCL_RELINK) $(SBCL_PREFIX)/lib/libsbthread.a
	sbcl/fixture.sh static $(SBCL_DIR)/static $(abspath $(SBCL_DIR)/upstream) $(SBCL_PREFIX)

sbcl-test: sbcl
	python3 sbcl/run_tests.py $(SBCL_DIR) --jobs $(SBCL_JOBS)

# make sbcl-soak SECONDS=10 RUNS=50 [STRESS=stress-poll.lisp]
#   [SOAK_ENV="SBTHREAD_RESUME_WAKE=0 ..."] [KEEP_UPSTREAM=1]: each stress file
# (sbcl/soak.py's list, or the one named), the upstream-built runtime alone and
# grafted (our library preloaded, with SOAK_ENV's settings) taking turns; the
# results go into RELIABILITY.md. All seven files at 50 runs of 10 s take about
# two and a half hours; KEEP_UPSTREAM=1 runs ours only and keeps upstream's runs
# of the last soak (half the time, for a change to our library).
SECONDS ?= 10
RUNS    ?= 50
sbcl-soak: sbcl
	python3 sbcl/soak.py $(SBCL_DIR) --seconds $(SECONDS) --runs $(RUNS) $(if $(STRESS),--stress $(STRESS)) \
	  $(foreach e,$(SOAK_ENV),--env $(e)) $(if $(KEEP_UPSTREAM),--keep-upstream) \
	  --reliability RELIABILITY.md

# make sbcl-bench RUNS=5 SURVIVE_RUNS=2: Lisp-level benchmarks on the
# upstream-built runtime alone and grafted (our library preloaded), taking
# turns, RUNS fresh processes each (5 unless RUNS is given: the 50 above is
# sbcl-soak's), and the survival test (200,000 rounds or SURVIVE_SECONDS)
# SURVIVE_RUNS times each; the results go into BENCHMARKS.md (sbcl/bench.py;
# 5 to 8 minutes). BENCH_ENV="SBTHREAD_RESUME_WAKE=0 ..." runs ours with
# those settings (the report says so).
SBCL_BENCH_RUNS = $(if $(filter file,$(origin RUNS)),5,$(RUNS))
SURVIVE_RUNS   ?= 2
SURVIVE_SECONDS ?= 120

sbcl-bench: sbcl
	python3 sbcl/bench.py $(SBCL_DIR) --runs $(SBCL_BENCH_RUNS) --survive-runs $(SURVIVE_RUNS) \
	  --survive-seconds $(SURVIVE_SECONDS) \
	  --lib $(LIB)/$(SONAME) --benchmarks BENCHMARKS.md $(foreach e,$(BENCH_ENV),--env $(e)) \
	  --command "make sbcl-bench RUNS=$(SBCL_BENCH_RUNS) SURVIVE_RUNS=$(SURVIVE_RUNS)$(if $(BENCH_ENV), BENCH_ENV=\"$(BENCH_ENV)\")"

# ---- install: PREFIX=/usr/local DESTDIR=... (uninstall removes exactly these)
PREFIX    ?= /usr/local
DESTDIR   ?=
INST_LIB  := $(DESTDIR)$(PREFIX)/lib
INST_INC  := $(DESTDIR)$(PREFIX)/include
INST_PC   := $(INST_LIB)/pkgconfig
INSTALLED := $(INST_LIB)/libsbthread.so.$(VERSION) $(INST_LIB)/$(SONAME) $(INST_LIB)/libsbthread.so \
             $(INST_LIB)/libsbthread.a $(INST_INC)/sbthread.h $(INST_PC)/sbthread.pc

install: lib
	install -d $(INST_LIB) $(INST_INC) $(INST_PC)
	install -m 755 $(SO_FILE) $(INST_LIB)/libsbthread.so.$(VERSION)
	ln -sf libsbthread.so.$(VERSION) $(INST_LIB)/$(SONAME)
	ln -sf $(SONAME) $(INST_LIB)/libsbthread.so
	install -m 644 $(A_FILE) $(INST_LIB)/libsbthread.a
	install -m 644 include/sbthread.h $(INST_INC)/sbthread.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@STATIC_LIBS@|$(STATIC_LIBS)|' sbthread.pc.in > $(INST_PC)/sbthread.pc

uninstall:
	rm -f $(INSTALLED)

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
