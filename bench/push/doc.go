// Package push measures the CPU and memory camnode and ffmpeg spend pushing one clip into nginx-rtmp (BenchmarkPush; run it with bench/run.sh).
package push
