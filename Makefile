# shardvault: one plain Makefile.
#   make deps        install every Debian package the build and tests need
#   make             libshardvault.a and the shardvault binary
#   make test        every unit suite, then the integration tests (real S3 servers)
#   make test SAN=1  the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench       every benchmark (figures next to same-run references)
#   make fuzz        every libFuzzer target for FUZZ_SECONDS each (clang)
#
# Sources are found by wildcard: a new engine/, ec/ or providers/ file joins the
# library, a new tools/*.c joins the command, a new tests/*/*_test.c becomes a
# test binary. Nothing here has to be edited to add a module.

CC      ?= cc
PKGS    := libisal libsodium libcurl lmdb inih expat jansson
SAN     ?= 0
O       ?= 2

ifeq ($(SAN),1)
BUILD   := build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
OPT     := -O1 -g
else
BUILD   := build/rel
SANFLAGS :=
OPT     := -O$(O) -g
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wswitch-enum -Wno-missing-field-initializers
CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -pthread -MMD -MP \
           -I. $(PKG_CFLAGS) $(SANFLAGS)
LDFLAGS += -pthread $(SANFLAGS)
LDLIBS  += $(PKG_LIBS) -lm

LIB_SRC  := $(sort $(wildcard engine/*.c ec/*.c providers/*.c))
TOOL_SRC := $(sort $(wildcard tools/*.c))
TLIB_SRC := $(sort $(wildcard tests/lib/*.c))
TEST_SRC := $(sort $(wildcard tests/ec/*_test.c tests/engine/*_test.c \
              tests/providers/*_test.c tests/tools/*_test.c \
              tests/integration/*_test.c tests/crash/*_test.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
TLIB_OBJ := $(TLIB_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:%.c=$(BUILD)/%)
LIB      := $(BUILD)/libshardvault.a
TLIB     := $(BUILD)/libsvtest.a
BIN      := $(BUILD)/shardvault

FUZZ_SECONDS ?= 60
FUZZ_BUILD   := build/fuzz

.PHONY: all deps test _test unit demo bench fuzz fuzz-smoke clean format servers-up servers-down
all: $(LIB) $(BIN) shardvault libshardvault.a

# Convenience links at the top so README commands stay short.
shardvault: $(BIN)
	@ln -sf $(BIN) $@
libshardvault.a: $(LIB)
	@ln -sf $(LIB) $@

deps:
	@scripts/deps.sh

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(TLIB): $(TLIB_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BIN): $(TOOL_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

# provider.c lists the s3 backend only if providers/s3.c exists
# (__has_include, which -MMD cannot record): rebuild it when that appears.
$(BUILD)/providers/provider.o: $(wildcard providers/s3.c)

# A test binary: its own file, the test helpers, the library.
$(BUILD)/tests/%_test: $(BUILD)/tests/%_test.o $(TLIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

# Test binaries run from the repository root; tests/run.sh prints one
# "N passed, N failed" line at the end.
# `make test` first installs what it needs (make deps), then builds and runs
# in a fresh make so pkg-config sees the installed libraries.
test: deps
	@$(MAKE) --no-print-directory _test

_test: all $(TEST_BIN)
	@BUILD=$(BUILD) SAN=$(SAN) tests/run.sh $(TEST_BIN)

# The README's first command: install, build, run the main job on the
# embedded default (local directories as providers).
demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh $(BIN)

unit: all $(TEST_BIN)
	@BUILD=$(BUILD) SAN=$(SAN) SV_NO_SERVERS=1 tests/run.sh $(foreach t,$(TEST_BIN),$(if $(findstring /integration/,$t),,$t))

servers-up:
	@tests/integration/servers.sh start
servers-down:
	@tests/integration/servers.sh stop

bench: all
	$(BIN) bench all

# libFuzzer targets, built with clang against the library sources.
comma := ,
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -I. $(PKG_CFLAGS) -pthread \
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
               -DSV_FUZZING
fuzz: $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
	@for f in $^; do n=$$(basename $$f); mkdir -p build/fuzz-corpus/$$n; \
	  echo "fuzz $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	     build/fuzz-corpus/$$n tests/fuzz/corpus/$$n || exit 1; done

# CI: each target briefly over its checked-in corpus.
fuzz-smoke: FUZZ_SECONDS=10
fuzz-smoke: fuzz

# The library is compiled once for every target (instrumented, without
# libFuzzer's main) and each target links what it needs from the archive.
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_LIB     := $(FUZZ_BUILD)/libshardvault.a
$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	clang $(subst -fsanitize=fuzzer$(comma),-fsanitize=fuzzer-no-link$(comma),$(FUZZ_CFLAGS)) -MMD -MP -c -o $@ $<
$(FUZZ_BUILD)/obj/providers/provider.o: $(wildcard providers/s3.c)
$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/%: tests/fuzz/%.c $(FUZZ_LIB)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_LIB) $(PKG_LIBS) -lm

format:
	clang-format -i $(LIB_SRC) $(TOOL_SRC) $(wildcard engine/*.h ec/*.h providers/*.h tools/*.h)

clean:
	rm -rf build shardvault libshardvault.a

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(TLIB_OBJ:.o=.d) $(TEST_BIN:=.d) \
         $(wildcard $(FUZZ_BUILD)/obj/*/*.d)
