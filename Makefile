# The two commands: `make run` (the whole portal, zero setup) and `make test` (every check).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

# Tests and checks run on PostgreSQL and Redis; override either on the command line.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/cloudportal
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
CHECK_ENV := DJANGO_DEBUG=true DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL)

.PHONY: install run test lint typecheck checks pytest bench clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

# A developer's .env makes `.venv/bin/python manage.py …` work directly (development
# defaults); `make run` and `make test` set what they need themselves.
.env:
	cp .env.example .env
	@echo "Created .env from .env.example (development settings; never committed)."

install: $(STAMP) .env

run: install
	$(BIN)/python bin/run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(CHECK_ENV) $(BIN)/mypy .

checks: install
	$(CHECK_ENV) $(BIN)/python bin/ensure-database
	$(CHECK_ENV) $(BIN)/python manage.py check --fail-level WARNING
	$(CHECK_ENV) $(BIN)/python manage.py makemigrations --check --dry-run
	$(CHECK_ENV) $(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

pytest: install
	bin/ensure-chromium
	$(CHECK_ENV) $(BIN)/pytest

test: lint typecheck checks pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache staticfiles
