# cookiecutter-hydra-dvc: `make demo` and `make test` work on a machine with only
# python3, git and make. uv is taken from PATH, or installed into .tools/ once.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
DEMO_DIR ?= demo
PYTEST_ARGS ?=
OUT ?= ..
ARGS ?=

UV ?= $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
export UV
# uv uses the Python on this machine; it never downloads an interpreter.
export UV_PYTHON_DOWNLOADS := never
VENV := .venv/.synced

.PHONY: help new demo test test-pytorch test-slurm test-render test-quality test-e2e lint bench locks clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv

$(VENV): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet
	@touch $@

new: $(VENV) ## Start a project: asks the questions, bakes it into OUT (default ..); ARGS="--no-input key=value ..."
	$(UV) run --frozen cookiecutter --output-dir $(OUT) . $(ARGS)

demo: $(VENV) ## Bake the default project into demo/, install it, run its pipeline, print the metrics
	rm -rf $(DEMO_DIR)
	$(UV) run --frozen cookiecutter --no-input --output-dir $(DEMO_DIR) .
	$(MAKE) -C $(DEMO_DIR)/my_project setup repro
	@echo "== $(DEMO_DIR)/my_project/reports/metrics.json =="
	@cat $(DEMO_DIR)/my_project/reports/metrics.json

test: $(VENV) ## Run every tier (render, quality, end to end) on 2 workers; writes docs/reliability.md
	$(UV) run --frozen pytest -m "not pytorch and not slurm" -n 2 --dist loadfile --reliability-report=docs/reliability.md $(PYTEST_ARGS)

test-pytorch: $(VENV) ## The framework=pytorch variant: setup (CUDA torch, ~3 GB), lint, its tests, debug, dvc repro
	$(UV) run --frozen pytest -m pytorch $(PYTEST_ARGS)

test-slurm: $(VENV) ## Sweeps on a one-node Slurm cluster the tests start (as root, with Debian's slurm-wlm and munge)
	$(UV) run --frozen pytest -m slurm $(PYTEST_ARGS)

test-render: $(VENV) ## Only the fast tier: bakes, file sets, hooks
	$(UV) run --frozen pytest -m render -n 2 $(PYTEST_ARGS)

test-quality: $(VENV) ## Only the quality tier: linters, pre-commit, each Python version's lint and tests
	$(UV) run --frozen pytest -m quality -n 2 --dist loadfile $(PYTEST_ARGS)

test-e2e: $(VENV) ## Only the end-to-end tier: install and run baked projects
	$(UV) run --frozen pytest -m e2e -n 2 --dist loadfile $(PYTEST_ARGS)

lint: $(VENV) ## Lint the template's own Python (hooks, scripts, tests, benchmarks)
	$(UV) run --frozen ruff check local_extensions.py hooks scripts tests benchmarks
	$(UV) run --frozen ruff format --check local_extensions.py hooks scripts tests benchmarks

# Every benchmark runs even if one fails, so that the summary shows all that was measured.
bench: $(VENV) ## Measure bake, setup, uv vs pip, start-up, DVC, runs ls, overhead, W&B, table stages vs pandas, test tiers, runtime size, pytorch vs a bare loop, a generated project's own tests and lock (~33 min); writes docs/benchmarks.md
	@failed=""; \
	for name in foundation install pipeline runs overhead tracking tables suite size torch project; do \
		echo "== benchmarks/bench_$$name.py"; \
		$(UV) run --frozen python benchmarks/bench_$$name.py --uv $(UV) || failed="$$failed $$name"; \
	done; \
	$(UV) run --frozen python benchmarks/summary.py; \
	if [ -n "$$failed" ]; then echo "error: benchmarks that failed:$$failed" >&2; exit 1; fi

locks: $(VENV) ## Refresh the lock files generated projects start from
	$(UV) run --frozen python scripts/update_locks.py --uv $(UV)

clean: ## Remove the demo and the local tool environments
	rm -rf $(DEMO_DIR) .venv .tools
