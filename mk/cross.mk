# Cross builds for the Raspberry Pi: camnode for linux/arm64 (Pi 3/4/5, 64-bit OS) and
# linux/arm GOARM=7 (Raspberry Pi OS 32-bit), with cgo (go4vl's V4L2 layer, and the dlopen
# of libx264 and libturbojpeg) through Debian's cross compilers, plus `go vet` of every
# package for each target.
#
#   make cross         both, into $(CROSS_DIR)/camnode-linux-arm64 and camnode-linux-armv7
#   make cross-deps    the cross compilers and their C libraries (apt-get)
#
# camnode links no foreign library: libx264 and libturbojpeg are opened at run time, so
# a cross build needs only the target's C library and kernel headers. Those come with
# libc6-dev-<arch>-cross, which the cross compilers only recommend: installed by name
# here, since apt-get --no-install-recommends would leave them out.

CROSS_DIR      ?= bin
# goarch:gcc triplet:GOARM:file suffix:Debian architecture
CROSS_TARGETS  ?= arm64:aarch64-linux-gnu:::arm64 arm:arm-linux-gnueabihf:7:v7:armhf

.PHONY: cross cross-deps

## cross: camnode for linux/arm64 and linux/arm/v7 with cgo, and go vet for both
cross: cross-deps
	@gobin="$(call GODIR,go)"; export PATH="$$gobin:$$PATH"; set -e; mkdir -p '$(CROSS_DIR)'; \
	for t in $(CROSS_TARGETS); do \
	  IFS=: read -r goarch triplet goarm suffix debarch <<< "$$t"; \
	  out='$(CROSS_DIR)'/camnode-linux-$$goarch$$suffix; \
	  echo "cross: linux/$$goarch$${goarm:+ GOARM=$$goarm} ($$triplet-gcc) -> $$out"; \
	  export CGO_ENABLED=1 GOOS=linux GOARCH=$$goarch GOARM=$$goarm CC=$$triplet-gcc; \
	  go build -trimpath -ldflags '$(LDFLAGS)' -o "$$out" ./cmd/camnode; \
	  go vet ./...; \
	done

## cross-deps: the cross compilers with their C libraries (gcc-<triplet>, libc6-dev-<arch>-cross)
cross-deps:
	@set -e; SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; need=""; \
	for t in $(CROSS_TARGETS); do \
	  IFS=: read -r goarch triplet goarm suffix debarch <<< "$$t"; \
	  command -v $$triplet-gcc >/dev/null || need="$$need gcc-$$triplet"; \
	  dpkg -s libc6-dev-$$debarch-cross >/dev/null 2>&1 || need="$$need libc6-dev-$$debarch-cross"; \
	done; \
	if [ -n "$$need" ]; then echo "cross: installing$$need" >&2; $$SUDO apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$need >/dev/null; fi
