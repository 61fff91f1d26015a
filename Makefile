# sockserv: one Makefile, objects out of tree in $(BUILD).
#   make            build the programs (no tests, so CUnit is not needed)
#   make run        install missing build deps, build, run in the foreground
#   make test       unit + integration tests (both event backends), the Python
#                   library's tests, -Werror
#   make asan       the same tests under AddressSanitizer + UBSan
#   make fuzz       libFuzzer targets (FUZZ_SECONDS each), make lint, make valgrind
#   make bench      benchmark suite (fills BENCHMARKS.md), not part of test
#   make bench-1m   1 000 000 idle connections held 5 min (bench/1m.sh), not part of test
#   make install    PREFIX, DESTDIR, SYSCONFDIR
#   make deb        Debian package in build/pkg/ (make test-deb installs and tests it)

PREFIX     ?= /usr/local
SYSCONFDIR ?= $(PREFIX)/etc
SBINDIR    ?= $(PREFIX)/sbin
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
INITDIR    ?= /etc/init.d
SYSTEMDDIR ?= /lib/systemd/system
DEFAULTDIR ?= /etc/default
DESTDIR    ?=
INSTALL    ?= install

BUILD      ?= build
CC         ?= cc
OPT        ?= -O2 -g
CFLAGS     ?= $(OPT)
# Warnings are errors in `make test` and CI (WERROR=-Werror), not in a plain
# build from a tarball, where a newer compiler's new warning must not stop it.
WERROR     ?=
WARN       := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
              -Wpointer-arith -Wformat=2
# Required flags live apart from CFLAGS/CPPFLAGS, so `make CFLAGS=-O0` keeps
# the language standard, the warnings and the dependency files.
REQ_CPPFLAGS := -Iinclude -D_GNU_SOURCE -DSYSCONFDIR='"$(SYSCONFDIR)"'
REQ_CFLAGS   := -std=gnu11 $(WARN) -MMD -MP
SAN_FLAGS    :=
ifeq ($(SANITIZE),1)
SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
ALL_CPPFLAGS = $(REQ_CPPFLAGS) $(CONFIG_CFLAGS) $(CPPFLAGS)
ALL_CFLAGS   = $(REQ_CFLAGS) $(WERROR) $(SAN_FLAGS) $(CFLAGS)
ALL_LDFLAGS  = $(SAN_FLAGS) $(LDFLAGS)

CONFIG_CFLAGS := $(shell pkg-config --cflags libconfig 2>/dev/null)
CONFIG_LIBS   := $(shell pkg-config --libs libconfig 2>/dev/null || echo -lconfig)

PROGS_SRC  := src/sockserv.c src/sockserv-stat.c src/client.c
LIB_SRC    := $(filter-out $(PROGS_SRC),$(wildcard src/*.c))
LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC   := $(wildcard tests/test_*.c)
UNIT_OBJ   := $(UNIT_SRC:%.c=$(BUILD)/%.o)
INTEG_SRC  := $(wildcard tests/integration/*.c)
INTEG_OBJ  := $(INTEG_SRC:%.c=$(BUILD)/%.o)
# sockserv-bench: every bench/*.c but the two stand-alone programs beside it;
# never in libsockserv.a (benchmark code is not linked into the server)
BENCH_SRC  := $(filter-out bench/floor_echo.c bench/twheel_bench.c,$(wildcard bench/*.c))
BENCH_OBJ  := $(BENCH_SRC:%.c=$(BUILD)/%.o)

PROGRAMS   := $(BUILD)/sockserv $(BUILD)/sockserv-client
ifneq ($(wildcard src/sockserv-stat.c),)
PROGRAMS   += $(BUILD)/sockserv-stat
endif
ifneq ($(wildcard bench/sockserv-bench.c),)
PROGRAMS   += $(BUILD)/sockserv-bench
endif
ifneq ($(wildcard bench/floor_echo.c),)
PROGRAMS   += $(BUILD)/floor_echo
endif
ifneq ($(wildcard bench/twheel_bench.c),)
PROGRAMS   += $(BUILD)/twheel_bench
endif
# the C example backend (sockserv-backend(7)): the backend tests and the benchmark use it
ifneq ($(wildcard examples/backend/echo_backend.c),)
PROGRAMS   += $(BUILD)/echo_backend
endif

.PHONY: all tests deps run test unit test-python integration asan bench install install-check uninstall clean

all: $(PROGRAMS)

tests: $(BUILD)/test_unit $(BUILD)/test_integration

# Build dependencies: installed with apt-get only when missing.
deps:
	@if ! pkg-config --exists libconfig 2>/dev/null || [ ! -f /usr/include/CUnit/CUnit.h ]; then \
		echo "installing build dependencies (libconfig-dev libcunit1-dev pkg-config)"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			libconfig-dev libcunit1-dev pkg-config >/dev/null || exit 1; \
	fi

run: deps
	@$(MAKE) --no-print-directory $(BUILD)/sockserv $(BUILD)/sockserv-client $(BUILD)/sockserv-stat
	mkdir -p run
	$(BUILD)/sockserv -c etc/sockserv.cfg -f

test: deps
	@$(MAKE) --no-print-directory WERROR=-Werror all tests
	@$(MAKE) --no-print-directory WERROR=-Werror unit integration install-check test-python

# The integration suite `haproxy` (examples/haproxy/, a real balancer in
# front of two nodes) needs haproxy: Debian's package, installed with
# apt-get only when missing; after deps, so the two never run apt-get at once.
# Without it the suite's tests are skipped with the reason printed.
.PHONY: haproxy-deps
haproxy-deps: deps
	@if [ ! -x /usr/sbin/haproxy ] && ! command -v haproxy >/dev/null 2>&1; then \
		echo "installing the integration tests' haproxy"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			haproxy >/dev/null || exit 1; \
	fi
test: haproxy-deps

unit: $(BUILD)/test_unit
	$(BUILD)/test_unit

# The Python backend library's own tests (standard library only).
test-python:
	@if command -v python3 >/dev/null 2>&1; then \
		cd clients/python && python3 -m unittest test_sockserv_backend; \
	else echo "test-python: skipped, python3 is not installed"; fi

# Integration tests run once per event backend.
integration: $(BUILD)/test_integration $(PROGRAMS)
	SOCKSERV_BUILD=$(BUILD) SOCKSERV_BACKEND=epoll $(BUILD)/test_integration
	SOCKSERV_BUILD=$(BUILD) SOCKSERV_BACKEND=poll $(BUILD)/test_integration

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=1 OPT="-O1 -g" WERROR=-Werror all tests
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=1 OPT="-O1 -g" unit
	# servers exit without freeing what the kernel reclaims anyway: no leak check there
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
		$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=1 OPT="-O1 -g" integration

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libsockserv.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/sockserv: $(BUILD)/src/sockserv.o $(BUILD)/libsockserv.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CONFIG_LIBS)

$(BUILD)/sockserv-stat: $(BUILD)/src/sockserv-stat.o $(BUILD)/libsockserv.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CONFIG_LIBS)

$(BUILD)/sockserv-client: $(BUILD)/src/client.o $(BUILD)/libsockserv.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CONFIG_LIBS) -lm

$(BUILD)/sockserv-bench: $(BENCH_OBJ) $(BUILD)/libsockserv.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CONFIG_LIBS) -lm

$(BUILD)/floor_echo: $(BUILD)/bench/floor_echo.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^

$(BUILD)/echo_backend: $(BUILD)/examples/backend/echo_backend.o $(BUILD)/libsockserv.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CONFIG_LIBS)

$(BUILD)/twheel_bench: $(BUILD)/bench/twheel_bench.o $(BUILD)/libsockserv.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CONFIG_LIBS)

# test_bench tests benchstat and the channel, which live with the benchmark,
# not in the library
$(BUILD)/tests/test_bench.o: REQ_CPPFLAGS += -Ibench
$(BUILD)/test_unit: $(UNIT_OBJ) $(BUILD)/bench/benchstat.o $(BUILD)/bench/channel.o \
		$(BUILD)/libsockserv.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CONFIG_LIBS) -lcunit -lm

$(BUILD)/test_integration: $(INTEG_OBJ) $(BUILD)/libsockserv.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CONFIG_LIBS) -lcunit -lm

bench: deps
	@$(MAKE) --no-print-directory all
	bench/run.sh

# 1 000 000 idle heartbeating connections held 5 minutes, one BENCHMARKS.md row
# (bench/1m.sh; COUNT=, HOLD=, HB= for smaller or longer runs); not part of test
.PHONY: bench-1m
bench-1m: deps
	@$(MAKE) --no-print-directory $(BUILD)/sockserv $(BUILD)/sockserv-bench
	BUILD=$(BUILD) bench/1m.sh

# ---- install / uninstall ---------------------------------------------------
# The programs have their default -c path, $(SYSCONFDIR)/sockserv/sockserv.cfg,
# compiled in.  The stamp records the SYSCONFDIR the objects were built with
# and is rewritten only when the value changes, so `make install
# SYSCONFDIR=/etc` rebuilds (and installs) programs that look in /etc, while a
# plain `make` with an unchanged value rebuilds nothing.
SYSCONF_STAMP := $(BUILD)/sysconfdir.stamp
$(SYSCONF_STAMP): sysconfdir-check
	@mkdir -p $(dir $@)
	@echo '$(SYSCONFDIR)' | cmp -s - $@ || echo '$(SYSCONFDIR)' > $@
$(BUILD)/src/sockserv.o $(BUILD)/src/sockserv-stat.o: $(SYSCONF_STAMP)
.PHONY: sysconfdir-check
sysconfdir-check:

INST_BINS  := $(filter $(BUILD)/sockserv-client $(BUILD)/sockserv-stat $(BUILD)/sockserv-bench,\
              $(PROGRAMS))
INST_MAN   := sockserv.8 sockserv.cfg.5 sockserv-stat.1 sockserv-client.1 sockserv-bench.1 sockserv-backend.7
INST_CFGDIR = $(DESTDIR)$(SYSCONFDIR)/sockserv
INST_TMP   := $(BUILD)/install
# paths written into the init script, the systemd unit and the man pages
INST_SED    = sed -e 's|/usr/local/sbin/sockserv|$(SBINDIR)/sockserv|g' \
		  -e 's|/usr/local/etc/sockserv/|$(SYSCONFDIR)/sockserv/|g'

# The installed configuration: etc/sockserv.cfg with a daemon's paths and
# user.  Every substitution is checked, so a reworded etc/sockserv.cfg breaks
# the build here instead of installing a config that runs from the source tree.
# INST_USER is the workers' user (the Debian package: its own "sockserv");
# INST_LOGFILE, when set, is shown as a commented file-log alternative to
# syslog (the package: a file in /var/log/sockserv, rotated by logrotate);
# INST_ORIGIN names what installed the file, in its first comment.
# The stamp rebuilds the file when any of the three changes.
INST_USER    ?= nobody
INST_LOGFILE ?=
INST_ORIGIN  ?= make install
INST_CFG_STAMP := $(BUILD)/install-cfg.stamp
INST_LOGFILE_SED = -e 's|^\([[:space:]]*\)target = "syslog";$$|&\n\1\# or a file, reopened by "sockserv -s reopen" after logrotate moved it:\n\1\# target = "$(INST_LOGFILE)";|'
$(INST_CFG_STAMP): sysconfdir-check
	@mkdir -p $(dir $@)
	@echo '$(INST_USER) $(INST_LOGFILE) $(INST_ORIGIN)' | cmp -s - $@ || \
		echo '$(INST_USER) $(INST_LOGFILE) $(INST_ORIGIN)' > $@
$(BUILD)/sockserv.cfg.install: etc/sockserv.cfg $(INST_CFG_STAMP)
	@mkdir -p $(dir $@)
	sed -e 's|^# It runs unprivileged from the source tree: relative paths are resolved$$|# Installed variant ($(INST_ORIGIN)): started by root, it keeps its pid\n# file and statistics in /run/sockserv, logs to syslog and runs the\n# workers as $(INST_USER).  Relative paths are resolved|' \
	    -e 's|^pid_file = "run/sockserv.pid";$$|pid_file = "/run/sockserv/sockserv.pid";|' \
	    -e 's|^stats_path = "run/sockserv.shm";$$|stats_path = "/run/sockserv/sockserv.shm";|' \
	    -e 's|^# user = "nobody";$$|user = "$(INST_USER)";|' \
	    -e 's|^\([[:space:]]*\)target = "stderr";$$|\1target = "syslog";|' \
	    $(if $(INST_LOGFILE),$(INST_LOGFILE_SED)) \
	    $< > $@.tmp
	@for want in '^# Installed variant' '^pid_file = "/run/sockserv/sockserv.pid";' \
	    '^stats_path = "/run/sockserv/sockserv.shm";' '^user = "$(INST_USER)";' \
	    '^[[:space:]]*target = "syslog";' \
	    $(if $(INST_LOGFILE),'^[[:space:]]*# target = "$(INST_LOGFILE)";'); do \
		grep -q "$$want" $@.tmp || { echo "$@: no line matching $$want:" \
		    "update the sed in the Makefile to etc/sockserv.cfg" >&2; rm -f $@.tmp; exit 1; }; \
	done
	mv $@.tmp $@

# Install config-like files ($1 shipped, $2 destination) without overwriting
# what the administrator may have edited: a differing one gets $2.new beside it.
INST_KEEP = if [ ! -e $(2) ]; then \
		echo "$(INSTALL) -m 0644 $(1) $(2)"; $(INSTALL) -m 0644 $(1) $(2); \
	elif ! cmp -s $(1) $(2); then \
		$(INSTALL) -m 0644 $(1) $(2).new; \
		echo "$(2) exists and differs from the shipped one: kept it, installed $(2).new"; \
	fi
# ... and remove them only when unchanged
UNINST_KEEP = if [ -e $(2) ] && ! cmp -s $(1) $(2); then \
		echo "$(2) was changed: kept it"; \
	else rm -f $(2); fi; \
	if [ -e $(2).new ] && cmp -s $(1) $(2).new; then rm -f $(2).new; fi

# The installed configuration must pass -t; checked by `make test`, never by
# `make install`, which must not run what it built (a cross build, a build
# host without the user nobody).
install-check: $(BUILD)/sockserv $(BUILD)/sockserv.cfg.install
	$(BUILD)/sockserv -t -c $(BUILD)/sockserv.cfg.install >/dev/null

install: $(BUILD)/sockserv $(INST_BINS) $(BUILD)/sockserv.cfg.install
	@mkdir -p $(INST_TMP)
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(INST_CFGDIR) \
		$(DESTDIR)$(INITDIR) $(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)$(DEFAULTDIR)
	$(INSTALL) -m 0755 $(BUILD)/sockserv $(DESTDIR)$(SBINDIR)/sockserv
	$(INSTALL) -m 0755 $(INST_BINS) $(DESTDIR)$(BINDIR)/
	@$(call INST_KEEP,$(BUILD)/sockserv.cfg.install,$(INST_CFGDIR)/sockserv.cfg)
	$(INST_SED) init/sockserv.default > $(INST_TMP)/sockserv.default
	@$(call INST_KEEP,$(INST_TMP)/sockserv.default,$(DESTDIR)$(DEFAULTDIR)/sockserv)
	$(INST_SED) init/sockserv > $(INST_TMP)/sockserv.init
	$(INSTALL) -m 0755 $(INST_TMP)/sockserv.init $(DESTDIR)$(INITDIR)/sockserv
	$(INST_SED) init/sockserv.service > $(INST_TMP)/sockserv.service
	$(INSTALL) -m 0644 $(INST_TMP)/sockserv.service $(DESTDIR)$(SYSTEMDDIR)/sockserv.service
	@for page in $(INST_MAN); do \
		[ -f man/$$page ] || continue; \
		dir=$(DESTDIR)$(MANDIR)/man$${page##*.}; \
		$(INST_SED) man/$$page > $(INST_TMP)/$$page || exit 1; \
		echo "$(INSTALL) -m 0644 man/$$page $$dir/$$page"; \
		$(INSTALL) -d $$dir && $(INSTALL) -m 0644 $(INST_TMP)/$$page $$dir/$$page || exit 1; \
	done

uninstall: $(BUILD)/sockserv.cfg.install
	rm -f $(DESTDIR)$(SBINDIR)/sockserv $(DESTDIR)$(BINDIR)/sockserv-client \
		$(DESTDIR)$(BINDIR)/sockserv-stat $(DESTDIR)$(BINDIR)/sockserv-bench \
		$(DESTDIR)$(INITDIR)/sockserv $(DESTDIR)$(SYSTEMDDIR)/sockserv.service
	rm -f $(foreach p,$(INST_MAN),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(p)))/$(p))
	@$(call UNINST_KEEP,$(BUILD)/sockserv.cfg.install,$(INST_CFGDIR)/sockserv.cfg)
	@mkdir -p $(INST_TMP)
	@$(INST_SED) init/sockserv.default > $(INST_TMP)/sockserv.default
	@$(call UNINST_KEEP,$(INST_TMP)/sockserv.default,$(DESTDIR)$(DEFAULTDIR)/sockserv)
	@rmdir $(INST_CFGDIR) 2>/dev/null || true

# ---- Debian package ---------------------------------------------------------
# make deb        build sockserv_VERSION_ARCH.deb into build/pkg/ (debian/rules
#                 runs `make install` with the Debian layout)
# make test-deb   build it, install it on this machine, run it, purge it
#                 (tests/deb/run.sh; root only, skipped with the reason otherwise)
# dpkg-buildpackage writes its results to the parent of the tree it builds,
# so make deb builds in a copy, build/pkg/src: the .deb, .buildinfo and
# .changes land in build/pkg/, and neither this tree's debian/ nor its
# parent directory is touched.  `dpkg-buildpackage -us -uc -b` run here
# directly works as well and leaves them in ..; debian/rules keeps its
# objects in build/deb either way.
.PHONY: deb deb-deps deb-build test-deb

DEB_DIR     := build/pkg
DEB_VERSION  = $(shell dpkg-parsechangelog -S Version 2>/dev/null)
DEB_ARCH     = $(shell dpkg-architecture -qDEB_HOST_ARCH 2>/dev/null)

# The package's build tools and Build-Depends, installed with apt-get only
# when missing.  No fakeroot: debian/control says Rules-Requires-Root: no, so
# dpkg-deb writes root-owned files without it.
deb-deps:
	@if ! command -v dpkg-buildpackage >/dev/null 2>&1 || ! command -v dh >/dev/null 2>&1 || \
	    ! pkg-config --exists libconfig 2>/dev/null; then \
		echo "installing package build tools (dpkg-dev debhelper libconfig-dev pkg-config)"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			dpkg-dev debhelper libconfig-dev pkg-config >/dev/null || exit 1; \
	fi

deb: deb-deps
	@$(MAKE) --no-print-directory deb-build

# the copy: the tree as it is (uncommitted changes included), without
# build output and git metadata; MAKEFLAGS is not passed down to debian/rules
deb-build:
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src
	tar -cf - --exclude=./build --exclude=./.git --exclude=./run . | tar -xf - -C $(DEB_DIR)/src
	cd $(DEB_DIR)/src && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL dpkg-buildpackage -us -uc -b
	rm -rf $(DEB_DIR)/src
	@test -f $(DEB_DIR)/sockserv_$(DEB_VERSION)_$(DEB_ARCH).deb
	@echo "built $(DEB_DIR)/sockserv_$(DEB_VERSION)_$(DEB_ARCH).deb"

test-deb:
	tests/deb/run.sh

# ---- fuzzing, static analysis, valgrind -------------------------------------
# make fuzz         every libFuzzer target in tests/fuzz/ for FUZZ_SECONDS each
#                   (crash reproducers in tests/fuzz/regress/ replayed first)
# make lint         cppcheck and scan-build over src/
# make valgrind     integration suites' servers under valgrind (SOCKSERV_WRAP)
.PHONY: fuzz fuzz-deps fuzz-bins lint lint-deps valgrind valgrind-deps

FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= proto config conn link proxy
FUZZ_BUILD   := build/fuzz
# the library and the targets are built with coverage (fuzzer-no-link) and both
# sanitizers; UB aborts, so libFuzzer sees it as a crash and keeps the input
FUZZ_SAN     := -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=undefined -fno-omit-frame-pointer

# clang and its libFuzzer runtime: installed with apt-get only when clang
# cannot link a fuzzer (the check is a link, so a missing runtime counts)
fuzz-deps:
	@if ! printf 'int LLVMFuzzerTestOneInput(const char *d, long n);\nint LLVMFuzzerTestOneInput(const char *d, long n) { (void)d; (void)n; return 0; }\n' | \
	    $(FUZZ_CC) -fsanitize=fuzzer -x c - -o /dev/null >/dev/null 2>&1; then \
		echo "installing fuzzing dependencies (clang-14 libclang-rt-14-dev)"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			clang-14 libclang-rt-14-dev >/dev/null || exit 1; \
	fi

fuzz: deps fuzz-deps
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) OPT="-O1 -g" \
		SAN_FLAGS="$(FUZZ_SAN)" WERROR= fuzz-bins
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/fuzz_%)

$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/libsockserv.a
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(CONFIG_LIBS)

# Static analysis of the server and its tools (src/bench.c is being split
# into bench/ and is left out until that lands).  cppcheck's and scan-build's
# false positives are listed, each with its reason, in .cppcheck-suppressions
# and .scan-build-suppressions; anything else fails.
LINT_SRC := $(filter-out src/bench.c,$(wildcard src/*.c))

lint-deps:
	@if ! command -v cppcheck >/dev/null 2>&1 || ! command -v scan-build-14 >/dev/null 2>&1 || \
	    ! command -v clang-14 >/dev/null 2>&1; then \
		echo "installing static analysis tools (cppcheck clang-14 clang-tools-14)"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			cppcheck clang-14 clang-tools-14 >/dev/null || exit 1; \
	fi

lint: deps lint-deps
	cppcheck --quiet --error-exitcode=1 -j2 --std=c11 --enable=warning,style,performance,portability \
		--inline-suppr --suppressions-list=.cppcheck-suppressions \
		-D_GNU_SOURCE -Iinclude $(LINT_SRC)
	tests/lint/scan-build.sh build/lint $(LINT_SRC:%.c=build/lint/%.o)

# The integration suites whose servers run under valgrind (memcheck, full
# leak check; every process's log in build/valgrind/, any error fails).  The
# server runs 20-50x slower there, so only suites that wait for events rather
# than measure time: basic (codecs, protocol errors, frame limits, the log
# handler), limits (descriptors, slow readers), the two reload tests with a
# handful of workers (the 255-worker ones would start 255 valgrinds),
# process (signals, exits) and daemon (pid file, privileges, log reopen).  Left out: timers
# (asserts that timeouts fire within a margin and that an idle worker wakes
# once a tick, which valgrind's slowdown exceeds) and supervise (hung-worker
# and respawn timings; and its sockserv-stat checks find the master by its
# process name, which under valgrind is memcheck's: "stale: master not
# running").  One backend (epoll): all that differs with poll is
# evloop_poll.c, which make test and make asan run; a second valgrind pass
# would double the time for that one file.
VALGRIND_SUITES ?= basic limits process daemon \
                   reload:test_reload_drains_old_workers_without_cutting_connections \
                   reload:test_reload_to_fewer_workers_strands_no_client
VALGRIND_LOGS   := $(CURDIR)/$(BUILD)/valgrind
VALGRIND        := valgrind -q --leak-check=full --errors-for-leak-kinds=definite,possible \
                   --error-exitcode=99 --log-file=$(VALGRIND_LOGS)/vg.%p.log

valgrind-deps:
	@if ! command -v valgrind >/dev/null 2>&1; then \
		echo "installing valgrind"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			valgrind >/dev/null || exit 1; \
	fi

valgrind: deps valgrind-deps
	@$(MAKE) --no-print-directory all tests
	rm -rf $(VALGRIND_LOGS) && mkdir -p $(VALGRIND_LOGS)
	@for suite in $(VALGRIND_SUITES); do \
		echo "SOCKSERV_WRAP=valgrind $(BUILD)/test_integration $$suite"; \
		SOCKSERV_BUILD=$(BUILD) SOCKSERV_BACKEND=epoll SOCKSERV_WRAP="$(VALGRIND)" \
			$(BUILD)/test_integration $$suite || exit 1; \
	done
	@# with -q a log holds only errors: every non-empty one is a failure
	@bad=0; for log in $(VALGRIND_LOGS)/vg.*.log; do \
		[ -s "$$log" ] || continue; bad=$$((bad + 1)); echo "== $$log"; cat "$$log"; \
	done; n=$$(ls $(VALGRIND_LOGS) | wc -l); \
	echo "valgrind: $$n server processes, $$bad with errors"; [ $$bad -eq 0 ] && [ $$n -gt 0 ]

clean:
	rm -rf build

# every object's dependency file, whichever program it belongs to
-include $(wildcard $(BUILD)/*/*.d $(BUILD)/*/*/*.d)
