# twincap — make help lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
FUZZTIME ?= 10s
CMDS := ./firmware/cmd/twincap-box ./firmware/cmd/twincapctl ./firmware/cmd/twincap-bundle ./server/cmd/twincap-server

.PHONY: help setup build test check unit fuzz bench lint demo e2e clean

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

setup: ## install what building and testing need (apt packages; run as root)
	./scripts/setup

build: ## build the box daemon, its CLI, the bundle tool and the room server into bin/
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ $(CMDS)

lint: ## go vet, gofmt and go mod tidy -diff
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff

unit: ## go test -race over every package (includes the end-to-end room test)
	./scripts/unit

fuzz: ## run every fuzz target briefly (FUZZTIME each)
	./scripts/fuzz $(FUZZTIME)

test: lint fuzz unit vm-test ab-test ## everything CI runs: lint, fuzz, unit and e2e tests, the VM scenarios, then the A/B update scenarios (root)

bench: ## print the benchmark table (encoder vs ffmpeg, ingest vs plain fsync, upload vs plain copy, livestream gap and latency, ...)
	./scripts/bench

demo: build ## run a whole room here: two servers and a box on a test pattern
	./scripts/demo

.PHONY: image vm-test update-bundle ab-image ab-test
image: ## build the appliance disk image (Debian 12 via mmdebstrap) into out/image/ (root)
	./image/build

ab-image: image ## the A/B disk (OVMF, systemd-boot, a UKI per version, two root slots) from make image's root into out/ab/ (root)
	./image/ab/build

ab-test: image ## the A/B update scenarios under OVMF (refused, waits, update, rollback; power cuts during the install); part of make test (root)
	./scripts/ab-test

update-bundle: ## sign an update bundle of out/image/rootfs.img into out/update/source (UPDATE_ROOTFS, UPDATE_BOARD, UPDATE_VERSION, UPDATE_KEY)
	./scripts/update-bundle

vm-test: image ## boot the image under QEMU and run the VM scenarios (root; TCG, ~9 min)
	./scripts/vm-test

clean: ## remove build output
	rm -rf $(BIN) out
