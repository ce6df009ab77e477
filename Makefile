# downbeat — developer entry points. Two commands matter: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo test lint typecheck unit bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m local.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy shared functions local tests bench

test: lint typecheck
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .aws-sam .mypy_cache .pytest_cache .ruff_cache .hypothesis

# ==== SAM build targets (owner: template.yaml) ================================================
# `sam build` runs `make build-<LogicalId>` for every resource with `Metadata: BuildMethod:
# makefile`, with ARTIFACTS_DIR set and, via `WorkingDirectory: .` in template.yaml, with the
# repository root as the working directory. Lambda: python3.13 on arm64 (this machine may have
# another Python): dependencies are installed as manylinux aarch64 cp313 wheels, never built here.
# Handlers are `functions.<name>.handler.lambda_handler`: a function artifact holds
# functions/__init__.py + functions/<name>/, the layer holds python/shared + the dependencies.
# See docs/decisions/0001-packaging.md.
SAM_PYTHON      ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))
SAM_COPY_EXCLUDE = --exclude=__pycache__ --exclude='*.pyc'
LAYER_PIP_FLAGS  = --quiet --disable-pip-version-check --no-warn-conflicts --no-compile \
                   --platform manylinux2014_aarch64 --implementation cp --python-version 3.13 \
                   --only-binary=:all:

.PHONY: build-SharedLayer build-InvoiceRouterFunction build-StripeSyncFunction build-ApiFunction

# $(call sam-function-artifact,<package under functions/>): only that function's own code.
define sam-function-artifact
	test -f functions/$(1)/handler.py || { echo "functions/$(1)/handler.py is missing" >&2; exit 1; }
	tar $(SAM_COPY_EXCLUDE) -cf - functions/__init__.py functions/$(1) | tar -xf - -C "$(ARTIFACTS_DIR)"
endef

build-SharedLayer:
	rm -rf "$(ARTIFACTS_DIR)/python" && mkdir -p "$(ARTIFACTS_DIR)/python"
	req="$$(mktemp)" && trap 'rm -f "$$req"' EXIT && \
	$(SAM_PYTHON) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > "$$req" && \
	$(SAM_PYTHON) -m pip install $(LAYER_PIP_FLAGS) --target "$(ARTIFACTS_DIR)/python" -r "$$req"
	rm -rf "$(ARTIFACTS_DIR)/python/bin"
	tar $(SAM_COPY_EXCLUDE) -cf - shared | tar -xf - -C "$(ARTIFACTS_DIR)/python"

build-InvoiceRouterFunction:
	$(call sam-function-artifact,invoice_router)

build-StripeSyncFunction:
	$(call sam-function-artifact,stripe_sync)

build-ApiFunction:
	$(call sam-function-artifact,api)
# ==== end SAM build targets ====================================================================
