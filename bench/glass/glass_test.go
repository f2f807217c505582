//go:build linux

package glass

import (
	"bufio"
	"bytes"
	"context"
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

const (
	width, height, fps = 640, 360, 30
	// warmUp is skipped at the start of each reading: the player's probe and its first
	// burst (nginx-rtmp sends it from the last keyframe) are not the steady state.
	warmUp = 3 * time.Second
	// samples is the pictures of one reading; each leg is read twice (A B C C B A).
	samples = 150
)

// BenchmarkGlassToViewer measures glass-to-viewer latency, p50 and p95 over 300 pictures
// per leg: clockcam (a raw 640x360@30 camera that writes its clock into each picture)
// feeds camnode (an exec: source of yuv420, encoded by x264), and ffmpeg reads the stream
// back with -fflags nobuffer -flags low_delay -threads 1, decodes each picture and reads
// its clock. The legs, measured in the same run while every pusher runs:
//   - the anchor: a second clockcam piped into ffmpeg with libx264 veryfast zerolatency
//     pushing to nginx-rtmp, read back from nginx-rtmp;
//   - camnode pushing to the same nginx-rtmp, read back from it;
//   - camnode's RTSP server (CAMNODE_RTSP), read over TCP;
//   - a second camnode without its silent AAC track (CAMNODE_AUDIO=none) through
//     nginx-rtmp, and ffmpeg with a silent AAC track: what an audio track costs at this
//     viewer, which retimes its output to a constant rate (see legs);
//   - ffmpeg, camnode and camnode's RTSP again, read with -fps_mode passthrough.
//
// It also reports the CPU seconds of the camnode process and of the ffmpeg pusher over the
// same span. BENCH_CAMNODE names the camnode binary; BENCH_CAMNODE_BEFORE, when set,
// another build (e.g. of the previous commit) measured beside it the same way.
func BenchmarkGlassToViewer(b *testing.B) {
	ctx := figures.Interruptible(b)
	bin := figures.MustEnv(b, "BENCH_CAMNODE")
	peers.Require(b, "ffmpeg", "go")
	cam := filepath.Join(b.TempDir(), "clockcam")
	if out, err := exec.Command("go", "build", "-o", cam, "./clockcam").CombinedOutput(); err != nil {
		b.Fatalf("build clockcam: %v\n%s", err, out)
	}
	camArgs := []string{cam, "-width", strconv.Itoa(width), "-height", strconv.Itoa(height), "-fps", strconv.Itoa(fps)}
	// An application that does not record: the ingest's disk is not the path measured.
	ingest := peers.StartNginxWith(b, peers.NginxOptions{Apps: []string{"glass"}})
	url := func(stream string) string { return "rtmp://" + ingest.Addr() + "/glass/" + stream }
	broker := peers.StartMosquitto(b)

	after := startNode(ctx, b, bin, "glass", camArgs, broker, url("camnode"))
	// The same without its silent AAC track: what the audio costs at the viewer.
	startNode(ctx, b, bin, "glassmute", camArgs, broker, url("camnode-mute"), "CAMNODE_AUDIO=none")
	// BENCH_CAMNODE_BEFORE, when set, names another build of camnode (e.g. of the previous
	// commit), run beside the first and read the same way, for a before/after figure.
	var before *node
	if bin := os.Getenv("BENCH_CAMNODE_BEFORE"); bin != "" {
		before = startNode(ctx, b, bin, "glassbefore", camArgs, broker, url("camnode-before"))
	}

	// The anchor: the same camera piped into ffmpeg, which encodes it as the issue says;
	// and the same with an AAC track of silence, as camnode's stream has one.
	push, pushLog := startFFmpeg(ctx, b, camArgs, url("ffmpeg"))
	startFFmpeg(ctx, b, camArgs, url("ffmpeg-aac"), "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-c:a", "aac", "-b:a", "64k")

	type leg struct {
		name  string
		url   string
		input []string
		vfr   bool // the viewer keeps the stream's timing (-fps_mode passthrough)
		ages  []time.Duration
	}
	tcp := []string{"-rtsp_transport", "tcp"}
	legs := []leg{
		{name: "ffmpeg (libx264 zerolatency) -> nginx-rtmp", url: url("ffmpeg")},
		{name: "camnode (x264) -> nginx-rtmp", url: url("camnode")},
		{name: "camnode (x264) -> RTSP (TCP)", url: after.rtsp, input: tcp},
		{name: "camnode, CAMNODE_AUDIO=none -> nginx-rtmp", url: url("camnode-mute")},
		{name: "ffmpeg + silent AAC -> nginx-rtmp", url: url("ffmpeg-aac")},
		// The viewer as above retimes its output to a constant rate from the input's start,
		// the first packet of either track: with an audio track the pictures sit off its grid
		// and each goes out a frame late, ffmpeg's own too. Read without the retiming:
		{name: "ffmpeg -> nginx-rtmp, viewer passthrough", url: url("ffmpeg"), vfr: true},
		{name: "camnode -> nginx-rtmp, viewer passthrough", url: url("camnode"), vfr: true},
		{name: "camnode -> RTSP, viewer passthrough", url: after.rtsp, input: tcp, vfr: true},
	}
	if before != nil {
		legs = append(legs, leg{name: "before: camnode -> nginx-rtmp", url: url("camnode-before")},
			leg{name: "before: camnode -> RTSP (TCP)", url: before.rtsp, input: tcp})
	}
	// A B C (D E) (E D) C B A: a drift of the machine's load cancels.
	var order []int
	for i := range legs {
		order = append(order, i)
	}
	for i := range legs {
		order = append(order, len(legs)-1-i)
	}
	nodes := []*node{after}
	if before != nil {
		nodes = append(nodes, before)
	}
	nodeCPU0 := make([]time.Duration, len(nodes))
	for i, n := range nodes {
		nodeCPU0[i] = figures.CPUTime(b, n.cmd.Process.Pid)
	}
	pushCPU0, began := figures.CPUTime(b, push.Process.Pid), time.Now()
	for _, i := range order {
		ages, err := measure(ctx, legs[i].url, legs[i].vfr, legs[i].input...)
		if err != nil {
			b.Fatalf("%s: %v\ncamnode:\n%s\nffmpeg push:\n%s", legs[i].name, err, tail(after.log.String()), pushLog.String())
		}
		legs[i].ages = append(legs[i].ages, ages...)
	}
	span := time.Since(began)
	pushCPU := figures.CPUTime(b, push.Process.Pid) - pushCPU0
	nodeCPU := make([]time.Duration, len(nodes))
	for i, n := range nodes {
		nodeCPU[i] = figures.CPUTime(b, n.cmd.Process.Pid) - nodeCPU0[i]
	}

	b.ReportMetric(0, "ns/op")
	frame := time.Second / fps
	var report strings.Builder
	fmt.Fprintf(&report, "Glass-to-viewer latency, %dx%d@%d raw camera showing its clock, read by ffmpeg -fflags nobuffer -flags low_delay -threads 1 (A B C C B A, load average %s):\n",
		width, height, fps, figures.LoadAverage())
	for i, l := range legs {
		p50, p95 := figures.Percentile(l.ages, 50), figures.Percentile(l.ages, 95)
		fmt.Fprintf(&report, "  %-44s p50 %6.1f ms  p95 %6.1f ms  (%d pictures)", l.name, figures.MS(p50), figures.MS(p95), len(l.ages))
		b.ReportMetric(figures.MS(p50), fmt.Sprintf("p50-ms-%c", 'A'+i))
		b.ReportMetric(figures.MS(p95), fmt.Sprintf("p95-ms-%c", 'A'+i))
		report.WriteString("\n")
	}
	p50 := func(i int) time.Duration { return figures.Percentile(legs[i].ages, 50) }
	p95 := func(i int) time.Duration { return figures.Percentile(legs[i].ages, 95) }
	verdict := func(ok bool) string {
		if ok {
			return "meets"
		}
		return "MISSES"
	}
	// Leg indices: 0 ffmpeg, 1 camnode, 2 camnode RTSP, 3 camnode without audio, 4 ffmpeg +
	// AAC; with the viewer passthrough: 5 ffmpeg, 6 camnode, 7 camnode RTSP.
	notAbove := func(i, anchor int) string { return verdict(p50(i) <= p50(anchor) && p95(i) <= p95(anchor)) }
	fmt.Fprintf(&report, "  target p50 and p95 <= ffmpeg's: camnode %s; like for like: camnode without audio vs ffmpeg %s, camnode vs ffmpeg + AAC %s\n",
		notAbove(1, 0), notAbove(3, 0), notAbove(1, 4))
	fmt.Fprintf(&report, "  the same, viewer passthrough: camnode %s\n", notAbove(6, 5))
	fmt.Fprintf(&report, "  target RTSP p50 <= ffmpeg's + one frame (%.1f ms): %s; viewer passthrough: %s\n", figures.MS(frame),
		verdict(p50(2) <= p50(0)+frame), verdict(p50(7) <= p50(5)+frame))
	fmt.Fprintf(&report, "  CPU over the %.0f s of readings: ffmpeg push (libx264 veryfast zerolatency) %.2f CPU-s; camnode process (x264 veryfast, RTMP push, RTSP server, silent AAC) %.2f CPU-s: %.2fx",
		span.Seconds(), pushCPU.Seconds(), nodeCPU[0].Seconds(), nodeCPU[0].Seconds()/pushCPU.Seconds())
	if before != nil {
		fmt.Fprintf(&report, "; before %.2f CPU-s: %.2fx", nodeCPU[1].Seconds(), nodeCPU[1].Seconds()/pushCPU.Seconds())
	}
	report.WriteString("\n")
	figures.Report(b, report.String())
}

// node is a camnode process streaming clockcam to nginx-rtmp and serving it over RTSP.
type node struct {
	cmd  *exec.Cmd
	rtsp string // the RTSP URL
	log  *bytes.Buffer
}

// startNode runs camnode (the binary bin) as node id with clockcam (camArgs) as its raw
// source, pushing to rtmpURL, with more settings env, and waits until it is live.
func startNode(ctx context.Context, b *testing.B, bin, id string, camArgs []string, broker *peers.Mosquitto, rtmpURL string, env ...string) *node {
	b.Helper()
	rtspAddr := "127.0.0.1:" + strconv.Itoa(peers.FreePort(b))
	sub := peers.Subscribe(b, broker, "camnode/"+id+"/#")
	cmd := exec.CommandContext(ctx, bin, "run")
	cmd.Env = append(os.Environ(), "CAMNODE_NODE_ID="+id, "CAMNODE_MQTT_URL="+broker.URL(),
		"CAMNODE_RTMP_URL="+rtmpURL, "CAMNODE_SOURCE=exec:"+strings.Join(camArgs, " "), "CAMNODE_SOURCE_FORMAT=yuv420",
		fmt.Sprintf("CAMNODE_WIDTH=%d", width), fmt.Sprintf("CAMNODE_HEIGHT=%d", height), fmt.Sprintf("CAMNODE_FPS=%d", fps),
		"CAMNODE_BITRATE=2500k", "CAMNODE_ENCODER=x264", "CAMNODE_RTSP="+rtspAddr, "CAMNODE_AUTOSTART=true", "CAMNODE_HA_DISCOVERY=false")
	cmd.Env = append(cmd.Env, env...)
	n := &node{cmd: cmd, rtsp: "rtsp://" + rtspAddr + "/live", log: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = n.log, n.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	if _, ok := sub.WaitFor(func(m peers.Message) bool {
		return strings.HasSuffix(m.Topic, "/state") && strings.Contains(m.Payload, `"state":"live"`)
	}, 2*time.Minute); !ok {
		b.Fatalf("%s did not go live:\n%s", bin, n.log.String())
	}
	return n
}

// startFFmpeg runs clockcam (camArgs) piped into ffmpeg, which encodes it with libx264
// veryfast zerolatency and pushes it to url, with more arguments (an audio input and its
// codec) before the output; it waits until the stream plays.
func startFFmpeg(ctx context.Context, b *testing.B, camArgs []string, url string, more ...string) (*exec.Cmd, *bytes.Buffer) {
	b.Helper()
	camera := exec.CommandContext(ctx, camArgs[0], camArgs[1:]...)
	args := []string{"-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p",
		"-s", fmt.Sprintf("%dx%d", width, height), "-r", strconv.Itoa(fps), "-i", "-"}
	args = append(args, more...)
	args = append(args, "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-b:v", "2500k", "-g", strconv.Itoa(2*fps),
		"-f", "flv", url)
	push := exec.CommandContext(ctx, "ffmpeg", args...)
	pipe, err := camera.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	push.Stdin = pipe
	log := &bytes.Buffer{}
	push.Stderr = log
	for _, c := range []*exec.Cmd{camera, push} {
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() { push.Process.Kill(); push.Wait(); camera.Process.Kill(); camera.Wait() })
	if err := waitPlayable(ctx, url); err != nil {
		b.Fatalf("the ffmpeg push to %s does not play: %v\n%s", url, err, log.String())
	}
	return push, log
}

// waitPlayable waits until a player gets a picture from url.
func waitPlayable(ctx context.Context, url string) error {
	var err error
	for range 20 {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = exec.CommandContext(c, "ffmpeg", "-nostdin", "-v", "error", "-i", url, "-frames:v", "1", "-f", "null", "-").Run()
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
	return err
}

// readTimeout bounds one reading: a player that stops getting pictures fails the run
// instead of hanging it.
const readTimeout = time.Minute

// measure plays url with ffmpeg as gray raw pictures and returns how old each picture was
// when it was read, after warmUp: now minus the clock the picture shows. With vfr the
// viewer puts out each picture as it is decoded (-fps_mode passthrough) instead of at a
// constant rate.
func measure(ctx context.Context, url string, vfr bool, input ...string) ([]time.Duration, error) {
	args := append([]string{"-nostdin", "-v", "error", "-fflags", "nobuffer", "-flags", "low_delay", "-threads", "1"}, input...)
	// -flush_packets 1: each picture reaches the pipe whole when it is decoded, not with the
	// start of the next (the output's buffer would hold its tail).
	args = append(args, "-i", url, "-an")
	if vfr {
		args = append(args, "-fps_mode", "passthrough")
	}
	args = append(args, "-f", "rawvideo", "-pix_fmt", "gray", "-flush_packets", "1", "-")
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	player := exec.CommandContext(ctx, "ffmpeg", args...)
	player.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := player.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	player.Stderr = &stderr
	if err := player.Start(); err != nil {
		return nil, err
	}
	defer func() { player.Process.Kill(); player.Wait() }()
	r := bufio.NewReaderSize(out, width*height)
	pic := make([]byte, width*height)
	ages := make([]time.Duration, 0, samples)
	start := time.Now()
	for len(ages) < samples {
		if _, err := io.ReadFull(r, pic); err != nil {
			return nil, fmt.Errorf("playing %s: %v after %d pictures (%v)\n%s", url, err, len(ages), ctx.Err(), stderr.String())
		}
		now := time.Now()
		if now.Sub(start) < warmUp {
			continue
		}
		at := time.UnixMilli(int64(Read(pic, width)))
		age := now.Sub(at)
		if age < 0 || age > time.Minute {
			return nil, fmt.Errorf("playing %s: a picture says it was made at %v (now %v): the clock did not read back", url, at, now)
		}
		ages = append(ages, age)
	}
	return ages, nil
}

// tail is the last 40 lines of s.
func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-40):], "\n")
}
