# Ferry: `make demo` runs real copies on the shipped fixtures; `make test` runs the test suite;
# `make bench` measures copies against skopeo and cp. Each installs what it needs first.
SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := libarchive-dev zlib1g-dev skopeo umoci oci-image-tool python3 python3-venv curl time bc openssl file
BUILD_DEBUG := .build/debug/ferry
BUILD_RELEASE := .build/release/ferry

.PHONY: all deps build release demo test bench clean

all: build

# Installs the system packages the build and the interop tests need (Debian, as root).
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	$(SWIFT) build --product ferry

release: deps
	$(SWIFT) build -c release --product ferry

demo: build
	@bash scripts/demo.sh $(BUILD_DEBUG)

# The S3 tests talk to a real SeaweedFS server on 127.0.0.1, started here and stopped by PID.
test: deps
	$(SWIFT) build --build-tests
	@state=$$(mktemp -d); \
	bash scripts/seaweedfs.sh start "$$state" || { rm -rf "$$state"; exit 1; }; \
	set -a; . "$$state/env"; set +a; \
	$(SWIFT) test --skip-build --disable-xctest; status=$$?; \
	bash scripts/seaweedfs.sh stop "$$state"; rm -rf "$$state"; exit $$status

bench: release
	@bash scripts/bench.sh $(BUILD_RELEASE)

clean:
	rm -rf .build bench-work
