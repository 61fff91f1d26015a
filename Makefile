# sockserv: one Makefile, objects out of tree in $(BUILD).
#   make            build the programs
#   make run        install missing build deps, build, run in the foreground
#   make test       unit + integration tests (both event backends)
#   make asan       the same tests under AddressSanitizer + UBSan
#   make bench      benchmark suite (fills BENCHMARKS.md), not part of test
#   make install    PREFIX, DESTDIR, SYSCONFDIR

PREFIX     ?= /usr/local
SYSCONFDIR ?= $(PREFIX)/etc
SBINDIR    ?= $(PREFIX)/sbin
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
INITDIR    ?= /etc/init.d
DESTDIR    ?=

BUILD      ?= build
CC         ?= cc
OPT        ?= -O2 -g
WARN       := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
              -Wpointer-arith -Wformat=2 -Werror
CPPFLAGS   += -Iinclude -D_GNU_SOURCE -DSYSCONFDIR='"$(SYSCONFDIR)"'
CFLAGS     ?= $(OPT)
CFLAGS     += -std=gnu11 $(WARN) -MMD -MP
ifeq ($(SANITIZE),1)
CFLAGS     += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS    += -fsanitize=address,undefined
endif

CONFIG_CFLAGS := $(shell pkg-config --cflags libconfig 2>/dev/null)
CONFIG_LIBS   := $(shell pkg-config --libs libconfig 2>/dev/null || echo -lconfig)
CPPFLAGS      += $(CONFIG_CFLAGS)

PROGS_SRC  := src/sockserv.c src/sockserv-stat.c src/client.c src/bench.c
LIB_SRC    := $(filter-out $(PROGS_SRC),$(wildcard src/*.c))
LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC   := $(wildcard tests/test_*.c)
UNIT_OBJ   := $(UNIT_SRC:%.c=$(BUILD)/%.o)
INTEG_SRC  := $(wildcard tests/integration/*.c)
INTEG_OBJ  := $(INTEG_SRC:%.c=$(BUILD)/%.o)

PROGRAMS   := $(BUILD)/sockserv $(BUILD)/sockserv-client
ifneq ($(wildcard src/sockserv-stat.c),)
PROGRAMS   += $(BUILD)/sockserv-stat
endif
ifneq ($(wildcard src/bench.c),)
PROGRAMS   += $(BUILD)/sockserv-bench
endif
ifneq ($(wildcard bench/floor_echo.c),)
PROGRAMS   += $(BUILD)/floor_echo
endif
ifneq ($(wildcard bench/twheel_bench.c),)
PROGRAMS   += $(BUILD)/twheel_bench
endif

.PHONY: all deps run test unit integration asan bench install uninstall clean

all: $(PROGRAMS) $(BUILD)/test_unit $(BUILD)/test_integration

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
	@$(MAKE) --no-print-directory $(BUILD)/sockserv $(BUILD)/sockserv-client
	mkdir -p run
	$(BUILD)/sockserv -c etc/sockserv.cfg -f

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit integration

unit: $(BUILD)/test_unit
	$(BUILD)/test_unit

# Integration tests run once per event backend.
integration: $(BUILD)/test_integration $(PROGRAMS)
	SOCKSERV_BUILD=$(BUILD) SOCKSERV_BACKEND=epoll $(BUILD)/test_integration
	SOCKSERV_BUILD=$(BUILD) SOCKSERV_BACKEND=poll $(BUILD)/test_integration

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=1 OPT="-O1 -g" all
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=1 OPT="-O1 -g" unit
	# servers exit without freeing what the kernel reclaims anyway: no leak check there
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
		$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=1 OPT="-O1 -g" integration

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libsockserv.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/sockserv: $(BUILD)/src/sockserv.o $(BUILD)/libsockserv.a
	$(CC) $(LDFLAGS) -o $@ $^ $(CONFIG_LIBS)

$(BUILD)/sockserv-stat: $(BUILD)/src/sockserv-stat.o $(BUILD)/libsockserv.a
	$(CC) $(LDFLAGS) -o $@ $^ $(CONFIG_LIBS)

$(BUILD)/sockserv-client: $(BUILD)/src/client.o $(BUILD)/libsockserv.a
	$(CC) $(LDFLAGS) -o $@ $^ $(CONFIG_LIBS)

$(BUILD)/sockserv-bench: $(BUILD)/src/bench.o $(BUILD)/libsockserv.a
	$(CC) $(LDFLAGS) -o $@ $^ $(CONFIG_LIBS) -lm

$(BUILD)/floor_echo: $(BUILD)/bench/floor_echo.o
	$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/twheel_bench: $(BUILD)/bench/twheel_bench.o $(BUILD)/libsockserv.a
	$(CC) $(LDFLAGS) -o $@ $^ $(CONFIG_LIBS)

$(BUILD)/test_unit: $(UNIT_OBJ) $(BUILD)/libsockserv.a
	$(CC) $(LDFLAGS) -o $@ $^ $(CONFIG_LIBS) -lcunit -lm

$(BUILD)/test_integration: $(INTEG_OBJ) $(BUILD)/libsockserv.a
	$(CC) $(LDFLAGS) -o $@ $^ $(CONFIG_LIBS) -lcunit -lm

bench: deps
	@$(MAKE) --no-print-directory all
	bench/run.sh

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(INTEG_OBJ:.o=.d) $(BUILD)/src/sockserv.d \
	$(BUILD)/src/client.d $(BUILD)/src/sockserv-stat.d $(BUILD)/src/bench.d
