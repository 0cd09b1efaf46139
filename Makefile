# mlops-dash developer targets. `make help` lists them.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
SPECS ?= specs
OUT ?= generated
EXAMPLE ?= examples/staging-prod
# pytest workers (pytest-xdist): one per CPU; whole files go to one worker (module fixtures)
PYTEST_WORKERS ?= auto

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}'

install: ## Install mlops-dash (editable) with its test dependencies
	$(PIP) install -q -e '.[test]'

tools: ## Install prometheus, promtool, alertmanager, amtool, the Pushgateway, PostgreSQL and kubectl (Debian packages; root or sudo)
	@missing=""; \
	for pair in prometheus:prometheus promtool:prometheus prometheus-alertmanager:prometheus-alertmanager \
	            amtool:prometheus-alertmanager prometheus-pushgateway:prometheus-pushgateway \
	            kubectl:kubernetes-client; do \
	  command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; \
	done; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -z "$$missing" ]; then echo "tools present"; else \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing:$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$(echo $$missing | tr ' ' '\n' | sort -u) >/dev/null; \
	fi

build: ## Render the shipped specs into generated/
	mlops-dash build --specs $(SPECS) --out $(OUT)

schema: ## Regenerate the spec JSON Schema referenced by the specs
	mlops-dash schema --out $(SPECS)/mlops-dash.schema.json

check: ## Fail when generated/ (and the staging/prod example's generated/<env>/) is not what the specs produce
	mlops-dash check --specs $(SPECS) --out $(OUT)
	mlops-dash check --specs $(EXAMPLE)/specs --out $(EXAMPLE)/generated

build-example: ## Render the staging/prod example (examples/staging-prod) into its generated/<env>/
	mlops-dash build --specs $(EXAMPLE)/specs --out $(EXAMPLE)/generated

lint: ## Lint the specs offline (PromQL vs catalogue, dashboards, alerts, promtool, schemas)
	mlops-dash lint --specs $(SPECS)

test: ## Check the staging/prod example is current, then the whole test suite (unit, golden, every alert's promtool cases, amtool, e2e), a worker per CPU
	PYTHONPATH=src $(PYTHON) -m mlops_dash check --specs $(EXAMPLE)/specs --out $(EXAMPLE)/generated
	$(PYTHON) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile

e2e: tools ## Run only the end-to-end tests (real prometheus + alertmanager on loopback)
	@$(PYTHON) -c "import mlops_dash, aiosmtpd, pytest" 2>/dev/null || $(MAKE) install
	$(PYTHON) -m pytest -q -m e2e

simulate: ## Serve the synthetic metrics on 127.0.0.1:9109 (SCENARIO=healthy, an alert or a situation name)
	mlops-dash simulate --specs $(SPECS) --scenario $${SCENARIO:-healthy}

bench: ## Benchmark build/check/--help (whole processes) vs grafanalib; writes benchmarks/RESULTS.md
	$(PYTHON) benchmarks/bench.py $(BENCH_ARGS)

bench-exporter: ## Benchmark the exporter (/metrics, KFP polls of 100,000 replayed runs, idle CPU)
	$(PYTHON) benchmarks/bench.py --exporter

runbook-code: ## Regenerate the runbook template's compiled code (render/runbook_template_code.py) after editing templates/runbook.md.j2
	PYTHONPATH=src $(PYTHON) -c "from mlops_dash import pipeline; from mlops_dash.render import runbook_code, runbooks; print(runbook_code.write_generated(runbooks.environment(), pipeline.runbook_template()))"

update-golden: ## Accept the current output as the new golden files (review the diff!)
	UPDATE_GOLDEN=1 $(PYTHON) -m pytest -q tests/test_golden.py
	git diff --stat -- tests/golden

.PHONY: help install tools build build-example schema check lint test e2e simulate bench bench-exporter runbook-code update-golden
