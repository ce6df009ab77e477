# downbeat — developer entry points. Two commands matter: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo test lint typecheck unit bench clean browser

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
	$(BIN)/mypy shared functions local tests bench tools

# The SBOM and checkov's virtualenv come first: tests/infrastructure/test_sbom.py and
# test_checkov.py read what they leave.
test: lint typecheck sbom checkov-tool browser
	$(BIN)/pytest

# Headless Chromium for tests/e2e/test_dashboards_browser.py: Debian's own package (Playwright
# drives it by path; `playwright install` would download a browser build, which is never done).
# Installed when missing and apt-get can (root); otherwise those tests skip, saying why.
BROWSER := /usr/bin/chromium

browser:
	@if [ -x $(BROWSER) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get -o DPkg::Lock::Timeout=600 update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium chromium-driver; \
	else echo "make browser: $(BROWSER) is missing and apt-get cannot install it here; the browser tests will skip" >&2; fi

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .aws-sam .mypy_cache .pytest_cache .ruff_cache .hypothesis $(TOOLS) $(RUNTIME_ENV) $(SBOM) $(AUDIT_REPORT)

# ==== supply chain and template security (docs/threat-model.md "Supply chain") =================
# Each tool has its own virtualenv under .tools/, pinned by tools/<name>.txt and never in .venv:
# checkov pins an old boto3, and neither tool should share packages with what it inspects.
# build/runtime-env holds the layer's dependencies installed as build-SharedLayer installs them
# (same pip flags: manylinux aarch64 cp313 wheels); it is read for metadata, never run.
TOOLS         := .tools
RUNTIME_ENV   := build/runtime-env
RUNTIME_STAMP := $(RUNTIME_ENV)/.installed
RUNTIME_SITE   = $$($(RUNTIME_ENV)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
SBOM          := build/sbom.cdx.json
AUDIT_REPORT  := build/pip-audit.json

.PHONY: sbom audit checkov checkov-tool

$(TOOLS)/%/.installed: tools/%.txt
	test -x $(TOOLS)/$*/bin/python || $(PYTHON) -m venv $(TOOLS)/$*
	$(TOOLS)/$*/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/$*/bin/python -m pip install --quiet -r tools/$*.txt
	touch $@

$(RUNTIME_STAMP): pyproject.toml Makefile
	$(if $(strip $(LAYER_PIP_FLAGS)),,$(error LAYER_PIP_FLAGS (the layer's pip flags, SAM build targets) is not defined))
	rm -rf $(RUNTIME_ENV)
	$(PYTHON) -m venv --without-pip $(RUNTIME_ENV)
	req="$$(mktemp)" && trap 'rm -f "$$req"' EXIT && \
	$(PYTHON) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > "$$req" && \
	$(PYTHON) -m pip install $(LAYER_PIP_FLAGS) --root-user-action=ignore --target "$(RUNTIME_SITE)" -r "$$req"
	rm -rf "$(RUNTIME_SITE)/bin"
	touch $@

# CycloneDX JSON of the layer's dependencies, downbeat as the root component.
sbom: $(SBOM)

$(SBOM): $(TOOLS)/sbom/.installed $(RUNTIME_STAMP)
	$(TOOLS)/sbom/bin/cyclonedx-py environment --pyproject pyproject.toml --output-reproducible \
	  --output-format JSON --output-file $@ $(RUNTIME_ENV)

# Not part of `make test`: it needs a vulnerability service, and fails when it cannot reach one.
audit: $(TOOLS)/audit/.installed $(RUNTIME_STAMP)
	$(TOOLS)/audit/bin/python tools/audit.py --pip-audit $(TOOLS)/audit/bin/pip-audit \
	  --path "$(RUNTIME_SITE)" --report $(AUDIT_REPORT)

checkov-tool: $(TOOLS)/checkov/.installed

# checkov on template.yaml; findings are accepted only through tools/checkov-accepted.yaml.
checkov: checkov-tool $(STAMP)
	$(BIN)/pytest -p no:cacheprovider tests/infrastructure/test_checkov.py

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

# Functions need no target of their own: `build-%Function` builds any `<Name>Function` from
# functions/<name>/, <name> being <Name> in snake_case (InvoiceRouterFunction -> invoice_router).
# A pattern rule's targets can't be .PHONY (make skips the rule search for phony targets), so
# the FORCE prerequisite is what keeps a stray file named build-<X> from skipping the build.
.PHONY: build-SharedLayer FORCE
FORCE:

# $(call snake_case,InvoiceRouter) -> invoice_router
snake_case = $(shell printf '%s' '$(1)' | sed -E 's/([a-z0-9])([A-Z])/\1_\2/g' | tr '[:upper:]' '[:lower:]')

# A dependency only one function needs (pyarrow for data_export) is in functions/<name>/requirements.txt
# and goes in that function's artifact, not the layer. manylinux_2_28 wheels (pyarrow has no older
# ones) fit Lambda's python3.13, which runs on Amazon Linux 2023 (glibc 2.34). Their C++ headers,
# Cython and C++ sources and test suites are never loaded at run time: they are left out (pyarrow:
# 8 of its 156 MB), as is pip's bin/.
FUNCTION_PIP_FLAGS = $(LAYER_PIP_FLAGS) --platform manylinux_2_28_aarch64
FUNCTION_DEP_UNUSED = bin */tests */include pyarrow/src

# $(call sam-function-artifact,<package under functions/>): only that function's own code (and
# its own dependencies, when it has a requirements.txt).
define sam-function-artifact
	test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (sam build sets it)" >&2; exit 1; }
	test -f functions/$(1)/handler.py || { echo "functions/$(1)/handler.py is missing" >&2; exit 1; }
	mkdir -p "$(ARTIFACTS_DIR)"
	tar $(SAM_COPY_EXCLUDE) -cf - functions/__init__.py functions/$(1) | tar -xf - -C "$(ARTIFACTS_DIR)"
	if [ -f functions/$(1)/requirements.txt ]; then \
	  $(SAM_PYTHON) -m pip install $(FUNCTION_PIP_FLAGS) --target "$(ARTIFACTS_DIR)" -r functions/$(1)/requirements.txt && \
	  cd "$(ARTIFACTS_DIR)" && rm -rf $(FUNCTION_DEP_UNUSED) && find . -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' | xargs rm -f; \
	fi
endef

build-SharedLayer:
	rm -rf "$(ARTIFACTS_DIR)/python" && mkdir -p "$(ARTIFACTS_DIR)/python"
	req="$$(mktemp)" && trap 'rm -f "$$req"' EXIT && \
	$(SAM_PYTHON) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > "$$req" && \
	$(SAM_PYTHON) -m pip install $(LAYER_PIP_FLAGS) --target "$(ARTIFACTS_DIR)/python" -r "$$req"
	rm -rf "$(ARTIFACTS_DIR)/python/bin"
	tar $(SAM_COPY_EXCLUDE) -cf - shared | tar -xf - -C "$(ARTIFACTS_DIR)/python"

build-%Function: FORCE
	$(call sam-function-artifact,$(call snake_case,$*))
# ==== end SAM build targets ====================================================================
