# The project's commands. Each one sets up what it needs (virtualenvs under .venvs/).
# `make` or `make help` lists them: every target with a `## text` on its line is shown.
.PHONY: help demo test e2e lint bench docs emulator clean
.DEFAULT_GOAL := help

help:       ## list the targets with what they do (also: a bare `make`)
	@awk 'BEGIN {FS = ":.*## "} /^[A-Za-z0-9_.-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

demo:       ## run every example DAG against the bundled emulator (first run installs Airflow: a few minutes)
	bash scripts/demo.sh

test:       ## packaging, ruff + mypy, pytest on Airflow 3.3, 3.0, 2.10.5 (image pins) and the lowest versions
	bash scripts/test.sh

e2e:        ## example DAGs on real Celery deployments, Airflow 3.3 and 2.10 (PostgreSQL, Redis) + the connection form in Chromium
	bash scripts/e2e.sh

lint:       ## ruff + mypy only
	bash scripts/test.sh --lint-only

bench:      ## throughput, memory and import-cost benchmarks (prints tables)
	bash scripts/bench.sh

docs:       ## build the documentation site in strict mode (output: site/)
	bash scripts/docs.sh

emulator:   ## run the local ECDP emulator on port 8080 (API key: emulator-key; installs nothing)
	bash scripts/emulator.sh

clean:      ## remove the virtualenvs, the demo's and e2e's files and the built site
	rm -rf .venvs .demo .e2e site build dist *.egg-info
