# Warbler's build. `make demo` and `make test` are the two commands a newcomer
# runs; both install what they need (Go modules, the local stack's binaries,
# Debian's prometheus) on first use.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO ?= go
# Keep CGO consistent between build, test and lint: flipping it invalidates
# nearly the whole build cache.
export CGO_ENABLED ?= 0

CONTROLLER_GEN := $(GO) run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK := $(GO) run golang.org/x/vuln/cmd/govulncheck@v1.8.0
VULNDB ?= $(abspath ../shared/vulndb)

BIN := bin
# The stack that `make test` starts once and shares with every test binary.
STACK_DIR ?= /tmp/warbler-test-stack
TEST_PORT_BASE ?= 23500
TEST_TIMEOUT ?= 80m
# a count, not a duration: with -fuzztime <duration> Go sometimes fails a
# run that merely reached its deadline ("context deadline exceeded")
FUZZ_TIME ?= 30000x

.PHONY: build
build: ## build the three binaries into bin/, stamped with hack/version.sh's version
	$(GO) build -trimpath -ldflags "$$(hack/version.sh ldflags)" -o $(BIN)/ ./cmd/...

# Images and charts of a release (internal/images); `make push` needs
# `make images` first. The rootfs of the loadtester comes from Debian through
# mmdebstrap (installed from apt when missing), so `make images` runs as root.
IMAGE_REPOSITORY ?= ghcr.io/warbler-dev
PLATFORMS ?= linux/amd64,linux/arm64

.PHONY: images
images: ## OCI layouts (and docker-archives) of warbler and loadtester for PLATFORMS in dist/images
	$(GO) run ./hack/images build -out dist/images -platforms $(PLATFORMS) -repository $(IMAGE_REPOSITORY)

.PHONY: push
push: ## push dist/images to REGISTRY=host/path with go-containerregistry
	@[ -n "$(REGISTRY)" ] || { echo "usage: make push REGISTRY=host/path (after make images)" >&2; exit 2; }
	$(GO) run ./hack/images push -out dist/images -registry $(REGISTRY)

.PHONY: charts
charts: ## package both charts with version and appVersion set to hack/version.sh's, into dist/charts
	$(GO) run ./hack/images charts -out dist/charts

.PHONY: generate
generate: ## regenerate deepcopy code and the CRDs (charts/warbler/crds)
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(CONTROLLER_GEN) crd:allowDangerousTypes=true paths=./api/... output:crd:artifacts:config=charts/warbler/crds
	$(GO) generate ./canarycli/manifests

.PHONY: verify-generate
verify-generate: generate ## fail when generated files differ from what is checked in
	@stale=$$(git diff --name-only -- api charts/warbler/crds canarycli/manifests/crds; git ls-files --others --exclude-standard -- api/*.go charts/warbler/crds canarycli/manifests/crds); \
	if [ -n "$$stale" ]; then echo "$$stale"; git --no-pager diff --stat -- api charts/warbler/crds canarycli/manifests/crds; \
	  echo "generated files are stale: run 'make generate' and commit the result" >&2; exit 1; fi

.PHONY: lint
lint: ## gofmt, go vet, staticcheck (and govulncheck when ../shared/vulndb exists)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	@if [ -d "$(VULNDB)" ]; then $(GOVULNCHECK) -db file://$(VULNDB) ./...; else echo "no vulnerability database at $(VULNDB): govulncheck skipped"; fi

.PHONY: stack-build
stack-build: ## build the local stack's binaries once (control plane, kwok, podinfo, prometheus)
	hack/stack.sh build

# with-stack runs a command with one local stack up, shared by every test
# binary through WARBLER_KUBECONFIG, and stops the stack whatever happens.
with-stack = set +e; \
	eval "$$(PORT_BASE=$(TEST_PORT_BASE) STACK_OWNER_PID=$$$$ hack/stack.sh up $(STACK_DIR))" || exit 1; \
	export WARBLER_KUBECONFIG=$$KUBECONFIG; \
	$(1); rc=$$?; \
	hack/stack.sh down $(STACK_DIR); \
	exit $$rc

.PHONY: test
test: verify-generate lint stack-build ## everything: unit, integration and end-to-end tests, fuzzing, chart checks
	@$(call with-stack,$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./... && $(MAKE) --no-print-directory fuzz)

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZ_TIME executions each
	@git grep -n '^func Fuzz' -- '*_test.go' | while IFS=: read -r file _ decl; do \
	  f=$$(echo "$$decl" | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); pkg=./$$(dirname "$$file"); \
	  echo "fuzz $$pkg $$f ($(FUZZ_TIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZ_TIME) -timeout 10m $$pkg || exit 1; \
	done

.PHONY: bench
bench: stack-build ## benchmarks on the local stack (500 and 2,000 canaries); they print numbers and never fail on time
	@$(call with-stack,$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 180m ./test/bench/... && $(GO) test -run '^$$' -bench . -benchmem -timeout 30m $$($(GO) list ./... | grep -v /test/bench/))
	$(GO) run ./test/bench/loadtester

.PHONY: chaos
chaos: stack-build ## releases through faults on a private stack; prints a table, fails when a release ends wrongly
	$(GO) run ./test/chaos

.PHONY: demo
demo: stack-build ## run seed 003 (podinfo: promotion, then rollback) on an embedded local stack
	hack/demo.sh

.PHONY: clean
clean:
	rm -rf $(BIN) dist
	-hack/stack.sh down $(STACK_DIR)

.PHONY: help
help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18
