// Package push measures the CPU and memory camnode and ffmpeg spend pushing one clip into nginx-rtmp: as fast as possible, video only (BenchmarkPush), and in real time with a silent AAC track (BenchmarkPushAudio); run them with bench/run.sh.
package push
