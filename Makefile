.PHONY: install test lint fmt db-check check-config
install:
	python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]'
test:
	.venv/bin/pytest -q
lint:
	.venv/bin/ruff check watcher tests benchmarks && .venv/bin/ruff format --check watcher tests benchmarks && .venv/bin/mypy
fmt:
	.venv/bin/ruff format watcher tests benchmarks && .venv/bin/ruff check --fix watcher tests benchmarks
db-check:
	.venv/bin/pytest -q tests/test_migrations.py
check-config:
	.venv/bin/watcher check-config sources.yaml
