# The only commands a newcomer types: `make run` and `make test`. Each creates or updates .venv as needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint format bench bench-mqtt bench-billing bench-portal fuzz soak clean

$(INSTALLED): pyproject.toml setup.py receiver/_fastpath.c
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/alarmhub run

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks write their tables into bench/RESULTS.md. They use ALARMHUB_BENCH_DATABASE_URL (or
# ALARMHUB_TEST_DATABASE_URL) when set, otherwise an embedded PostgreSQL.
bench: $(INSTALLED)
	$(BIN)/python -m bench.ingest --write --repeat 3

# Needs a broker with shared subscriptions, e.g. Mosquitto on 127.0.0.1:1883 (--broker URL to change it).
bench-mqtt: $(INSTALLED)
	$(BIN)/python -m bench.ingest_mqtt --write

# 100,000 customers: the monthly billing cycle and the autopay drafts (target < 60 s each).
bench-billing: $(INSTALLED)
	$(BIN)/python -m bench.billing --write

# 10 million signals: the Signal history page against a bare asyncpg + jinja2 page (target ≥ 80 %), the CSV export.
bench-portal: $(INSTALLED)
	$(BIN)/python -m bench.portal --write

# Dispatchers' console: a panel's send to 10 consoles' websockets at 1,000 signals/s (target p99 <= 100 ms).
.PHONY: bench-console
bench-console: $(INSTALLED)
	$(BIN)/python -m bench.console --write

# A million mutated and random DC-09 frames (TCP, UDP) and MQTT payloads through a running receiver: every answer as
# the reference codec says, memory flat, rejections recorded, known-good frames stored (a Mosquitto of its own).
fuzz: $(INSTALLED)
	$(BIN)/python -m bench.fuzz --write

# Faults, scripted: kill -9 of the receiver under TCP, UDP and MQTT load (ten times), the MQTT broker restarted
# mid-load, the worker killed mid-job, PostgreSQL stopped for 30 s — nothing acknowledged lost, nothing done twice or
# skipped (about 5 minutes; Mosquitto brokers of its own).
soak: $(INSTALLED)
	$(BIN)/python -m bench.soak --write

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
