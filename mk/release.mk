# Release builds: camnode for linux/amd64, linux/arm64 and linux/arm/v7 (Raspberry Pi OS
# 32-bit), built with cgo and Debian's cross compilers, stamped with the version that
# `camnode version` prints, each smoke-tested under qemu-user, each also as a Debian package
# camnode_<version>_<amd64|arm64|armhf>.deb (scripts/deb.sh, dpkg-deb), with SHA256SUMS.
#
#   make release                       all three, binaries and packages, into $(RELEASE_DIR)/
#   make release-bin RELEASE_PLATFORM=linux/arm/v7 RELEASE_BIN=out/camnode
#                                      one platform: what deploy/container/Dockerfile runs
#   make release-deb RELEASE_PLATFORM=linux/arm64
#                                      one platform's binary and package into $(RELEASE_DIR)/
#   make release-deps                  the cross compilers and qemu-user-static (apt-get)
#
# No target links a library beyond its C library: libx264 and libturbojpeg are opened at
# run time, so a binary starts on a Pi without them (H.264 cameras need neither).
# RELEASE_DEV_PKGS names further Debian -dev packages to install for every target
# architecture through Debian multiarch (none today).

# The version, taken once: every binary and package of one make release carries the same,
# even when a commit lands while it runs (the Makefile's VERSION is evaluated at each use).
VERSION := $(VERSION)
# The time every file of the packages carries (scripts/deb.sh): the last commit's, also
# taken once and handed to each platform.
RELEASE_EPOCH := $(or $(SOURCE_DATE_EPOCH),$(shell git log -1 --format=%ct 2>/dev/null))
release release-deb: export SOURCE_DATE_EPOCH = $(RELEASE_EPOCH)

RELEASE_DIR       ?= dist
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64 linux/arm/v7
RELEASE_DEV_PKGS  ?=

# Per platform: Go's GOARCH/GOARM, Debian's architecture and its cross gcc.
release_goarch   = $(word 2,$(subst /, ,$(1)))
release_goarm    = $(patsubst v%,%,$(word 3,$(subst /, ,$(1))))
release_debarch  = $(if $(filter linux/amd64,$(1)),amd64,$(if $(filter linux/arm64,$(1)),arm64,$(if $(filter linux/arm/v7,$(1)),armhf,$(error release: unsupported platform $(1) (want one of $(RELEASE_PLATFORMS))))))
release_cc       = $(if $(filter amd64,$(call release_debarch,$(1))),x86_64-linux-gnu-gcc,$(if $(filter arm64,$(call release_debarch,$(1))),aarch64-linux-gnu-gcc,arm-linux-gnueabihf-gcc))
release_name     = camnode-$(VERSION)-linux-$(call release_goarch,$(1))$(if $(call release_goarm,$(1)),v$(call release_goarm,$(1)))
# qemu-user finds the target's dynamic loader and libc in the cross toolchain's sysroot.
release_sysroot  = /usr/$(patsubst %-gcc,%,$(call release_cc,$(1)))
release_qemu     = $(if $(filter amd64,$(call release_debarch,$(1))),qemu-x86_64-static,$(if $(filter arm64,$(call release_debarch,$(1))),qemu-aarch64-static,qemu-arm-static))

RELEASE_PLATFORM ?= linux/amd64
RELEASE_BIN      ?= $(RELEASE_DIR)/$(call release_name,$(RELEASE_PLATFORM))

.PHONY: release release-bin release-deb release-deps

## release: camnode for linux amd64, arm64 and armv7 in dist/, versioned, as binaries and
## Debian packages, with SHA256SUMS
release: release-deps cross-deps
	@set -e; rm -rf '$(RELEASE_DIR)'; mkdir -p '$(RELEASE_DIR)'; \
	for p in $(RELEASE_PLATFORMS); do $(MAKE) --no-print-directory release-deb RELEASE_PLATFORM=$$p VERSION='$(VERSION)'; done; \
	cd '$(RELEASE_DIR)' && sha256sum camnode-* camnode_*.deb > SHA256SUMS && cat SHA256SUMS

# One platform's binary (release-bin) and its package beside it. Reproducible: the same
# binary gives the same package bytes (see scripts/deb.sh).
release-deb: release-bin
	@gobin="$(call GODIR,go)"; export PATH="$$gobin:$$PATH"; set -e; \
	deb=$$(scripts/deb.sh '$(RELEASE_BIN)' $(call release_debarch,$(RELEASE_PLATFORM)) '$(VERSION)' "$$(dirname '$(RELEASE_BIN)')"); \
	echo "  $$deb ($$(du -k "$$deb" | cut -f1) KiB)"

# One platform. The build is checked by running the binary (under qemu-user when foreign):
# `camnode version` must name $(VERSION), so a binary that cannot start on its target, or
# lost its version stamp, never leaves this target.
release-bin:
	@gobin="$(call GODIR,go)"; export PATH="$$gobin:$$PATH"; set -e; \
	mkdir -p "$$(dirname '$(RELEASE_BIN)')"; \
	echo "release: $(RELEASE_PLATFORM) -> $(RELEASE_BIN)"; \
	foreign=; [ "$(call release_debarch,$(RELEASE_PLATFORM))" = "$$(dpkg --print-architecture)" ] || foreign=1; \
	CGO_ENABLED=1 GOOS=linux GOARCH=$(call release_goarch,$(RELEASE_PLATFORM)) GOARM=$(call release_goarm,$(RELEASE_PLATFORM)) \
	  CC=$(call release_cc,$(RELEASE_PLATFORM)) \
	  go build -trimpath -buildvcs=false -ldflags '-s -w $(LDFLAGS)' -o '$(RELEASE_BIN)' ./cmd/camnode; \
	run=""; [ -z "$$foreign" ] || run="$(call release_qemu,$(RELEASE_PLATFORM)) -L $(call release_sysroot,$(RELEASE_PLATFORM))"; \
	got=$$($$run '$(RELEASE_BIN)' version); \
	case "$$got" in "camnode $(VERSION) "*|"camnode $(VERSION)") echo "  $$got";; \
	  *) echo "release: $(RELEASE_BIN) says '$$got', want 'camnode $(VERSION) …'" >&2; exit 1;; esac

# Debian's cross compilers with their C libraries (the host's own gcc serves its own
# architecture), qemu-user-static for the smoke test, and RELEASE_DEV_PKGS for every
# target architecture.
release-deps:
	@set -e; SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; host=$$(dpkg --print-architecture); pkgs=""; \
	for p in $(RELEASE_PLATFORMS); do \
	  case "$$p" in linux/amd64) a=amd64 cc=x86_64-linux-gnu-gcc g=gcc-x86-64-linux-gnu;; \
	    linux/arm64) a=arm64 cc=aarch64-linux-gnu-gcc g=gcc-aarch64-linux-gnu;; \
	    linux/arm/v7) a=armhf cc=arm-linux-gnueabihf-gcc g=gcc-arm-linux-gnueabihf;; \
	    *) echo "release: unsupported platform $$p" >&2; exit 1;; esac; \
	  if [ "$$a" = "$$host" ]; then command -v gcc >/dev/null || pkgs="$$pkgs gcc libc6-dev"; \
	  else command -v $$cc >/dev/null || pkgs="$$pkgs $$g"; \
	    dpkg -s libc6-dev-$$a-cross >/dev/null 2>&1 || pkgs="$$pkgs libc6-dev-$$a-cross"; \
	    command -v qemu-$$(case $$a in amd64) echo x86_64;; arm64) echo aarch64;; armhf) echo arm;; esac)-static >/dev/null || pkgs="$$pkgs qemu-user-static"; fi; \
	  for d in $(RELEASE_DEV_PKGS); do \
	    dpkg -s "$$d:$$a" >/dev/null 2>&1 || { [ "$$a" = "$$host" ] || $$SUDO dpkg --add-architecture $$a; pkgs="$$pkgs $$d:$$a"; }; \
	  done; \
	done; \
	if [ -n "$$pkgs" ]; then echo "release: installing$$pkgs" >&2; $$SUDO apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$pkgs >/dev/null; fi
