//go:build linux

// Package rtsp measures what the RTSP server costs the node: the CPU of the camnode
// process streaming 720p30 passthrough to nginx-rtmp with no RTSP reader, one, and 16, and
// its RSS with 16 (BenchmarkNodeRTSPReaders; BENCH_CAMNODE names the binary).
//
// BENCH_PERF=dir also records the node with `perf record -g` over the first window without
// a reader and the first with one, into dir/none.data and dir/one.data, to see where a
// reader's CPU goes (`perf report -i dir/one.data --no-children --sort sym`).
package rtsp

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/bench/internal/figures"
	"github.com/camnode/camnode/internal/peers"
)

// window is one measurement; the order A B B A cancels a drift of the machine's load.
const window = 20 * time.Second

func BenchmarkNodeRTSPReaders(b *testing.B) {
	ctx := figures.Interruptible(b)
	bin := figures.MustEnv(b, "BENCH_CAMNODE")
	peers.Require(b, "ffmpeg")
	clip := makeClip(b)
	ingest := peers.StartNginx(b)
	broker := peers.StartMosquitto(b)
	rtspAddr := "127.0.0.1:" + strconv.Itoa(peers.FreePort(b))
	sub := peers.Subscribe(b, broker, "camnode/rtspbench/#")
	cmd := exec.CommandContext(ctx, bin, "run")
	cmd.Env = append(os.Environ(), "CAMNODE_NODE_ID=rtspbench", "CAMNODE_MQTT_URL="+broker.URL(),
		"CAMNODE_RTMP_URL="+ingest.URL("rtspbench"), "CAMNODE_SOURCE=file://"+clip, "CAMNODE_RTSP="+rtspAddr,
		"CAMNODE_AUTOSTART=true", "CAMNODE_HA_DISCOVERY=false")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	if _, ok := sub.WaitFor(func(m peers.Message) bool {
		return strings.HasSuffix(m.Topic, "/state") && strings.Contains(m.Payload, `"state":"live"`)
	}, 2*time.Minute); !ok {
		b.Fatalf("the node did not go live:\n%s", log.String())
	}
	time.Sleep(3 * time.Second)
	pid := cmd.Process.Pid
	url := "rtsp://" + rtspAddr + "/live"
	readers := func(n int) func() {
		var cmds []*exec.Cmd
		for range n {
			c := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", url, "-c", "copy", "-f", "null", "-")
			if err := c.Start(); err != nil {
				b.Fatal(err)
			}
			cmds = append(cmds, c)
		}
		time.Sleep(3 * time.Second) // past their start
		return func() {
			for _, c := range cmds {
				c.Process.Kill()
				c.Wait()
			}
			time.Sleep(time.Second)
		}
	}
	perfDir := os.Getenv("BENCH_PERF")
	if perfDir != "" {
		peers.Require(b, "perf")
	}
	// measure is the node's CPU over one window; record names the perf recording of it.
	measure := func(record string) time.Duration {
		var perf *exec.Cmd
		if perfDir != "" && record != "" {
			perf = exec.Command("perf", "record", "-q", "-g", "-F", "999", "-p", strconv.Itoa(pid), "-o", filepath.Join(perfDir, record+".data"),
				"--", "sleep", strconv.Itoa(int((window + time.Second).Seconds())))
			perf.Stdout, perf.Stderr = os.Stderr, os.Stderr
			if err := perf.Start(); err != nil {
				b.Fatal(err)
			}
			time.Sleep(time.Second) // perf attaches; it records the window and stops
		}
		start := figures.CPUTime(b, pid)
		select {
		case <-time.After(window):
		case <-ctx.Done():
			b.Fatal("interrupted")
		}
		cpu := figures.CPUTime(b, pid) - start
		if perf != nil {
			if err := perf.Wait(); err != nil {
				b.Fatalf("perf record: %v", err)
			}
		}
		return cpu
	}
	var none, one time.Duration
	none += measure("none")
	stop := readers(1)
	one += measure("one")
	one += measure("")
	stop()
	none += measure("")
	rssBefore := rssOf(b, pid)
	stop = readers(16)
	sixteen := measure("")
	rss16 := rssOf(b, pid)
	stop()
	b.ReportMetric(0, "ns/op")
	figures.Report(b, fmt.Sprintf("The node's process, 720p30 2.5 Mb/s passthrough + silent AAC to nginx-rtmp, %v windows (A B B A), load average %s:\n"+
		"  no RTSP reader:   %.2f CPU-s per %v\n"+
		"  one reader (TCP): %.2f CPU-s per %v: %.2fx (target <= 1.1x), +%.2f CPU-s\n"+
		"  16 readers:       %.2f CPU-s per %v: %.2fx, +%.2f CPU-s; RSS %.1f MB (%.1f MB without readers)\n",
		window, loadAverage(), none.Seconds()/2, window, one.Seconds()/2, window, one.Seconds()/none.Seconds(), (one-none).Seconds()/2,
		sixteen.Seconds(), window, 2*sixteen.Seconds()/none.Seconds(), sixteen.Seconds()-none.Seconds()/2,
		float64(rss16)/1e6, float64(rssBefore)/1e6))
}

// rssOf is the resident set of process pid, in bytes.
func rssOf(b *testing.B, pid int) int64 {
	n, err := peers.RSS(pid)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func loadAverage() string {
	raw, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// makeClip makes (once, in bench/out) 60 s of 720p30 H.264 at 2.5 Mb/s with a 2 s GOP.
func makeClip(b *testing.B) string {
	path, _ := filepath.Abs(filepath.Join("..", "out", "rtsp-720p30.h264"))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	os.MkdirAll(filepath.Dir(path), 0o755)
	out, err := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
		"-t", "60", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k", "-g", "60", "-bf", "0", "-pix_fmt", "yuv420p", path).CombinedOutput()
	if err != nil {
		b.Fatalf("make the clip: %v\n%s", err, out)
	}
	return path
}
