package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/config"
	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/node"
)

// Settings of a run, from the environment: SOAK_STREAM is the least stream time to push
// (default 2h, what `make test` runs), SOAK_RECONNECTS how many times the ingest goes away
// on the way (default 20; every fifth time nginx is killed and started again, the other
// times the path to it is cut). The ingest is cut at most once per telemetry interval, so
// a fast machine pushes more than SOAK_STREAM.
const (
	fps = 30
	gop = 30
)

func setting(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// usage is what the process holds at one moment.
type usage struct {
	Goroutines int
	FDs        int
	RSSKB      int64
	HeapKB     uint64 // heap in use after a full GC
}

func (u usage) String() string {
	return fmt.Sprintf("goroutines %d, fds %d, RSS %d kB, heap %d kB", u.Goroutines, u.FDs, u.RSSKB, u.HeapKB)
}

// measure takes three readings a little apart and keeps the smallest of each: a goroutine
// or a file that lives for a moment (a timer, a dial) is not a leak.
func measure(t *testing.T) usage {
	t.Helper()
	var best usage
	for i := 0; i < 3; i++ {
		if i > 0 {
			time.Sleep(150 * time.Millisecond)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fds, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatalf("open files: %v", err)
		}
		u := usage{Goroutines: runtime.NumGoroutine(), FDs: len(fds), RSSKB: vmRSS(t), HeapKB: ms.HeapInuse >> 10}
		if i == 0 {
			best = u
			continue
		}
		best.Goroutines = min(best.Goroutines, u.Goroutines)
		best.FDs = min(best.FDs, u.FDs)
		best.RSSKB = min(best.RSSKB, u.RSSKB)
		best.HeapKB = min(best.HeapKB, u.HeapKB)
	}
	return best
}

func vmRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// tail keeps the last bytes of the node's log, to show when the soak fails.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (w *tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - 32<<10; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(p), nil
}

func (w *tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

type telemetry struct {
	FramesSent    int64 `json:"frames_sent"`
	FramesDropped int64 `json:"frames_dropped"`
	Reconnects    int64 `json:"reconnects"`
}

// A node pushes SOAK_STREAM of a tiny clip as fast as the ingest takes it, through a path
// that is cut (or whose nginx is killed) SOAK_RECONNECTS times. After the first few
// reconnects (warm-up) and at the end, both times live, the process's goroutines, open
// files, heap and resident size are compared: a leak of one goroutine or file per
// reconnect, or of a little memory per frame, fails the test.
func TestSoak(t *testing.T) {
	streamTime, err := time.ParseDuration(setting("SOAK_STREAM", "2h"))
	if err != nil || streamTime < 2*time.Minute {
		t.Fatalf("SOAK_STREAM=%q: want a duration of 2m or more", os.Getenv("SOAK_STREAM"))
	}
	reconnects, err := strconv.Atoi(setting("SOAK_RECONNECTS", "20"))
	if err != nil || reconnects < 5 {
		t.Fatalf("SOAK_RECONNECTS=%q: want 5 or more", os.Getenv("SOAK_RECONNECTS"))
	}
	const warmup = 3 // reconnects before the first measurement
	peers.Require(t, "ffmpeg")
	clip := filepath.Join(t.TempDir(), "tiny.h264")
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=30",
		"-frames:v", "300", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
		"-g", strconv.Itoa(gop), "-keyint_min", strconv.Itoa(gop), "-sc_threshold", "0", "-b:v", "60k",
		"-f", "h264", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}

	broker := peers.StartMosquitto(t)
	ingest := peers.StartNginx(t)
	path := peers.StartProxy(t, ingest.Addr(), nil)
	const stream = "soak-s3cr3t-key"
	env := map[string]string{
		"NODE_ID": "soak", "MQTT_URL": broker.URL(), "RTMP_URL": "rtmp://" + path.Addr() + "/live/" + stream,
		"SOURCE": "file://" + clip + "?pace=0", "WIDTH": "160", "HEIGHT": "90", "FPS": strconv.Itoa(fps),
		"GOP": strconv.Itoa(gop), "AUTOSTART": "true", "TELEMETRY_INTERVAL": "1s",
		"RECONNECT_MIN": "50ms", "RECONNECT_MAX": "400ms", "LOG_LEVEL": "warn",
	}
	for k, v := range env {
		t.Setenv(config.Prefix+"_"+k, v)
	}
	cfg, err := config.Load()
	if err != nil {
		t.Fatalf("settings: %v", err)
	}
	sub := peers.Subscribe(t, broker, "camnode/soak/telemetry", "camnode/soak/state")
	logs := &tail{}
	n, err := node.New(cfg, cfg.NewLogger(logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("node: %v", err)
			}
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("node log (tail):\n%s", logs.String())
		}
	})

	// seen is where the messages already looked at end.
	seen := 0
	var last telemetry
	// next waits for the next telemetry message, noting whether the state went live since.
	next := func(what string) (live bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			msgs := sub.Messages()
			for ; seen < len(msgs); seen++ {
				m := msgs[seen]
				switch m.Topic {
				case "camnode/soak/state":
					live = live || strings.Contains(m.Payload, `"state":"live"`)
				case "camnode/soak/telemetry":
					if err := json.Unmarshal([]byte(m.Payload), &last); err != nil {
						t.Fatalf("telemetry %q: %v", m.Payload, err)
					}
					seen++
					return live
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no telemetry for 30 s while %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// untilLive reads telemetry until the state has gone live and frames flow again.
	untilLive := func(what string) {
		t.Helper()
		live := false
		deadline := time.Now().Add(60 * time.Second)
		for {
			before := last.FramesSent
			live = next(what) || live
			if live && last.FramesSent > before {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("not live again within 60 s while %s", what)
			}
		}
	}

	began := time.Now()
	untilLive("starting")
	target := int64(streamTime.Seconds() * fps)
	every := target / int64(reconnects+1)
	var start usage
	var startFrames int64
	for i := 1; i <= reconnects; i++ {
		for last.FramesSent < int64(i)*every {
			next(fmt.Sprintf("streaming towards reconnect %d", i))
		}
		if i%5 == 0 {
			ingest.Kill()
			ingest.Start(t)
		} else if path.Cut() == 0 {
			t.Fatalf("reconnect %d: no connection to cut", i)
		}
		untilLive(fmt.Sprintf("reconnecting (%d)", i))
		// Hours of recordings add up to gigabytes: keep only the one being written.
		if recs := ingest.Recordings(stream); len(recs) > 1 {
			for _, r := range recs[:len(recs)-1] {
				os.Remove(r)
			}
		}
		if i == warmup {
			start, startFrames = measure(t), last.FramesSent
			t.Logf("after %d reconnects, %.1f min of stream time: %v", i, float64(last.FramesSent)/fps/60, start)
		}
	}
	for last.FramesSent < target {
		next("streaming the last stretch")
	}
	end := measure(t)
	final := last
	wall := time.Since(began)
	stop()

	hours := float64(final.FramesSent) / fps / 3600
	t.Logf("pushed %d frames = %.2f h of stream time in %v (%.0fx real time), %d reconnects (telemetry says %d), %d frames dropped at reconnects",
		final.FramesSent, hours, wall.Round(time.Second), hours*3600/wall.Seconds(), reconnects, final.Reconnects, final.FramesDropped)
	t.Logf("start: %v", start)
	t.Logf("end:   %v", end)
	t.Logf("over %d frames after warm-up: %+d goroutines, %+d fds, %+d kB RSS, %+d kB heap",
		final.FramesSent-startFrames, end.Goroutines-start.Goroutines, end.FDs-start.FDs, end.RSSKB-start.RSSKB, int64(end.HeapKB)-int64(start.HeapKB))

	if final.Reconnects < int64(reconnects) {
		t.Errorf("telemetry counts %d reconnects, the path went away %d times", final.Reconnects, reconnects)
	}
	// Flat: a leak per reconnect would grow by at least reconnects-warmup.
	if d := end.Goroutines - start.Goroutines; d > 3 {
		var dump bytes.Buffer
		pprof.Lookup("goroutine").WriteTo(&dump, 1)
		t.Errorf("goroutines grew by %d over %d reconnects:\n%s", d, reconnects-warmup, dump.String())
	}
	if d := end.FDs - start.FDs; d > 3 {
		t.Errorf("open files grew by %d over %d reconnects", d, reconnects-warmup)
	}
	if d := int64(end.HeapKB) - int64(start.HeapKB); d > 4<<10 {
		t.Errorf("heap in use grew by %d kB over %d frames", d, final.FramesSent-startFrames)
	}
	if d := end.RSSKB - start.RSSKB; d > start.RSSKB/4+16<<10 {
		t.Errorf("RSS grew by %d kB from %d kB", d, start.RSSKB)
	}

	// After all that, the last connection's recording still decodes from a keyframe.
	// nginx logs a publish when it ends, except those it was killed in.
	recs := ingest.WaitPublishEnded(t, stream, reconnects+1-reconnects/5, 15*time.Second)
	newest := recs[len(recs)-1]
	v := peers.ProbeVideo(t, newest)
	if v.DecodeErrors != "" || len(v.Packets) == 0 || !v.Packets[0].Keyframe || v.MonotonicDTS() >= 0 {
		t.Errorf("last recording %s: %d packets, first keyframe %v, DTS break at %d, decode errors %q",
			newest, len(v.Packets), len(v.Packets) > 0 && v.Packets[0].Keyframe, v.MonotonicDTS(), v.DecodeErrors)
	}
}
