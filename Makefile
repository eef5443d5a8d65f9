# The project's commands. Each one sets up what it needs (virtualenvs under .venvs/).
.PHONY: demo test e2e lint bench docs emulator clean

demo:       ## run every example DAG end to end against the bundled emulator
	bash scripts/demo.sh

test:       ## ruff + mypy + pytest on Airflow 3.3 and 2.10
	bash scripts/test.sh

e2e:        ## example DAGs on a real Celery deployment (PostgreSQL, Redis) + the connection form in Chromium
	bash scripts/e2e.sh

lint:       ## ruff + mypy only
	bash scripts/test.sh --lint-only

bench:      ## throughput, memory and import-cost benchmarks (prints tables)
	bash scripts/bench.sh

docs:       ## build the documentation site in strict mode (output: site/)
	bash scripts/docs.sh

emulator:   ## run the local ECDP emulator on port 8080 (API key: emulator-key)
	bash scripts/emulator.sh

clean:
	rm -rf .venvs .demo .e2e site build dist *.egg-info
