# The two commands of the README, and a few helpers.
.PHONY: run test setup lint format screenshots

run: setup ## Fresh machine to a running portal with demo data at http://127.0.0.1:5000
	scripts/run.sh

test: ## Install what the suite needs and run all of it, on SQLite and PostgreSQL
	scripts/test.sh

setup:
	scripts/setup.sh

lint:
	scripts/setup.sh --dev
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

screenshots: ## Regenerate the README's screenshots from a browser run of the journeys
	scripts/setup.sh --dev
	SCREENSHOTS_DIR=docs/screenshots .venv/bin/python -m pytest -q tests/browser
