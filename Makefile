# Kafka Delivery Lab — `make run` (the course, end to end) and `make test` (everything) are the
# two commands a new user needs; both install what they need first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
LAB    := $(VENV)/bin/deliverylab
SIZE   ?= workshop
OUT    ?= out/course
STAMP  := $(VENV)/.installed
# e.g. make lab LAB_ARGS="--port 8890 --no-browser"
LAB_ARGS ?=

.PHONY: setup run test lab browser network validate bench clean cluster-up cluster-down

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10+ is needed (found " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $@

setup: $(STAMP) network  ## .venv, Python packages, Apache Kafka jars, nftables as root (idempotent)
	$(PY) -c 'from deliverylab.java import find_java; j = find_java(); print("Java:", j.version_text)'
	$(PY) -c 'from deliverylab.kafka_dist import ensure_kafka; print("Kafka jars:", ensure_kafka(progress=True))'

run: setup  ## the whole course, headless, on the embedded cluster -> out/course
	$(LAB) cluster up --brokers 3
	$(PY) -m deliverylab.tools.course_runner --size $(SIZE) --out $(OUT); rc=$$?; $(LAB) cluster down; exit $$rc

# Three pytest-xdist workers, each with its own session cluster: most of a Kafka test is waiting
# (timeouts, restarts, heals), and a broker fault in one worker's test never reaches another's.
# Two workers used 114 % of the 200 % two cores give and took 13 min; three take ~10 min at ~145 %.
# worksteal: a worker that runs out takes half of another's queue. The default (load) hands
# each worker its share up front and never takes it back: with two, one worker got every long
# test and ran 840 s while the other stopped at 527 s.
test: setup browser  ## unit + integration tests on real brokers, notebooks at CI size, browser tests
	$(VENV)/bin/pytest -q -ra -n 3 --dist worksteal --durations=20

# The browser tests drive Debian's Chromium (Playwright never downloads a browser here).
browser:  ## Debian's chromium for tests/test_browser.py (apt-get, as root)
	@if [ -x /usr/bin/chromium ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "The browser tests need Debian's chromium (/usr/bin/chromium). Install it with:"; \
		echo "  sudo apt-get update && sudo apt-get install -y chromium"; \
		exit 1; \
	fi; \
	test -x /usr/bin/chromium

# Network faults (partition-leader, …) cut brokers apart with nftables rules; optional: without
# them every other fault still runs, and a network fault says what it needs.
network:  ## Debian's nftables for the network faults (apt-get, as root)
	@if command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's nftables for the network faults"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null; \
	else \
		echo "Network faults (partition-leader, ...) need nftables and root. Install it with:"; \
		echo "  sudo apt-get update && sudo apt-get install -y nftables"; \
	fi

lab: setup  ## JupyterLab on notebooks/ with the cluster up (or reused); Ctrl-C stops what it started
	$(LAB) lab $(LAB_ARGS)

validate: setup  ## repeat every scenario R times and check the invariants
	$(LAB) validate --repeat $${R:-3}

bench: setup  ## benchmarks (numbers, not pass/fail)
	$(PY) bench/run_all.py

cluster-up: setup
	$(LAB) cluster up --brokers 3

cluster-down:
	$(LAB) cluster down

clean:
	-$(LAB) cluster down
	rm -rf out .pytest_cache
