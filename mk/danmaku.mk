# Danmaku (chat in the stream): its benchmarks and fuzz targets.
#
#   make bench-chat    the carriers' cost per frame (go test -bench ./media/danmaku/...) and the
#                      chat-to-stream latency: mosquitto_pub -> SEI at an RTMP ingest, 200
#                      messages at 30 fps, p50/p99 (bench/chatlatency; real Mosquitto, ffmpeg)
#   make fuzz-chat     the chat parser, SEI and CEA-608 fuzz targets, FUZZTIME each

.PHONY: bench-chat fuzz-chat

bench-chat:
	@gobin="$(call GODIR,all)"; export PATH="$$gobin:/usr/sbin:/sbin:$$PATH"; \
	set -e; \
	go test -run '^$$' -bench . -benchmem ./media/danmaku/...; \
	PEERS_REQUIRED=1 go test -run '^$$' -bench ChatLatency -benchtime 1x ./bench/chatlatency

fuzz-chat:
	@gobin="$(call GODIR,go)"; export PATH="$$gobin:$$PATH"; \
	set -e; \
	go test -run '^$$' -fuzz '^FuzzParseChat$$' -fuzztime $(FUZZTIME) ./media/danmaku; \
	go test -run '^$$' -fuzz '^FuzzSEI$$' -fuzztime $(FUZZTIME) ./media/danmaku/sei; \
	go test -run '^$$' -fuzz '^Fuzz608$$' -fuzztime $(FUZZTIME) ./media/danmaku/cea608
