// Package soak runs a camnode node in-process for hours of stream time pushed as fast as possible into nginx-rtmp, cutting the ingest again and again, and checks that goroutines, open files and memory stay flat (TestSoak; the full run is bench/soak/run.sh).
package soak
