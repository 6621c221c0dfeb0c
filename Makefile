# armnv: make demo | make test | make bench | make linux | make images | make lint | make docs | make clean
#
# Everything runs from a virtual environment in .venv, created on first use
# with python3.11 (or python3 when there is no python3.11). Targets that
# assemble guest code install Debian's AArch64 cross toolchain (and gdb-multiarch
# and dtc, which tests use) with apt-get when it is missing (as root, or through sudo).

VENV      := .venv
BIN       := $(VENV)/bin
VPYTHON   := $(BIN)/python
ifndef PYTHON
PYTHON    := $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
endif
CROSS     ?= $(or $(ARMNV_CROSS),aarch64-linux-gnu-)
PIP       := $(VPYTHON) -m pip --disable-pip-version-check --no-input -q
PYTEST_N  ?= 2
BENCH_ARGS ?=
DEMO_ARGS ?=
LINUX_ARGS ?=

# an install is redone when pyproject.toml changes (for the test install: either pyproject.toml,
# or this file's install steps)
RUNTIME_STAMP := $(VENV)/.armnv-runtime
TEST_STAMP    := $(VENV)/.armnv-test
EXAMPLE       := examples/plugin-example
TEST_PATHS    := tests plugins $(EXAMPLE)/tests

.PHONY: all demo test lint docs bench linux images toolchain venv clean distclean help
.DEFAULT_GOAL := help

help:
	@echo "make demo    nested virtualization under NV and NV2, counted (armnv demo; DEMO_ARGS='--plot flow.svg ...')"
	@echo "make test    lint and run the whole test suite (installs what it needs)"
	@echo "make bench   guest MIPS on fixed workloads, next to unicorn (BENCH_ARGS='--insns N ...')"
	@echo "make linux   boot Debian's arm64 kernel to a busybox shell (KERNEL_DEB=... BUSYBOX_DEB=... or apt-get)"
	@echo "make images  rebuild examples/images/ from source"
	@echo "make lint    ruff check and ruff format --check"
	@echo "make docs    build the documentation site into build/site (mkdocs --strict)"
	@echo "make clean   remove caches and build output (make distclean also removes .venv)"

all: test

# ---- environment -------------------------------------------------------------------------
$(VPYTHON):
	@test -n "$(PYTHON)" || { echo "make: python3.11 (or python3) not found" >&2; exit 1; }
	@echo "creating $(VENV) with $(PYTHON)"
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "make: cannot create $(VENV) (on Debian/Ubuntu: apt-get install python3-venv)" >&2; exit 1; }

venv: $(RUNTIME_STAMP)

$(RUNTIME_STAMP): pyproject.toml | $(VPYTHON)
	@echo "installing armnv (editable) into $(VENV)"
	@$(PIP) install -e .
	@touch $@

$(TEST_STAMP): pyproject.toml $(EXAMPLE)/pyproject.toml Makefile | $(VPYTHON)
	@echo "installing armnv (editable) with the test extra into $(VENV)"
	@$(PIP) install -e '.[test]'
	@echo "installing the example plugin $(EXAMPLE) (editable) into $(VENV)"
	@$(PIP) install -e $(EXAMPLE)
	@touch $@ $(RUNTIME_STAMP)

toolchain:
	@set -e; \
	if command -v $(CROSS)as >/dev/null 2>&1 && command -v $(CROSS)gcc >/dev/null 2>&1 \
		&& command -v gdb-multiarch >/dev/null 2>&1 && command -v dtc >/dev/null 2>&1; then exit 0; fi; \
	echo "installing the AArch64 cross toolchain, debugger and dtc (binutils-aarch64-linux-gnu, gcc-aarch64-linux-gnu, gdb-multiarch, device-tree-compiler)"; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; \
	elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	else echo "make: $(CROSS)as/$(CROSS)gcc are missing and installing them needs root or sudo" >&2; exit 1; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "make: no apt-get; install an AArch64 cross toolchain ($(CROSS)as, $(CROSS)gcc), gdb-multiarch and dtc yourself" >&2; exit 1; fi; \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binutils-aarch64-linux-gnu gcc-aarch64-linux-gnu gdb-multiarch device-tree-compiler >/dev/null; \
	if ! command -v $(CROSS)as >/dev/null 2>&1 || ! command -v $(CROSS)gcc >/dev/null 2>&1 \
		|| ! command -v gdb-multiarch >/dev/null 2>&1 || ! command -v dtc >/dev/null 2>&1; then \
		echo "make: $(CROSS)as/$(CROSS)gcc/gdb-multiarch/dtc still missing after installing the Debian packages" >&2; exit 1; fi; \
	$(CROSS)gcc --version | head -n 1

# ---- targets -----------------------------------------------------------------------------
demo: $(RUNTIME_STAMP)
	$(BIN)/armnv demo $(DEMO_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

docs: $(TEST_STAMP)
	$(BIN)/mkdocs build --strict

test: $(TEST_STAMP) toolchain lint docs
	$(VPYTHON) -m pytest -q -n $(PYTEST_N) $(TEST_PATHS)
	@echo "the same suite again, one instruction per block (translated and single-step must agree)"
	ARMNV_ENGINE=single $(VPYTHON) -m pytest -q -n $(PYTEST_N) $(TEST_PATHS)

bench: $(TEST_STAMP) toolchain
	$(VPYTHON) bench/run.py $(BENCH_ARGS)

linux: $(RUNTIME_STAMP)
	$(VPYTHON) tools/linux.py $(LINUX_ARGS)

images: toolchain
	$(PYTHON) examples/build.py

clean:
	rm -rf build dist .pytest_cache .ruff_cache .hypothesis tests/.asmcache *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
