# guestwork — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint format bench compose-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)  ## Create the virtual environment and install guestwork with its tools

run: install  ## Migrate the embedded SQLite database under var/, seed the demo once, start the web app, the worker and beat
	mkdir -p var
	$(BIN)/guestwork keys init
	$(BIN)/guestwork db upgrade
	$(BIN)/guestwork demo --if-empty
	$(BIN)/guestwork status
	$(BIN)/guestwork audit verify
	@echo
	@echo "Open http://127.0.0.1:8000  (API docs: http://127.0.0.1:8000/docs)"
	@echo "Demo logins, password demo-camtan: social_policy, enterprise, bank, office, police, ... (one officer per department),"
	@echo "  supervisor (the commune), province_supervisor, auditor, admin.  Ctrl-C stops everything."
	@trap 'kill 0' INT TERM EXIT; \
	$(BIN)/celery -A workers.app worker --beat --schedule var/celerybeat-schedule --concurrency 2 --loglevel WARNING & \
	$(BIN)/uvicorn services.api.app:create_app --factory --host 127.0.0.1 --port 8000

test: install  ## Run the whole test suite (PostgreSQL tests skip unless TEST_DATABASE_URL is set)
	$(BIN)/pytest

lint: install  ## ruff, mypy and the import-layer contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

compose-check: install  ## Validate docker-compose.yml with Compose v2 (no Docker engine needed)
	GUESTWORK_ENV_FILE=.env.example $$($(BIN)/python -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))') --env-file .env.example config --quiet

bench: install  ## Benchmarks on PostgreSQL (TEST_DATABASE_URL); they print figures
	$(BIN)/python bench/transitions.py
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/sweep.py
	$(BIN)/python bench/reminders.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
