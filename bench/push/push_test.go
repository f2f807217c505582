//go:build linux

package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// usage is what the kernel accounted to one pusher process.
type usage struct {
	user, sys time.Duration
	maxRSS    int64 // bytes
}

func (u usage) cpu() time.Duration { return u.user + u.sys }

func rusage(ps *os.ProcessState) usage {
	ru := ps.SysUsage().(*syscall.Rusage)
	// Linux reports ru_maxrss in KiB.
	return usage{user: time.Duration(ru.Utime.Nano()), sys: time.Duration(ru.Stime.Nano()), maxRSS: int64(ru.Maxrss) << 10}
}

// clipInfo is what ffprobe counts in the clip both pushers send.
type clipInfo struct {
	path          string
	bytes         int64
	frames        int
	width, height int
}

// BenchmarkPush pushes the clip BENCH_CLIP names into nginx-rtmp as fast as each pusher
// can: once with `ffmpeg -c copy -f flv`, once with the camnode binary BENCH_CAMNODE names
// (`camnode run`, autostart, a file source that is neither paced nor looped). It reports the
// CPU time (user+sys) and peak RSS of each process from its rusage, and camnode's share of
// ffmpeg's. Both recordings must hold every frame of the clip, or the figures mean nothing.
func BenchmarkPush(b *testing.B) {
	ctx := figures.Interruptible(b)
	bin, clip := figures.MustEnv(b, "BENCH_CAMNODE"), probeClip(b, figures.MustEnv(b, "BENCH_CLIP"))
	ingest := peers.StartNginx(b)
	broker := peers.StartMosquitto(b)
	telemetry := peers.Subscribe(b, broker, "camnode/bench/telemetry")

	var ff, cn usage
	for i := 0; b.Loop(); i++ {
		u := pushFFmpeg(ctx, b, ingest, clip, fmt.Sprintf("ffmpeg-%d", i))
		ff.user, ff.sys, ff.maxRSS = ff.user+u.user, ff.sys+u.sys, max(ff.maxRSS, u.maxRSS)
		u = pushCamnode(ctx, b, ingest, broker, telemetry, bin, clip, fmt.Sprintf("camnode-%d", i))
		cn.user, cn.sys, cn.maxRSS = cn.user+u.user, cn.sys+u.sys, max(cn.maxRSS, u.maxRSS)
	}
	n := time.Duration(b.N)
	ff.user, ff.sys, cn.user, cn.sys = ff.user/n, ff.sys/n, cn.user/n, cn.sys/n

	figures.Report(b, fmt.Sprintf("Push throughput: %s (%dx%d, %d frames, %.1f MB) into nginx-rtmp, as fast as possible; %d run(s), every frame recorded\n",
		clip.path, clip.width, clip.height, clip.frames, float64(clip.bytes)/1e6, b.N)+
		compare(b, 16, "ffmpeg -c copy", ff, "camnode", cn))
}

// compare reports camnode's and ffmpeg's CPU and max RSS a run and their ratios as the
// benchmark's metrics, and returns them as a table (names padded to width) that ends
// with the ratios against the 0.5x target.
func compare(b *testing.B, width int, ffName string, ff usage, cnName string, cn usage) string {
	cpuRatio := cn.cpu().Seconds() / ff.cpu().Seconds()
	rssRatio := float64(cn.maxRSS) / float64(ff.maxRSS)
	b.ReportMetric(0, "ns/op") // the wall time of a run is mostly setup and checking
	b.ReportMetric(cn.cpu().Seconds(), "camnode-cpu-s/op")
	b.ReportMetric(ff.cpu().Seconds(), "ffmpeg-cpu-s/op")
	b.ReportMetric(float64(cn.maxRSS)/1e6, "camnode-maxrss-MB")
	b.ReportMetric(float64(ff.maxRSS)/1e6, "ffmpeg-maxrss-MB")
	b.ReportMetric(cpuRatio, "cpu-ratio")
	b.ReportMetric(rssRatio, "rss-ratio")
	verdict := func(r float64) string {
		if r <= 0.5 {
			return "meets <= 0.50x"
		}
		return "MISSES <= 0.50x"
	}
	return fmt.Sprintf("  %-*s %9s %9s %10s %12s\n", width, "", "CPU user", "CPU sys", "CPU total", "max RSS") +
		usageRow(width, ffName, ff) + usageRow(width, cnName, cn) +
		fmt.Sprintf("  %-*s CPU %.2fx (%s), RSS %.2fx (%s)\n", width, "camnode/ffmpeg", cpuRatio, verdict(cpuRatio), rssRatio, verdict(rssRatio))
}

// usageRow is a row of compare's table.
func usageRow(width int, name string, u usage) string {
	return fmt.Sprintf("  %-*s %7.3f s %7.3f s %8.3f s %9.1f MB\n", width, name, u.user.Seconds(), u.sys.Seconds(), u.cpu().Seconds(), float64(u.maxRSS)/1e6)
}

// pushFFmpeg runs the reference pusher: ffmpeg copying the raw stream into FLV over RTMP,
// without -re, so as fast as the ingest takes it.
func pushFFmpeg(ctx context.Context, b *testing.B, ingest *peers.Nginx, clip clipInfo, stream string) usage {
	b.Helper()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", clip.path, "-c", "copy", "-f", "flv", ingest.URL(stream))
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		b.Fatalf("ffmpeg push to %s: %v\n%s", ingest.URL(stream), err, stderr.String())
	}
	checkRecording(b, ingest, clip, stream)
	return rusage(cmd.ProcessState)
}

// pushCamnode runs `camnode run` until its telemetry says every frame of the clip went out,
// then stops it the way a user does (SIGTERM: it says OFF and offline, then exits 0).
func pushCamnode(ctx context.Context, b *testing.B, ingest *peers.Nginx, broker *peers.Mosquitto, telemetry *peers.Sub,
	bin string, clip clipInfo, stream string) usage {
	b.Helper()
	logPath := filepath.Join(b.TempDir(), "camnode.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	log := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	cmd := exec.CommandContext(ctx, bin, "run")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"CAMNODE_NODE_ID=bench",
		"CAMNODE_MQTT_URL=" + broker.URL(),
		"CAMNODE_RTMP_URL=" + ingest.URL(stream),
		"CAMNODE_SOURCE=file://" + clip.path + "?pace=0&loop=0",
		"CAMNODE_AUTOSTART=true",
		"CAMNODE_TELEMETRY_INTERVAL=1s",
		// At the end of the file the source fails with EOF and the node reopens it after
		// this delay: long enough that the clip is not pushed a second time before we stop.
		"CAMNODE_RECONNECT_MIN=30s",
		"CAMNODE_WIDTH=" + strconv.Itoa(clip.width), "CAMNODE_HEIGHT=" + strconv.Itoa(clip.height),
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	from := len(telemetry.Messages())
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(3 * time.Minute)
	var last string
	for sent := false; !sent; {
		select {
		case err := <-exited:
			if ctx.Err() != nil {
				b.Fatalf("interrupted")
			}
			b.Fatalf("camnode exited before sending the clip (%v); last telemetry %s\n%s", err, last, log())
		case <-ctx.Done():
			b.Fatalf("interrupted")
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			b.Fatalf("camnode did not send %d frames in 3 min; last telemetry %s\n%s", clip.frames, last, log())
		}
		m, ok := telemetry.WaitNext(from, func(peers.Message) bool { return true }, 250*time.Millisecond)
		if !ok {
			continue
		}
		from++
		last = m.Payload
		var t struct {
			FramesSent    int `json:"frames_sent"`
			FramesDropped int `json:"frames_dropped"`
		}
		if err := json.Unmarshal([]byte(m.Payload), &t); err != nil {
			b.Fatalf("camnode telemetry %q: %v", m.Payload, err)
		}
		if t.FramesDropped != 0 {
			b.Fatalf("camnode dropped frames of an unpaced file source: %s", m.Payload)
		}
		sent = t.FramesSent >= clip.frames
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			b.Fatalf("camnode did not exit cleanly on SIGTERM: %v\n%s", err, log())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		b.Fatalf("camnode did not exit within 20 s of SIGTERM\n%s", log())
	}
	checkRecording(b, ingest, clip, stream)
	return rusage(cmd.ProcessState)
}

// checkRecording waits for nginx to close the stream's recording and checks that it holds
// the clip: every frame, at the clip's size, starting with a keyframe.
func checkRecording(b *testing.B, ingest *peers.Nginx, clip clipInfo, stream string) {
	b.Helper()
	recs := ingest.WaitPublishEnded(b, stream, 1, 30*time.Second)
	if len(recs) != 1 {
		b.Fatalf("nginx recorded %d files for stream %s, want 1: %v", len(recs), stream, recs)
	}
	v := probe(b, recs[0])
	if v.frames != clip.frames || v.width != clip.width || v.height != clip.height || !v.keyframeFirst {
		b.Fatalf("recording of %s: %d frames %dx%d (keyframe first: %v), want %d frames %dx%d",
			stream, v.frames, v.width, v.height, v.keyframeFirst, clip.frames, clip.width, clip.height)
	}
}

type probed struct {
	frames, width, height int
	keyframeFirst         bool
}

// probe lists the video packets of a file with ffprobe (no decoding: a minute of 1080p
// decodes slowly, and a packet is a frame in these streams).
func probe(b *testing.B, path string) probed {
	b.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=width,height:packet=flags", "-of", "json", path).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		b.Fatalf("ffprobe %s: %v", path, err)
	}
	var p struct {
		Streams []struct{ Width, Height int }
		Packets []struct{ Flags string }
	}
	if err := json.Unmarshal(out, &p); err != nil || len(p.Streams) != 1 {
		b.Fatalf("ffprobe %s: no video stream in %.200s (%v)", path, out, err)
	}
	return probed{
		frames: len(p.Packets), width: p.Streams[0].Width, height: p.Streams[0].Height,
		keyframeFirst: len(p.Packets) > 0 && strings.HasPrefix(p.Packets[0].Flags, "K"),
	}
}

// probeClip counts the clip's frames and reads it once, so that both pushers find it in the
// page cache.
func probeClip(b *testing.B, path string) clipInfo {
	b.Helper()
	v := probe(b, path)
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	n, err := io.Copy(io.Discard, f)
	if err != nil {
		b.Fatalf("read %s: %v", path, err)
	}
	if v.frames == 0 {
		b.Fatalf("%s holds no video frames", path)
	}
	return clipInfo{path: path, bytes: n, frames: v.frames, width: v.width, height: v.height}
}
