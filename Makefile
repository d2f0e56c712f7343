# make run: the service on this machine (moto as DynamoDB, chalice local).
# make test: lint, type-check and the whole test suite.
# make package: the prod CloudFormation template and code in $(OUT) (see docs/DEPLOY.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out

.PHONY: run test lint typecheck pytest clean bench soak package chromium

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m devtools.run_local

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) chromium
	$(BIN)/python -m pytest

# The browser tests drive Debian's Chromium through Playwright (whose own browser
# download cannot work here). As root, a missing Chromium is installed; otherwise
# the run stops, saying how to install it.
CHROMIUM := /usr/bin/chromium
chromium:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi
	@test -x $(CHROMIUM) || { \
		echo "Chromium is missing: install it with 'sudo apt-get install -y chromium'" >&2; \
		exit 1; }

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache

# The cold-start rows are measured from the zip make package writes.
bench: $(STAMP)
	AWS_DEFAULT_REGION=eu-north-1 SERVICE_ENV=aws TABLE_PREFIX=users-prod- \
		$(MAKE) --no-print-directory package OUT=$(OUT)
	$(BIN)/python -m bench --package $(OUT)/deployment.zip

soak: $(STAMP)
	SOAK_OPERATIONS=1000 $(BIN)/python -m pytest tests/test_soak.py -q

# chalice package writes the template and deployment.zip; deploy/lambda_zip.py then
# leaves out what the Lambda runtime provides or no request reads, and compiles
# every module to byte code checked against its source's hash, so no cold start
# compiles anything (docs/DEPLOY.md, README "The Lambda package").
package: $(STAMP)
	$(BIN)/chalice package --stage prod --merge-template deploy/merge-template.yaml $(OUT)
	$(BIN)/python -m deploy.lambda_zip $(OUT)/deployment.zip
