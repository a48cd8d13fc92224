# nftables_exporter — plain Makefile, pkg-config for the libraries.
# Quick start: `make run` (build and run here) and `make test` (whole suite).
# Both install missing Debian packages first (.ci/deps.sh).

VERSION  ?= 0.1.0
REVISION ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
PREFIX   ?= /usr/local
DESTDIR  ?=
ARGS     ?=

CC       ?= gcc
PKGS     := libmnl libnftnl libnetfilter_conntrack libmicrohttpd zlib
WARN     := -std=c11 -Wall -Wextra -Wshadow -Wformat=2 -Wmissing-prototypes \
            -Wstrict-prototypes -Wundef -Wwrite-strings -Werror
OPT      ?= -O2 -g
SAN      ?=
B        ?= build

# Recursively expanded: pkg-config runs only once the packages are present.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
CPPFLAGS  += -D_GNU_SOURCE -Isrc -Icollectors -Iexporter \
             -DNFTEXP_VERSION='"$(VERSION)"' -DNFTEXP_REVISION='"$(REVISION)"'
ALL_CFLAGS = $(WARN) $(OPT) $(SAN) $(PKG_CFLAGS) $(CFLAGS)
ALL_LDLIBS = $(PKG_LIBS) -lpthread -lm $(LDLIBS)

CORE_SRC := src/metrics.c src/log.c src/loop.c src/nl.c src/flags.c \
            src/procstat.c src/daemon.c src/hmap.c src/intern.c \
            collectors/collector.c collectors/conntrack.c \
            collectors/ruleset.c collectors/ruleset_model.c \
            collectors/transactions.c collectors/services.c \
            exporter/expo.c exporter/http.c
MAIN_SRC := src/main.c
CORE_OBJ := $(CORE_SRC:%.c=$(B)/%.o)
MAIN_OBJ := $(MAIN_SRC:%.c=$(B)/%.o)
BIN      := $(B)/nftables_exporter

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_SECONDS ?= 30

.PHONY: all run test unit-bins asan valgrind fuzz bench format install clean deps-build deps-test

all: $(BIN) nftables_exporter

nftables_exporter: $(BIN)
	cp $(BIN) $@

$(BIN): $(MAIN_OBJ) $(CORE_OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDLIBS)

$(B)/%.o: %.c $(wildcard src/*.h collectors/*.h exporter/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(CORE_OBJ) tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(CORE_OBJ) $(ALL_LDLIBS)

deps-build:
	@.ci/deps.sh build

deps-test:
	@.ci/deps.sh build test

# Run against this host's own network namespace, in the foreground.
run: deps-build
	@$(MAKE) --no-print-directory all
	@if [ "$$(id -u)" -ne 0 ]; then echo "note: without CAP_NET_ADMIN the collectors report success 0"; fi
	@echo "nftables_exporter: starting; scrape http://localhost:9630/metrics (Ctrl-C to stop)"
	./$(BIN) $(ARGS)

# The whole suite: unit tests, then integration tests in fresh network
# namespaces. Ends with "N passed, N failed".
test: deps-test
	@$(MAKE) --no-print-directory all unit-bins
	@BIN=$(BIN) UNIT_DIR=$(B)/tests tests/run.sh

unit-bins: $(UNIT_BIN)

# ASan + UBSan build of everything, then the same suite against it.
asan: deps-test
	@$(MAKE) --no-print-directory B=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" all unit-bins
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		BIN=build-asan/nftables_exporter UNIT_DIR=build-asan/tests tests/run.sh

# The unit tests and one daemon run under valgrind (memcheck, leaks fatal).
valgrind: deps-test
	@.ci/deps.sh valgrind
	@$(MAKE) --no-print-directory B=build-vg OPT="-O0 -g" all unit-bins
	@VALGRIND="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
		BIN=build-vg/nftables_exporter UNIT_DIR=build-vg/tests tests/run.sh

# libFuzzer targets, each run for FUZZ_SECONDS.
fuzz: deps-build
	@.ci/deps.sh fuzz
	@mkdir -p build-fuzz
	@set -e; for f in $(FUZZ_SRC); do \
		n=$$(basename $$f .c); \
		clang $(CPPFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) \
			-o build-fuzz/$$n $$f $(CORE_SRC) $(PKG_LIBS) -lpthread -lm; \
		mkdir -p tests/fuzz/corpus-$$n; \
		seeds=; [ -d tests/fuzz/seeds-$$n ] && seeds=tests/fuzz/seeds-$$n; \
		echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
		build-fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 tests/fuzz/corpus-$$n $$seeds; \
	done

# Benchmarks (tests/bench/): each prints ratios against a baseline measured
# in the same run. Not part of `make test`.
BENCH_SRC := $(wildcard tests/bench/bench_*.c)
bench: deps-build
	@$(MAKE) --no-print-directory all
	@set -e; for f in $(BENCH_SRC); do \
		n=$$(basename $$f .c); \
		$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $(B)/$$n $$f $(CORE_OBJ) $(ALL_LDLIBS); \
		echo "== $$n"; $(B)/$$n; \
	done
	@echo "== bench_ruleset (1000 Services x 10 endpoints; BENCH_ARGS to change)"
	@.ci/deps.sh test
	@BIN=$(BIN) tests/bench/bench_ruleset.sh $(BENCH_ARGS)
	@echo "== bench_events (2000 Services x 10 endpoints in one transaction)"
	@BIN=$(BIN) tests/bench/bench_events.sh

format:
	clang-format -i $(wildcard src/*.[ch] collectors/*.[ch] exporter/*.[ch] tests/unit/*.[ch] tests/fuzz/*.c)

install: all
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/nftables_exporter
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/nftables_exporter/README.md

clean:
	rm -rf build build-asan build-vg build-fuzz nftables_exporter
