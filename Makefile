# Gestalt Live. `make run` and `make test` are the whole setup: each installs what is missing first
# (scripts/setup.sh), then builds. See README.md.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ENV        := scripts/env.sh
LEPTOS     := scripts/cargo-leptos.sh
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
BIN        := $(TARGET_DIR)/release/gestalt-live
# cargo-leptos writes the site (wasm, JS, CSS, public/) next to the binaries (site-root in Cargo.toml).
SITE       := $(TARGET_DIR)/site
LISTEN     ?= $(or $(GESTALT_LISTEN),127.0.0.1:3000)
# The kustomize overlay `make deploy-render` prints (deploy/overlays/<name>).
OVERLAY    ?= dev

.PHONY: help setup setup-test build run test fmt-check clippy unit fuzz-smoke wasm-fallback control-plane end2end deploy-test \
	deploy-render deploy-dev bench clean

help: ## Show the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Install what building needs (idempotent, quiet when all is present)
	@scripts/setup.sh run

setup-test: ## Install what testing needs too (Chromium, playwright-core)
	@scripts/setup.sh test

build: setup ## Release build: target/release/gestalt-live and its site, target/site
	$(LEPTOS) build --release

run: build ## Build and serve the demo at http://127.0.0.1:3000/gestalt/live (LISTEN=addr:port)
	$(ENV) $(BIN) demo --listen $(LISTEN) --site-root $(SITE)

test: setup-test fmt-check clippy control-plane unit fuzz-smoke wasm-fallback end2end deploy-test ## Every check and test
	@echo "make test: all checks passed"

fmt-check:
	$(ENV) cargo fmt --all -- --check

# One feature set at a time, never ssr and hydrate together.
clippy:
	$(ENV) cargo clippy --locked -p topology -p scene -p sim --all-targets -- -D warnings
	$(ENV) cargo clippy --locked -p server --all-targets -- -D warnings
	$(ENV) cargo clippy --locked -p app --features ssr --all-targets -- -D warnings
	scripts/clippy-wasm.sh

# Includes the collector's integration tests against the real control plane (server/tests/collector_real.rs).
unit:
	$(ENV) cargo test --locked --workspace --exclude frontend

fuzz-smoke: setup-test ## cargo-fuzz targets in fuzz/, FUZZ_SECONDS (default 25) each: the socket's client messages, auth parsing
	scripts/fuzz-smoke.sh

control-plane: setup ## Smoke-test the real kube-apiserver/controller-manager/scheduler harness (builds it once)
	scripts/test-control-plane.sh

wasm-fallback: setup-test ## Prove the Debian rustc-web fallback builds a site that works in Chromium
	scripts/test-wasm-fallback.sh

end2end: build ## The playwright-core suite against the release binary, in Chromium
	cd end2end && GESTALT_BIN=$(abspath $(BIN)) GESTALT_SITE_ROOT=$(abspath $(SITE)) npm test

deploy-test: build ## Prove deploy/ on the real control plane: renders, dry runs, RBAC, the collector as its service account
	GESTALT_BIN=$(abspath $(BIN)) GESTALT_SITE_ROOT=$(abspath $(SITE)) scripts/test-deploy.sh

deploy-render: ## Print the manifests of one overlay (OVERLAY=dev|staging|production|namespaced)
	@test -d deploy/overlays/$(OVERLAY) || { echo "no overlay deploy/overlays/$(OVERLAY)" >&2; exit 1; }
	@kubectl kustomize deploy/overlays/$(OVERLAY)

deploy-dev: ## kubectl apply -k deploy/overlays/dev to the current kubectl context, wait for the rollout
	@ctx=$$(kubectl config current-context) && echo "deploy-dev: applying deploy/overlays/dev to context $$ctx"
	kubectl apply -k deploy/overlays/dev
	kubectl -n gestalt-live rollout status deployment/gestalt-live --timeout=180s
	@echo "deploy-dev: kubectl -n gestalt-live port-forward svc/gestalt-live 3000:80, then http://127.0.0.1:3000/gestalt/live"

bench: setup ## Benchmarks: one `name value unit` line per figure
	@scripts/bench.sh

clean: ## Remove build output (not the tools under ~/.cache/gestalt-live)
	cargo clean
