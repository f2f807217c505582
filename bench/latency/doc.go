// Package latency measures how long camnode takes from a stream/set ON command to the first keyframe arriving at the ingest (BenchmarkStartLatency; run it with bench/run.sh).
package latency
