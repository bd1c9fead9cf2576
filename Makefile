.PHONY: install test lint fmt db-check check-config lock
install:
	python3 -m venv .venv && .venv/bin/pip install -q -c requirements/ci.txt -e '.[test]'
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
# Remake the locked versions after a dependency changed in pyproject.toml (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml --python-version 3.11 -q -o requirements/prod.txt --custom-compile-command "make lock"
	uv pip compile pyproject.toml --extra test --python-version 3.11 -q -o requirements/ci.txt --custom-compile-command "make lock"
