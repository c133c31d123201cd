# The two commands of the README. Each does its own setup (infra/setup.sh) first.
.PHONY: setup demo test

setup:
	@bash infra/setup.sh

# Bring the whole system up on its embedded defaults and play election day 2007 through it:
# live summary, then the auditor's verify and the path of the HTML report.
demo: setup
	.venv/bin/signalpost demo

# Lint, types (the checked set is `files` under [tool.mypy] in pyproject.toml), import
# contracts ([tool.importlinter]: who may import what, see ARCHITECTURE.md), contract
# files, and every test tier against the real Kafka and PostgreSQL.
# pytest exits 5 when no test ran: make treats that, like any failure, as a failure.
# The 25 slowest tests are listed at the end, so the suite's time can be kept in check.
test: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports
	.venv/bin/signalpost schemas check
	.venv/bin/pytest --durations=25
