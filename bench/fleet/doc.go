// Package fleet measures a fleet of camnode processes on one Mosquitto (BenchmarkFleet; run
// it with bench/fleet/run.sh): command-to-live latency over the fleet, total RSS, and the
// recovery after the broker is killed and restarted.
package fleet
