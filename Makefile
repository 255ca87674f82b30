# Crowdnest developer tasks. `make test` is the one test command: the README gives it and
# .ci/run calls it (with DBS="sqlite postgresql" once it has started PostgreSQL).

PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

# Where to test: "auto" is SQLite, then PostgreSQL when CROWDNEST_TEST_DATABASE_URL is set or
# the default local PG_URL answers; or a list, e.g. `make test DBS=sqlite`.
DBS ?= auto
PG_URL ?= $(or $(CROWDNEST_TEST_DATABASE_URL),postgresql+psycopg://crowdnest:crowdnest@localhost/crowdnest_test)
# pytest-xdist workers on SQLite (each worker has its own database file); 0 turns it off.
# PostgreSQL runs in one process: the suite drops and recreates the one database's schema.
XDIST ?= 2
# 1: `make test` also runs the concurrency proof (tests/concurrency) when it tests PostgreSQL.
CONCURRENCY ?= 1
# 1: `make test` also runs the schema-driven fuzzer (tests/fuzz/run.py) when it tests PostgreSQL:
# schemathesis against a live server on SQLite, then on PostgreSQL (PG_URL) with Redis.
FUZZ ?= 1
# Test cases per operation in schemathesis' fuzzing phase (its coverage phase adds ~6,000).
FUZZ_EXAMPLES ?= 5
FUZZ_REDIS_URL ?= $(or $(CROWDNEST_FUZZ_REDIS_URL),redis://localhost:6379/15)
PYTEST_ARGS ?=
# 1: `make test` also runs the browser test (tests/browser) when Chromium and its driver exist.
BROWSER ?= 1
CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver
SCREENSHOTS ?= $(or $(CROWDNEST_SCREENSHOTS),var/screenshots)
PYTEST = $(PYTHON) -m pytest -q -p no:cacheprovider
# The real PYBOSSA command line for tests/clients and the browser test, in a virtualenv of its
# own (its pins clash with ours); made by `make install-test` when missing.
PBS_VENV ?= var/pbs-venv
export CROWDNEST_PBS ?= $(CURDIR)/$(PBS_VENV)/bin/pbs
# Succeeds when PG_URL (an SQLAlchemy URL) accepts a connection within 3 seconds.
PG_REACHABLE = $(PYTHON) -c "import sys, psycopg; from sqlalchemy.engine import make_url; \
	url = make_url(sys.argv[1]).set(drivername='postgresql'); \
	psycopg.connect(url.render_as_string(hide_password=False), connect_timeout=3).close()" \
	'$(PG_URL)' 2>/dev/null

# pytest's exit code 5 means no test was collected: say so; make fails on it like any other.
define pytest_status
status=$$?; if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing"; fi; exit $$status
endef

.PHONY: help install install-test pbs-venv test test-sqlite test-postgresql test-browser concurrency concurrency-run pg-reachable serve bench \
	concurrency fuzz fuzz-run

help:
	@echo "make install      pip install -e . (then: pserve development.ini)"
	@echo "make test         install with test extras, pytest on SQLite, then on PostgreSQL"
	@echo "                  (DBS=auto|'sqlite postgresql', PG_URL=..., XDIST=2, PYTEST_ARGS=...)"
	@echo "make test-browser the browser test alone (headless Chromium; screenshots in SCREENSHOTS)"
	@echo "make serve        pserve development.ini on 127.0.0.1:6543"
	@echo "make concurrency  the concurrency proof: gunicorn -w 4, PostgreSQL (PG_URL's server,"
	@echo "                  database <name>_concurrency) and Redis db 14; about 4 minutes"
	@echo "make fuzz         schemathesis from /api/openapi.json against a live server: SQLite,"
	@echo "                  then PostgreSQL (PG_URL, its schema recreated) and Redis (FUZZ_REDIS_URL,"
	@echo "                  flushed); fails on any 5xx or undocumented answer; about 5 minutes"
	@echo "make bench        benchmarks/api_list.py against a local PostgreSQL and Redis"

install:
	$(PIP) install -e .

install-test: pbs-venv
	$(PIP) install -q -e '.[test]'
	@if [ -d tests/plugins/sample_plugin ]; then \
		echo "$(PIP) install -q -e tests/plugins/sample_plugin"; \
		$(PIP) install -q -e tests/plugins/sample_plugin; \
	fi

# The real pbs in PBS_VENV, when missing. Where it cannot be made (offline), the tests that run it
# skip, or fail where CROWDNEST_REQUIRE_CLIENTS=1 (.ci/run): not a failure of install-test.
pbs-venv:
	@if [ ! -x $(PBS_VENV)/bin/pbs ]; then \
		echo "$(PYTHON) -m venv $(PBS_VENV); pip install -q pybossa-pbs==3.0.0"; \
		$(PYTHON) -m venv $(PBS_VENV) && $(PBS_VENV)/bin/pip install -q pybossa-pbs==3.0.0 \
		|| { rm -rf $(PBS_VENV); echo "no pbs in $(PBS_VENV): the tests that run it skip"; }; \
	fi

test: install-test
	@dbs="$(DBS)"; \
	if [ "$$dbs" = auto ]; then \
		dbs=sqlite; \
		if [ -n "$$CROWDNEST_TEST_DATABASE_URL" ] || $(PG_REACHABLE); \
		then dbs="sqlite postgresql"; \
		else echo "PostgreSQL not reachable at PG_URL: testing on SQLite only"; fi; \
	fi; \
	failed=""; \
	for db in $$dbs; do \
		echo "== tests on $$db"; \
		$(MAKE) --no-print-directory test-$$db || failed="$$failed $$db"; \
	done; \
	if [ "$(BROWSER)" != 0 ] && [ -x "$(CHROMIUM)" ] && [ -x "$(CHROMEDRIVER)" ]; then \
		echo "== browser test: headless Chromium (screenshots in $(SCREENSHOTS))"; \
		$(MAKE) --no-print-directory test-browser || failed="$$failed browser"; \
	else echo "== browser test skipped: BROWSER=0, or no $(CHROMIUM) / $(CHROMEDRIVER)"; fi; \
	case " $$dbs " in *" postgresql "*) if [ "$(CONCURRENCY)" != 0 ]; then \
		echo "== concurrency proof: gunicorn -w 4 over PostgreSQL and Redis"; \
		$(MAKE) --no-print-directory concurrency-run || failed="$$failed concurrency"; \
	fi; \
	if [ "$(FUZZ)" != 0 ]; then \
		echo "== fuzzer: schemathesis against live servers, SQLite then PostgreSQL and Redis"; \
		$(MAKE) --no-print-directory fuzz-run || failed="$$failed fuzz"; \
	fi;; esac; \
	if [ -n "$$failed" ]; then echo "== tests FAILED on:$$failed"; exit 1; fi; \
	echo "== tests passed on: $$dbs"

test-sqlite:
	@env -u CROWDNEST_TEST_DATABASE_URL \
		$(PYTEST) $(if $(filter-out 0,$(XDIST)),-n $(XDIST)) $(PYTEST_ARGS); \
	$(pytest_status)

test-postgresql:
	@CROWDNEST_TEST_DATABASE_URL='$(PG_URL)' $(PYTEST) -m "not concurrency" $(PYTEST_ARGS); \
	$(pytest_status)

# Part of `make test` whenever it tests PostgreSQL (CONCURRENCY=0 leaves it out); the
# suite's own PostgreSQL run deselects it so that it runs once, on its own database.
concurrency: install-test concurrency-run

concurrency-run:
	@CROWDNEST_TEST_DATABASE_URL='$(PG_URL)' $(PYTEST) -s -m concurrency tests/concurrency \
		$(PYTEST_ARGS); \
	$(pytest_status)

# Part of `make test` whenever it tests PostgreSQL (FUZZ=0 leaves it out). The PostgreSQL run
# recreates PG_URL's schema: the suite's own run recreates it again when it starts.
fuzz: install-test fuzz-run

fuzz-run:
	@failed=""; \
	$(PYTHON) tests/fuzz/run.py sqlite --examples $(FUZZ_EXAMPLES) || failed="$$failed sqlite"; \
	$(PYTHON) tests/fuzz/run.py postgresql --examples $(FUZZ_EXAMPLES) \
		--database-url '$(PG_URL)' --redis-url '$(FUZZ_REDIS_URL)' || failed="$$failed postgresql"; \
	if [ -n "$$failed" ]; then echo "fuzz FAILED on:$$failed"; exit 1; fi

# Headless Chromium drives the app (waitress on a free port, SQLite): register, create a
# project, import a CSV, write a presenter, contribute. One screenshot per step in SCREENSHOTS.
test-browser:
	@CROWDNEST_SCREENSHOTS='$(SCREENSHOTS)' CROWDNEST_CHROMIUM='$(CHROMIUM)' \
		CROWDNEST_CHROMEDRIVER='$(CHROMEDRIVER)' $(PYTEST) -m browser -s tests/browser \
		$(PYTEST_ARGS); \
	status=$$?; echo "screenshots:"; ls -1 '$(SCREENSHOTS)'/*.png 2>/dev/null; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing"; fi; exit $$status

pg-reachable:
	@$(PG_REACHABLE) && echo "PostgreSQL answers at PG_URL"

serve:
	pserve development.ini

bench:
	$(PYTHON) benchmarks/api_list.py
