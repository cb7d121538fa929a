# Dreaming Machine. The two commands for a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
CLIP_WEIGHTS ?=
PYTEST_ARGS ?=

.PHONY: setup build demo test lint bench clean distclean

# Install everything into ./.venv and build the workspace (idempotent, fast the second time).
setup:
	@./scripts/setup.sh

# Rebuild the colcon workspace only (after editing a package.xml, setup.py or an interface).
build:
	@./scripts/build.sh

# The main job: one complete session from the spoken dream shipped in the repository.
demo: setup
	@./dream demo $(if $(CLIP_WEIGHTS),--clip-weights "$(CLIP_WEIGHTS)")

# Every test of every package, plus the style check.
test: setup
	@./scripts/test.sh $(PYTEST_ARGS)

lint: setup
	@source scripts/env.sh && flake8 src scripts tests

bench: setup
	@./dream bench --help

clean:
	rm -rf build install log

distclean: clean
	rm -rf .venv
