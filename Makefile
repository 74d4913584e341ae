# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# memshed: `make` builds build/memshed; `make test` builds and runs every test.

OUTPUT      ?= build
CLANG       ?= clang
CC          ?= cc
BPFTOOL     ?= bpftool
PKG_CONFIG  ?= pkg-config
# BTF of the kernel to build for; point at another file to build for another host.
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
PREFIX      ?= /usr/local
DESTDIR     ?=
ARCH        := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/;s/ppc64le/powerpc/;s/s390x/s390/')
VERSION     := 0.1.0

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# clang's own system include dirs, so BPF code finds <bpf/bpf_helpers.h> and
# the Debian multiarch uapi headers (/usr/include/x86_64-linux-gnu).
CLANG_BPF_SYS_INCLUDES := $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')

# No ncurses: `memshed top` loads it when it starts (user/top.c), so the
# daemon, the same binary, never maps it. Its headers are needed to build.
# libbpf, libelf and libinih are linked from the distribution's static
# archives (libbpf-dev, libelf-dev, libinih-dev): the daemon then maps one
# text segment, not three libraries' each with its own data, symbol tables
# and relocations (bench footprint: about 200 KiB less RSS). zlib and libc
# stay shared: zlib is the library Debian wants never embedded (lintian's
# embedded-library), and `memshed top` dlopen()s ncurses. STATIC_LIBS=no
# links every library shared. (-ffunction-sections with --gc-sections was
# measured too: 560 bytes less, as these archives have no per-function
# sections to drop.)
STATIC_LIBS ?= yes
ifeq ($(STATIC_LIBS),yes)
LIBS        := -Wl,-Bstatic -lbpf -lelf -linih -Wl,-Bdynamic -lz -lm
else
LIBS        := $(shell $(PKG_CONFIG) --libs libbpf inih 2>/dev/null || echo -lbpf -linih) -lelf -lz -lm
endif
CFLAGS      ?= -g -O2
WARN        := -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
ALL_CFLAGS  := $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -DMEMSHED_VERSION='"$(VERSION)"' \
	-I$(OUTPUT) -Iinclude -Iuser $(shell $(PKG_CONFIG) --cflags libbpf 2>/dev/null) $(EXTRA_CFLAGS)
LDFLAGS     ?=

BPF_SRCS    := $(wildcard bpf/*.bpf.c)
BPF_OBJS    := $(patsubst bpf/%.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(BPF_SRCS))
USER_SRCS   := $(wildcard user/*.c)
USER_OBJS   := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(USER_SRCS))
# Everything but main: linked into the unit tests and fuzz targets too.
LIB_OBJS    := $(filter-out $(OUTPUT)/user/main.o,$(USER_OBJS))

UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))
INTEG_SRCS  := $(wildcard tests/integration/test_*.c)
INTEG_BINS  := $(patsubst tests/integration/%.c,$(OUTPUT)/tests/integration/%,$(INTEG_SRCS))
HELPER_SRCS := $(wildcard tests/helpers/*.c)
HELPER_BINS := $(patsubst tests/helpers/%.c,$(OUTPUT)/tests/helpers/%,$(HELPER_SRCS))
BENCH_SRCS  := $(wildcard bench/*.c)
BENCH_BINS  := $(patsubst bench/%.c,$(OUTPUT)/bench/%,$(BENCH_SRCS))

.DELETE_ON_ERROR:
.PHONY: all clean test unit integration bench install deps demo fuzz deb
.SECONDARY:

all: $(OUTPUT)/memshed

$(OUTPUT) $(OUTPUT)/bpf $(OUTPUT)/user $(OUTPUT)/tests $(OUTPUT)/tests/helpers $(OUTPUT)/tests/integration $(OUTPUT)/bench:
	$(Q)mkdir -p $@

$(OUTPUT)/vmlinux.h: $(VMLINUX_BTF) | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c $(OUTPUT)/vmlinux.h | $(OUTPUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall \
		-I$(OUTPUT) -Iinclude -Ibpf $(CLANG_BPF_SYS_INCLUDES) -MMD -MP -c $< -o $@

# All kernel programs are linked into one object so they share their maps.
$(OUTPUT)/memshed.bpf.o: $(BPF_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(BPFTOOL) gen object $@ $^

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $* > $@

$(OUTPUT)/user/%.o: user/%.c $(OUTPUT)/memshed.skel.h | $(OUTPUT)/user
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(OUTPUT)/memshed: $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ $(LIBS) -o $@

$(OUTPUT)/tests/%: tests/unit/%.c $(LIB_OBJS) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests -MMD -MP $< $(LIB_OBJS) $(LIBS) -o $@

$(OUTPUT)/tests/integration/%: tests/integration/%.c $(LIB_OBJS) | $(OUTPUT)/tests/integration
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests -MMD -MP $< $(LIB_OBJS) $(LIBS) -o $@

$(OUTPUT)/tests/helpers/%: tests/helpers/%.c | $(OUTPUT)/tests/helpers
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP $< -lm -o $@

$(OUTPUT)/bench/%: bench/%.c $(LIB_OBJS) | $(OUTPUT)/bench
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP $< $(LIB_OBJS) $(LIBS) -o $@

# Debian packages the project needs (build, tests, benchmarks).
deps:
	$(Q)./tools/install-deps

unit: $(UNIT_BINS)
	$(Q)tests/run-all test_

test: all $(UNIT_BINS) $(INTEG_BINS) $(HELPER_BINS)
	$(Q)tests/run-all

bench: all $(BENCH_BINS) $(HELPER_BINS)
	$(Q)bench/run

clean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -rf $(OUTPUT)

-include $(wildcard $(OUTPUT)/*/*.d $(OUTPUT)/tests/*/*.d)

# ---- Fuzzing and sanitizers (issue 7) ------------------------------------
# `make fuzz`: libFuzzer targets tests/fuzz/fuzz_*.c, built with clang from the
# user sources they need (no BPF, no skeleton) into $(OUTPUT)/fuzz/, each run
# for FUZZ_SECONDS on a copy of its seeds (tests/fuzz/<target>/) in
# $(OUTPUT)/fuzz/corpus-<target>; non-zero exit on a crash. `make fuzz-build`
# only builds. `make asan`: tests/sanitize (the project built with ASan+UBSan
# into build-asan/, its unit tests, and a leak check of the daemon).
FUZZ_SECONDS  ?= 60
FUZZ_TARGETS  := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS     := $(patsubst %,$(OUTPUT)/fuzz/fuzz_%,$(FUZZ_TARGETS))
FUZZ_LIB_SRCS := user/values.c user/config.c user/configcheck.c user/control.c user/output.c \
		 user/eventring.c user/eventlog.c user/cgroup.c
FUZZ_CFLAGS   := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-fsanitize-coverage-ignorelist=tests/fuzz/coverage-ignorelist.txt \
	-fno-omit-frame-pointer $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -Iuser

.PHONY: fuzz-build asan

$(OUTPUT)/fuzz:
	$(Q)mkdir -p $@

$(OUTPUT)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_SRCS) tests/fuzz/coverage-ignorelist.txt \
		$(wildcard user/*.h include/*.h tests/fuzz/*.h) | $(OUTPUT)/fuzz
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $< $(FUZZ_LIB_SRCS) -linih -lz -o $@

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	$(Q)tests/fuzz/run $(OUTPUT)/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

asan:
	$(Q)tests/sanitize

# ---- Install, uninstall, demo (issue 5) ----------------------------------
# `make install` honours PREFIX (default /usr/local) and DESTDIR:
#   $(PREFIX)/sbin/memshed, $(PREFIX)/share/man/man{8,5}/,
#   $(PREFIX)/lib/systemd/system/memshed.service (systemd reads both
#   /usr/lib/systemd/system and /usr/local/lib/systemd/system; ExecStart is
#   rewritten to $(SBINDIR)/memshed), $(PREFIX)/share/bash-completion/
#   completions/memshed, and /etc/memshed/memshed.conf.example (SYSCONFDIR
#   is /etc whatever the PREFIX: the binary reads /etc/memshed/memshed.conf).
#   memshed.conf itself is never created, overwritten or removed.
# `make demo`: demo/run, a 15-second live demo (root).
SBINDIR     ?= $(PREFIX)/sbin
MANDIR      ?= $(PREFIX)/share/man
UNITDIR     ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SYSCONFDIR  ?= /etc
INSTALL     ?= install

.PHONY: uninstall

install: $(OUTPUT)/memshed
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)$(INSTALL) -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(SYSCONFDIR)/memshed
	$(Q)$(INSTALL) -m 0755 $(OUTPUT)/memshed $(DESTDIR)$(SBINDIR)/memshed
	$(Q)$(INSTALL) -m 0644 man/memshed.8 $(DESTDIR)$(MANDIR)/man8/memshed.8
	$(Q)$(INSTALL) -m 0644 man/memshed.conf.5 $(DESTDIR)$(MANDIR)/man5/memshed.conf.5
	$(Q)sed 's|/usr/local/sbin/memshed|$(SBINDIR)/memshed|g' dist/memshed.service \
		> $(OUTPUT)/memshed.service
	$(Q)$(INSTALL) -m 0644 $(OUTPUT)/memshed.service $(DESTDIR)$(UNITDIR)/memshed.service
	$(Q)$(INSTALL) -m 0644 dist/bash-completion/memshed $(DESTDIR)$(BASHCOMPDIR)/memshed
	$(Q)$(INSTALL) -m 0644 examples/memshed.conf \
		$(DESTDIR)$(SYSCONFDIR)/memshed/memshed.conf.example

uninstall:
	$(call msg,UNINSTALL,$(DESTDIR)$(PREFIX))
	$(Q)rm -f $(DESTDIR)$(SBINDIR)/memshed $(DESTDIR)$(MANDIR)/man8/memshed.8 \
		$(DESTDIR)$(MANDIR)/man5/memshed.conf.5 $(DESTDIR)$(UNITDIR)/memshed.service \
		$(DESTDIR)$(BASHCOMPDIR)/memshed $(DESTDIR)$(SYSCONFDIR)/memshed/memshed.conf.example
	$(Q)rmdir $(DESTDIR)$(SYSCONFDIR)/memshed 2>/dev/null || true

demo: all $(OUTPUT)/tests/helpers/memhog $(OUTPUT)/tests/helpers/sigwatch
	$(Q)MEMSHED_DEMO_NO_BUILD=1 MEMSHED=$(abspath $(OUTPUT))/memshed \
		HELPERS=$(abspath $(OUTPUT))/tests/helpers demo/run

# ---- Debian package (issue 14) -------------------------------------------
# `make deb`: build/memshed_$(VERSION)_<arch>.deb (with its -dbgsym package,
# .buildinfo and .changes), by dpkg-buildpackage -b on a copy of the tree in
# $(OUTPUT)/deb/ (dpkg-buildpackage writes into the parent directory of the
# tree it builds: the copy keeps that inside $(OUTPUT), and the package is
# built from clean, not from this tree's build/). Log: $(OUTPUT)/deb/build.log
# (printed with V=1 or on failure). debian/changelog must carry $(VERSION).
DEB_ARCH    = $(shell dpkg --print-architecture)
DEB_DIR     := $(OUTPUT)/deb
# (no -dbgsym package with DEB_BUILD_OPTIONS=noautodbgsym)
DEB_FILES   = memshed_$(VERSION)_$(DEB_ARCH).deb memshed-dbgsym_$(VERSION)_$(DEB_ARCH).deb \
	memshed_$(VERSION)_$(DEB_ARCH).buildinfo memshed_$(VERSION)_$(DEB_ARCH).changes

# The package builds in a clean environment: nothing of this make's command
# line or environment (OUTPUT=, CFLAGS=, MAKEFLAGS: make exports command-line
# variables, and the copy's `make clean` would remove $(OUTPUT)) reaches it;
# debian/rules sets what it needs. DEB_BUILD_OPTIONS passes (nocheck...).
DEB_BUILD   = env -i PATH="$$PATH" HOME="$$HOME" LC_ALL=C.UTF-8 \
	$${DEB_BUILD_OPTIONS:+DEB_BUILD_OPTIONS="$$DEB_BUILD_OPTIONS"} \
	dpkg-buildpackage -b --no-sign -jauto

.PHONY: deb

deb:
	$(if $(OUTPUT),,$(error OUTPUT is empty))
	$(Q)v=$$(dpkg-parsechangelog -S Version); [ "$$v" = "$(VERSION)" ] || \
		{ echo "debian/changelog is at $$v, the Makefile at $(VERSION)" >&2; exit 1; }
	$(call msg,DEB,$(OUTPUT)/memshed_$(VERSION)_$(DEB_ARCH).deb)
	$(Q)rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/memshed-$(VERSION)
	$(Q)tar -c --exclude=./.git --exclude='./build*' --exclude=./$(OUTPUT) . | \
		tar -x -C $(DEB_DIR)/memshed-$(VERSION)
	$(Q)cd $(DEB_DIR)/memshed-$(VERSION) && \
		if [ "$(V)" = 1 ]; then $(DEB_BUILD); \
		else $(DEB_BUILD) >../build.log 2>&1 || \
			{ tail -n 40 ../build.log >&2; echo "make deb: see $(DEB_DIR)/build.log" >&2; exit 1; }; fi
	$(Q)cd $(DEB_DIR) && for f in $(DEB_FILES); do [ ! -e $$f ] || mv $$f $(abspath $(OUTPUT))/; done
	$(Q)test -e $(OUTPUT)/memshed_$(VERSION)_$(DEB_ARCH).deb
