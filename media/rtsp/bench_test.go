//go:build linux

package rtsp_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media/rtsp"
	"github.com/camnode/camnode/media/source/file"
)

// cameraClip is a 1280x720 30 fps 2.5 Mb/s H.264 stream as a camera gives it (the clip of
// bench/player, cached in bench/out).
func cameraClip(b *testing.B) string {
	path := filepath.Join("..", "..", "bench", "out", "player-camera-720p30-2500k.h264")
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path
	}
	peers.Require(b, "ffmpeg")
	os.MkdirAll(filepath.Dir(path), 0o755)
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
		"-vf", "noise=alls=6:allf=t", "-frames:v", "300", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline",
		"-pix_fmt", "yuv420p", "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000k", "-g", "60", "-keyint_min", "60",
		"-sc_threshold", "0", "-f", "h264", path+".tmp").CombinedOutput()
	if err != nil {
		b.Fatalf("make the clip: %v\n%s", err, out)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		b.Fatal(err)
	}
	return path
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startReaders starts n ffmpeg readers (-c copy to null, half over TCP, half over UDP;
// one alone over transport) and returns the function that stops them.
func startReaders(b *testing.B, url string, n int, transport string) func() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		if n > 1 {
			transport = [...]string{"tcp", "udp"}[i%2]
		}
		cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", transport, "-i", url,
			"-map", "0", "-c", "copy", "-f", "null", "-")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); cmd.Wait() }()
	}
	return func() { cancel(); wg.Wait() }
}

// BenchmarkReaderCPU measures the CPU time of this process, which feeds a 1280x720 30 fps
// 2.5 Mb/s H.264 passthrough stream (with AAC silence) into the RTSP output, over 8 s
// windows without a reader and with one ffmpeg reader, over TCP and then over UDP, in the
// order A B B A. It
// measures the output's own cost only: the rest of the node (the RTMP publisher, the
// carriers) is not in this process, so the ratio here is against an output that sends
// nothing; the figure to compare with the node's is the added CPU per frame and per
// second. The reader's own CPU is another process's and is not counted.
//
//	go test -run '^$' -bench ReaderCPU -benchtime 1x ./media/rtsp
func BenchmarkReaderCPU(b *testing.B) {
	peers.Require(b, "ffmpeg")
	clip := cameraClip(b)
	for _, transport := range []string{"tcp", "udp"} {
		b.Run(transport, func(b *testing.B) { readerCPU(b, clip, transport) })
	}
}

func readerCPU(b *testing.B, clip, transport string) {
	for b.Loop() {
		srv := startServer(b, rtsp.Options{})
		src, err := file.Open(clip, file.Options{})
		if err != nil {
			b.Fatal(err)
		}
		f := feed(b, srv, src)
		waitFor(b, "the stream to be described", 60*time.Second, func() bool { return srv.Stats().Live && f.frames.Load() > 90 })
		const window = 8 * time.Second
		measure := func() (time.Duration, int64) {
			cpu, frames := processCPU(), f.frames.Load()
			time.Sleep(window)
			return processCPU() - cpu, f.frames.Load() - frames
		}
		var without, with [2]time.Duration
		var withoutFrames, withFrames int64
		add := func(acc *[2]time.Duration, frames *int64, i int) {
			cpu, n := measure()
			acc[i] += cpu
			*frames += n
		}
		add(&without, &withoutFrames, 0)
		stop := startReaders(b, srv.URL(), 1, transport)
		waitFor(b, "the reader to play", 60*time.Second, func() bool { return srv.Stats().Readers == 1 })
		time.Sleep(2 * time.Second)
		add(&with, &withFrames, 0)
		add(&with, &withFrames, 1)
		stop()
		waitFor(b, "the reader to leave", 60*time.Second, func() bool { return srv.Stats().Readers == 0 })
		add(&without, &withoutFrames, 1)
		a, c := without[0]+without[1], with[0]+with[1]
		perA, perC := a/time.Duration(withoutFrames), c/time.Duration(withFrames)
		b.ReportMetric(float64(perA.Microseconds()), "µs/frame-without")
		b.ReportMetric(float64(perC.Microseconds()), "µs/frame-with")
		b.Logf("without a reader %.3f CPU-s for %d frames (%d µs/frame, %.2f%% of a core); with one ffmpeg reader over %s %.3f CPU-s for %d frames (%d µs/frame, %.2f%% of a core): +%d µs/frame, +%.2f%% of a core; stats %+v",
			a.Seconds(), withoutFrames, perA.Microseconds(), 100*a.Seconds()/(2*window.Seconds()), transport,
			c.Seconds(), withFrames, perC.Microseconds(), 100*c.Seconds()/(2*window.Seconds()),
			(perC - perA).Microseconds(), 100*(c-a).Seconds()/(2*window.Seconds()), srv.Stats())
		f.close()
	}
	b.ReportMetric(0, "ns/op")
}

// vmKB reads a Vm* line (kB) of /proc/self/status.
func vmKB(field string) int {
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range bytes.Split(status, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte(field+":")); ok {
			f := bytes.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.Atoi(string(f[0]))
				return n
			}
		}
	}
	return 0
}

// BenchmarkRSS16Readers measures the memory of this process (the RTSP output fed the
// 720p30 2.5 Mb/s passthrough stream) with no reader and then with 16 ffmpeg readers (8
// over TCP, 8 over UDP) for 10 s: resident set (VmRSS, VmHWM) and the Go heap in use.
//
//	go test -run '^$' -bench RSS16Readers -benchtime 1x ./media/rtsp
func BenchmarkRSS16Readers(b *testing.B) {
	peers.Require(b, "ffmpeg")
	clip := cameraClip(b)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	for b.Loop() {
		srv := startServer(b, rtsp.Options{})
		src, err := file.Open(clip, file.Options{})
		if err != nil {
			b.Fatal(err)
		}
		f := feed(b, srv, src)
		waitFor(b, "the stream to be described", 60*time.Second, func() bool { return srv.Stats().Live && f.frames.Load() > 90 })
		time.Sleep(3 * time.Second)
		rss0, heap0 := vmKB("VmRSS"), heap()
		stop := startReaders(b, srv.URL(), 16, "")
		waitFor(b, "16 readers to play", 60*time.Second, func() bool { return srv.Stats().Readers == 16 })
		time.Sleep(10 * time.Second)
		rss16, hwm, heap16 := vmKB("VmRSS"), vmKB("VmHWM"), heap()
		st := srv.Stats()
		stop()
		b.ReportMetric(float64(rss16)/1024, "MB-RSS-16-readers")
		b.Logf("no reader: RSS %.1f MB, Go heap in use %.1f MB; 16 readers (8 TCP, 8 UDP) for 10 s: RSS %.1f MB (peak %.1f MB), Go heap in use %.1f MB; cut %d, readers %d",
			float64(rss0)/1024, float64(heap0)/(1<<20), float64(rss16)/1024, float64(hwm)/1024, float64(heap16)/(1<<20), st.Cut, st.Readers)
		if st.Cut != 0 {
			b.Errorf("%d readers cut: %s", st.Cut, fmt.Sprint(st))
		}
		f.close()
	}
	b.ReportMetric(0, "ns/op")
}
