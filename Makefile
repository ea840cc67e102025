# Two entry points for a fresh machine (README): `make repro` and `make test`.
# Both create .venv from the pinned requirements.lock on first use.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DVC_NO_ANALYTICS := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION := false
export RAY_USAGE_STATS_ENABLED := 0
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: venv repro test rehearse-cluster bench clean-venv

# Byte-code first: where PYTHONDONTWRITEBYTECODE is set, every stage process and Ray worker
# would otherwise compile the project's modules afresh (~0.3 s of CPU each, a few hundred times).
COMPILE = $(BIN)/python -m compileall -q biggan stages pipelines

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip==24.3.1"
	$(BIN)/python -m pip install -q -c requirements.lock -e ".[test]"
	$(BIN)/python -m biggan.report.offline_html .dvc/plots/offline.html
	touch $(STAMP)

venv: $(STAMP)

# The main job: rebuild data, models, evaluations and the results tables, with one Ray
# instance for all training stages (started once, stopped at the end). With nothing to
# rebuild (`dvc status -q` exits 0) no Ray instance starts: 3 s instead of 10.
repro: $(STAMP)
	@$(COMPILE) >/dev/null
	@if $(BIN)/dvc status -q; then echo "Data and pipelines are up to date."; \
	else echo "$(BIN)/python -m biggan.train.ray_cluster -- $(BIN)/dvc repro"; \
	     $(BIN)/python -m biggan.train.ray_cluster -- $(BIN)/dvc repro; fi

# The test suite (CI runs exactly this through .ci/run). Exit 5 (no tests collected) is not a failure.
# Two pytest-xdist workers: the tests mostly wait on servers and subprocesses (tests/conftest.py
# keeps each package's shared fixtures on one worker); TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= 2
test: $(STAMP)
	@$(COMPILE) benchmarks tests >/dev/null
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS); rc=$$?; if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

# The multi-node rehearsal alone (tests/cluster, also part of `make test`): an S3 store, PostgreSQL,
# an MLflow server and a two-node Ray cluster on this machine, all on loopback, stopped afterwards.
rehearse-cluster: $(STAMP)
	@$(COMPILE) tests >/dev/null
	$(BIN)/python -m pytest -q -p no:xdist -m cluster tests/cluster

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean-venv:
	rm -rf $(VENV)
