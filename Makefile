# SPDX-License-Identifier: Apache-2.0
# osh build: out of tree under $(O), GNU make. `make help` lists the targets.
#
# Layout the rules rely on (adding a file in one of these places is all it takes to build it):
#   policy-compiler/*.c      -> libosh-policy.a   (no kernel dependency)
#   prover/*.c               -> libosh-prover.a
#   userspace/*.c            -> libosh-engine.a   (loaders, runner)
#   daemon/*.c               -> libosh-daemon.a   (store, API, manager), daemon/oshd.c -> bin/oshd
#   cli/*.c                  -> bin/oshctl, but cli/osh-prove.c -> libexec/osh/osh-prove (Z3)
#                               and cli/osh-run.c -> libexec/osh/osh-run (embedded run, ldns)
#                               and cli/osh-doctor.c -> libexec/osh/osh-doctor (probes, libbpf)
#   bpf/*.bpf.c, tests/bpf/*.bpf.c -> .bpf.o -> .skel.h (bpftool gen skeleton)
#   tests/unit/test_*.c      -> cmocka binaries, built with ASan+UBSan, halt on error
#   tests/helpers/*.c        -> small real programs the end-to-end and VM tests drive
#   */fuzz-*.c               -> libFuzzer targets (clang), `make fuzz`
# Files named fuzz-*.c never go into a library.

O       ?= build
V       ?= 0
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
# oshctl finds osh-prove at ../libexec/osh/ from its own (real) folder: the same path here, which
# the kernel resolves the same way should BINDIR be a symlink.
LIBEXECDIR = $(BINDIR)/../libexec

CC      ?= cc
CLANG   ?= clang
BPFTOOL ?= bpftool
AR      ?= ar
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' $(1) $(2);
endif

.DELETE_ON_ERROR:
# Keep what pattern chains build on the way (output folders, .bpf.o, helper .o) so a second make
# does not rebuild them. Not `.SECONDARY:` without prerequisites: that makes every target an
# intermediate, and a library would then not be re-archived when a new source file appears.
.PRECIOUS: %/ $(O)/%.o $(O)/%.bpf.o $(O)/%.skel.h
.SUFFIXES:
.DEFAULT_GOAL := all

# --- dependencies ---------------------------------------------------------------------------------
LIBS_PC := libbpf yaml-0.1 libcjson z3 libseccomp libcap sqlite3 nettle libcurl libmicrohttpd gnutls \
           libsystemd ldns libnl-3.0 libnl-route-3.0 libnftnl libmnl
DEPS_STAMP := $(O)/.deps-ok

# The stamp is re-made when the dependency list changes; install-deps.sh installs what is
# missing as root, or prints the one command to run and fails.
$(DEPS_STAMP): scripts/install-deps.sh | $(O)/
	$(Q)scripts/install-deps.sh
	$(Q)touch $@

deps:
	scripts/install-deps.sh

PKG_CFLAGS = $(shell pkg-config --cflags $(LIBS_PC) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(LIBS_PC) 2>/dev/null) -lelf -lz -lpthread -lhttp_parser

# --- flags -----------------------------------------------------------------------------------------
WARN    := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wformat=2 \
           -Wno-unused-parameter
INCS    := -I. -Ipolicy-compiler -Iuserspace -Iprover -Idaemon -Ibpf -I$(O)/bpf -I$(O)/tests/bpf
BASE_CFLAGS := -std=gnu11 $(WARN) $(INCS) -g -MMD -MP
CFLAGS  ?= -O2
HARDEN  := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
ALL_CFLAGS   = $(BASE_CFLAGS) $(HARDEN) $(CFLAGS) $(PKG_CFLAGS)
ALL_LDFLAGS  = -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(LDFLAGS)

SAN_FLAGS   := -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_CFLAGS   = $(BASE_CFLAGS) $(SAN_FLAGS) $(PKG_CFLAGS) -DOSH_TESTING=1
FUZZ_FLAGS  := -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# clang flags the positional initialisers inside libseccomp's SCMP_A* macros; not our code.
FUZZ_CFLAGS  = $(BASE_CFLAGS) $(FUZZ_FLAGS) $(PKG_CFLAGS) -DOSH_FUZZING=1 -Wno-missing-field-initializers

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror -MMD -MP \
              -Ibpf -Ibpf/lib -I$(O)/bpf

# --- sources ---------------------------------------------------------------------------------------
# (filter-out cannot match two wildcards in one pattern, so look for the "/fuzz-" part by hand)
notfuzz = $(foreach f,$(1),$(if $(findstring /fuzz-,$(f)),,$(f)))
POLICY_SRCS := $(call notfuzz,$(wildcard policy-compiler/*.c))
PROVER_SRCS := $(call notfuzz,$(wildcard prover/*.c))
ENGINE_SRCS := $(call notfuzz,$(wildcard userspace/*.c))
DAEMON_MAIN := daemon/oshd.c
DAEMON_SRCS := $(filter-out $(DAEMON_MAIN),$(call notfuzz,$(wildcard daemon/*.c)))
PROVE_MAIN  := cli/osh-prove.c
RUN_MAIN    := cli/osh-run.c
DOCTOR_MAIN := cli/osh-doctor.c
CLI_SRCS    := $(filter-out $(PROVE_MAIN) $(RUN_MAIN) $(DOCTOR_MAIN),$(wildcard cli/*.c))
LIB_SRCS    := $(POLICY_SRCS) $(PROVER_SRCS) $(ENGINE_SRCS) $(DAEMON_SRCS)
BPF_SRCS    := $(wildcard bpf/*.bpf.c)
TBPF_SRCS   := $(wildcard tests/bpf/*.bpf.c)
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_SUPPORT:= $(filter-out tests/unit/test_%.c,$(wildcard tests/unit/*.c))
HELPER_SRCS := $(wildcard tests/helpers/*.c)
FUZZ_SRCS   := $(wildcard */fuzz-*.c)

SKELS  := $(patsubst bpf/%.bpf.c,$(O)/bpf/%.skel.h,$(BPF_SRCS)) \
          $(patsubst tests/bpf/%.bpf.c,$(O)/tests/bpf/%.skel.h,$(TBPF_SRCS))
BPF_OBJS := $(SKELS:.skel.h=.bpf.o)

# Libraries in link order: the CLI and daemon use the engine, which uses the compiler.
LIB_NAMES := daemon prover engine policy
libs_of = $(foreach l,$(LIB_NAMES),$(1)/libosh-$(l).a)
objs_of = $(patsubst %.c,$(1)/%.o,$(2))

REL := $(O)/obj
SAN := $(O)/san
FZ  := $(O)/fuzz

$(REL)/libosh-policy.a $(SAN)/libosh-policy.a $(FZ)/libosh-policy.a: LIBSRCS = $(POLICY_SRCS)
$(REL)/libosh-prover.a $(SAN)/libosh-prover.a $(FZ)/libosh-prover.a: LIBSRCS = $(PROVER_SRCS)
$(REL)/libosh-engine.a $(SAN)/libosh-engine.a $(FZ)/libosh-engine.a: LIBSRCS = $(ENGINE_SRCS)
$(REL)/libosh-daemon.a $(SAN)/libosh-daemon.a $(FZ)/libosh-daemon.a: LIBSRCS = $(DAEMON_SRCS)
$(REL)/libosh-policy.a: $(call objs_of,$(REL),$(POLICY_SRCS))
$(REL)/libosh-prover.a: $(call objs_of,$(REL),$(PROVER_SRCS))
$(REL)/libosh-engine.a: $(call objs_of,$(REL),$(ENGINE_SRCS))
$(REL)/libosh-daemon.a: $(call objs_of,$(REL),$(DAEMON_SRCS))
$(SAN)/libosh-policy.a: $(call objs_of,$(SAN),$(POLICY_SRCS))
$(SAN)/libosh-prover.a: $(call objs_of,$(SAN),$(PROVER_SRCS))
$(SAN)/libosh-engine.a: $(call objs_of,$(SAN),$(ENGINE_SRCS))
$(SAN)/libosh-daemon.a: $(call objs_of,$(SAN),$(DAEMON_SRCS))
$(FZ)/libosh-policy.a:  $(call objs_of,$(FZ),$(POLICY_SRCS))
$(FZ)/libosh-prover.a:  $(call objs_of,$(FZ),$(PROVER_SRCS))
$(FZ)/libosh-engine.a:  $(call objs_of,$(FZ),$(ENGINE_SRCS))
$(FZ)/libosh-daemon.a:  $(call objs_of,$(FZ),$(DAEMON_SRCS))

BINS        := $(O)/bin/oshctl $(O)/libexec/osh/osh-prove $(O)/libexec/osh/osh-run \
               $(O)/libexec/osh/osh-doctor $(if $(wildcard $(DAEMON_MAIN)),$(O)/bin/oshd)
UNIT_BINS   := $(patsubst tests/unit/%.c,$(O)/tests/unit/%,$(UNIT_SRCS))
HELPER_BINS := $(patsubst tests/helpers/%.c,$(O)/tests/helpers/%,$(HELPER_SRCS))
FUZZ_BINS   := $(foreach f,$(FUZZ_SRCS),$(O)/fuzz/bin/$(basename $(notdir $(f))))

# --- top-level targets -----------------------------------------------------------------------------
.PHONY: all deps test unit e2e vmtest demo bench fuzz lint format install clean help check-tests

all: $(BINS) $(HELPER_BINS)

help:
	@echo 'targets: all test unit e2e vmtest demo bench fuzz lint format install clean deps'
	@echo 'vars:    O=$(O) V=1 PREFIX=$(PREFIX) DESTDIR= FUZZ_SECONDS=60 VM_KERNEL=...'

# Test binaries are built before any suite runs so that a build break is a build error,
# not a string of failed tests.
check-tests: all $(UNIT_BINS)

test: check-tests
	$(Q)O=$(O) tests/run.sh all

unit: $(UNIT_BINS)
	$(Q)O=$(O) tests/run.sh unit

e2e: all
	$(Q)O=$(O) tests/run.sh e2e

vmtest: all
	$(Q)O=$(O) tests/run.sh vm

demo: all
	$(Q)O=$(O) scripts/demo.sh

bench: all
	$(Q)O=$(O) scripts/bench.sh $(BENCH)

FUZZ_SECONDS ?= 60
fuzz: $(FUZZ_BINS)
	$(Q)O=$(O) FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(FUZZ_BINS)

lint: $(SKELS)
	$(Q)O=$(O) scripts/lint.sh

format:
	$(Q)clang-format -i $$(git ls-files '*.c' '*.h')

install: all
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(O)/bin/oshctl $(DESTDIR)$(BINDIR)/oshctl
	install -d $(DESTDIR)$(LIBEXECDIR)/osh
	install -m 0755 $(O)/libexec/osh/osh-prove $(DESTDIR)$(LIBEXECDIR)/osh/osh-prove
	install -m 0755 $(O)/libexec/osh/osh-run $(DESTDIR)$(LIBEXECDIR)/osh/osh-run
	install -m 0755 $(O)/libexec/osh/osh-doctor $(DESTDIR)$(LIBEXECDIR)/osh/osh-doctor
	install -d $(DESTDIR)$(SBINDIR)
	install -m 0755 $(O)/bin/oshd $(DESTDIR)$(SBINDIR)/oshd
	install -d $(DESTDIR)$(PREFIX)/share/osh
	cp -R prover/registry $(DESTDIR)$(PREFIX)/share/osh/prover-registry
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|/usr/local/sbin/oshd|$(SBINDIR)/oshd|' systemd/oshd.service \
	    > $(DESTDIR)$(PREFIX)/lib/systemd/system/oshd.service
	install -d -m 0755 $(DESTDIR)/etc/osh
	test -e $(DESTDIR)/etc/osh/oshd.conf || \
	    install -m 0644 examples/oshd.conf $(DESTDIR)/etc/osh/oshd.conf
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0644 completion/oshctl.bash \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/oshctl

clean:
	rm -rf $(O)

# --- rules -----------------------------------------------------------------------------------------
%/:
	$(Q)mkdir -p $@

$(O)/vmlinux.h: | $(DEPS_STAMP) $(O)/
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

$(O)/bpf/%.bpf.o: bpf/%.bpf.c $(O)/vmlinux.h | $(O)/bpf/
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -I$(O) -c $< -o $@

$(O)/tests/bpf/%.bpf.o: tests/bpf/%.bpf.c $(O)/vmlinux.h | $(O)/tests/bpf/
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -I$(O) -c $< -o $@

%.skel.h: %.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$(notdir $*)) > $@.tmp && mv $@.tmp $@

# Every host object may include a skeleton; skeletons are generated first (order-only), and
# -MMD records which one each object really uses.
$(REL)/%.o: %.c | $(DEPS_STAMP) $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(SAN)/%.o: %.c | $(DEPS_STAMP) $(SKELS)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SAN_CFLAGS) -c $< -o $@

$(FZ)/%.o: %.c | $(DEPS_STAMP) $(SKELS)
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

%.a:
	$(call msg,AR,$@)
	$(Q)mkdir -p $(@D)
	$(Q)rm -f $@ && $(AR) rcs $@ $^ 2>/dev/null || $(AR) rcs $@

# The embedded default policy: examples/default.yaml as a C array, so `oshctl run` without
# --policy needs no file next to the binary.
$(O)/gen/default-policy.c: examples/default.yaml | $(O)/gen/
	$(call msg,GEN,$@)
	$(Q){ echo '/* generated from examples/default.yaml by the Makefile; do not edit */'; \
	  echo '#include "cli/default-policy.h"'; \
	  echo 'const char osh_default_policy_yaml[] = {'; \
	  od -An -v -tx1 $< | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0x00 };'; \
	  echo 'const unsigned osh_default_policy_yaml_len = sizeof(osh_default_policy_yaml) - 1;'; \
	} > $@.tmp && mv $@.tmp $@

CLI_OBJS = $(call objs_of,$(REL),$(CLI_SRCS)) $(REL)/$(O)/gen/default-policy.o

$(O)/bin/oshctl: $(CLI_OBJS) $(call libs_of,$(REL)) | $(O)/bin/
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(call libs_of,$(REL)) $(PKG_LIBS)

# `oshctl policy prove` execs this; the prover's Z3 and C++ runtime stay out of oshctl.
$(O)/libexec/osh/osh-prove: $(call objs_of,$(REL),$(PROVE_MAIN) cli/client.c) \
                            $(REL)/libosh-prover.a $(REL)/libosh-policy.a | $(O)/libexec/osh/
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(PKG_LIBS)

# The embedded `oshctl run`: the engine's DNS responder (ldns, libcrypto) stays out of oshctl.
$(O)/libexec/osh/osh-run: $(call objs_of,$(REL),$(RUN_MAIN) cli/client.c) \
                          $(REL)/$(O)/gen/default-policy.o $(call libs_of,$(REL)) | $(O)/libexec/osh/
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(call libs_of,$(REL)) $(PKG_LIBS)

# `oshctl doctor`: the probes' libbpf, libelf, zlib and libseccomp stay out of oshctl.
$(O)/libexec/osh/osh-doctor: $(call objs_of,$(REL),$(DOCTOR_MAIN) cli/client.c) \
                             $(call libs_of,$(REL)) | $(O)/libexec/osh/
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(call libs_of,$(REL)) $(PKG_LIBS)

$(O)/bin/oshd: $(call objs_of,$(REL),$(DAEMON_MAIN)) $(call libs_of,$(REL)) | $(O)/bin/
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(call libs_of,$(REL)) $(PKG_LIBS)

$(O)/tests/helpers/%: $(REL)/tests/helpers/%.o $(call libs_of,$(REL)) | $(O)/tests/helpers/
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(call libs_of,$(REL)) $(PKG_LIBS)

$(O)/tests/unit/%: $(SAN)/tests/unit/%.o $(call objs_of,$(SAN),$(UNIT_SUPPORT)) \
                   $(call libs_of,$(SAN)) | $(O)/tests/unit/
	$(call msg,LD-SAN,$@)
	$(Q)$(CC) $(SAN_CFLAGS) -o $@ $(filter %.o,$^) $(call libs_of,$(SAN)) $(PKG_LIBS) \
	    $(shell pkg-config --libs cmocka)

# One libFuzzer binary per fuzz-*.c, wherever it lives next to the parser it exercises.
define fuzz_rule
$(O)/fuzz/bin/$(basename $(notdir $(1))): $(FZ)/$(1:.c=.o) $(call libs_of,$(FZ)) | $(O)/fuzz/bin/
	$$(call msg,LD-FUZZ,$$@)
	$(Q)$(CLANG) $$(FUZZ_CFLAGS) -fsanitize=fuzzer -o $$@ $$< $(call libs_of,$(FZ)) $$(PKG_LIBS)
endef
$(foreach f,$(FUZZ_SRCS),$(eval $(call fuzz_rule,$(f))))

-include $(shell find $(O) -name '*.d' 2>/dev/null)
