# The full soak (bench/soak/run.sh): hours of stream time pushed as fast as possible with
# the ingest cut again and again; goroutines, open files and memory must stay flat.
# SOAK_STREAM (default 24h) and SOAK_RECONNECTS (default 100) set its size.

.PHONY: soak

## soak: push SOAK_STREAM of stream time through SOAK_RECONNECTS ingest outages, print figures
soak:
	@gobin="$(call GODIR,all)"; export PATH="$$gobin:/usr/sbin:/sbin:$$PATH"; \
	bench/soak/run.sh
