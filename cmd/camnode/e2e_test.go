package main

// End-to-end tests of the real camnode binary, driven the way users drive it: environment
// settings, mosquitto_pub/mosquitto_sub against a real Mosquitto, and a real nginx-rtmp
// whose recordings ffprobe/ffmpeg read back.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

var camnodeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "camnode-e2e")
	if err != nil {
		panic(err)
	}
	camnodeBin = filepath.Join(dir, "camnode")
	// The binary under test is built with the race detector too.
	build := exec.Command("go", "build", "-race", "-o", camnodeBin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building camnode: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running camnode process.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.Write(b)
}

// Log returns what camnode wrote to stderr so far.
func (p *proc) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// startCamnode runs the binary with exactly the given CAMNODE_ settings (plus PATH/HOME).
// With SECRETS_SWEEP_DIR set (never passed on: it is not a camnode setting) everything the
// process printed goes into a file there when it has ended, for scripts/ci/secrets.sh.
func startCamnode(t *testing.T, env map[string]string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(camnodeBin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = p
	cmd.Stdout = p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("camnode log:\n%s", p.Log())
		}
		p.sweep(t)
	})
	return p
}

// sweep writes everything the ended process printed into a file of SECRETS_SWEEP_DIR,
// where scripts/ci/secrets.sh looks for the tests' secrets; nothing when it is unset.
// Every test that starts camnode its own way calls it in its cleanup too.
func (p *proc) sweep(t *testing.T) {
	f := peers.SweepFile(t, "camnode.log")
	if f == nil {
		return
	}
	fmt.Fprintf(f, "# %s\n%s", strings.Join(p.cmd.Args, " "), p.Log())
	if err := f.Close(); err != nil {
		t.Errorf("secrets sweep: %v", err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("camnode did not exit within %v", timeout)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("camnode: %v", p.err)
	}
	return 0
}

// makeClip writes an Annex-B H.264 clip of frames frames, 30 fps, GOP gop.
func makeClip(t *testing.T, size string, frames, gop int) string {
	t.Helper()
	peers.Require(t, "ffmpeg")
	path := filepath.Join(t.TempDir(), "clip.h264")
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30",
		"-frames:v", fmt.Sprint(frames), "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline",
		"-pix_fmt", "yuv420p", "-g", fmt.Sprint(gop), "-keyint_min", fmt.Sprint(gop), "-sc_threshold", "0",
		"-b:v", "600k", "-f", "h264", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return path
}

type rig struct {
	broker *peers.Mosquitto
	ingest *peers.Nginx
	sub    *peers.Sub
	base   string
	stream string
	key    string
	env    map[string]string
}

// newRig starts Mosquitto and nginx-rtmp, subscribes to the node's topics, and prepares the
// settings of a node streaming clip.
func newRig(t *testing.T, id, clip string) *rig {
	t.Helper()
	r := &rig{broker: peers.StartMosquitto(t), ingest: peers.StartNginx(t)}
	r.base = "camnode/" + id
	// The stream key is the secret the tests look for everywhere it must not be.
	r.key = "sk-" + id + "-s3cr3t"
	r.stream = r.key
	r.sub = peers.Subscribe(t, r.broker, r.base+"/#")
	r.env = map[string]string{
		"CAMNODE_NODE_ID":            id,
		"CAMNODE_MQTT_URL":           r.broker.URL(),
		"CAMNODE_RTMP_URL":           r.ingest.URL(r.stream),
		"CAMNODE_SOURCE":             "file://" + clip,
		"CAMNODE_TELEMETRY_INTERVAL": "1s",
		"CAMNODE_WIDTH":              "640",
		"CAMNODE_HEIGHT":             "360",
		"CAMNODE_LOG_LEVEL":          "debug",
	}
	return r
}

func (r *rig) topic(s string) string { return r.base + "/" + s }

// await waits for a message on a topic (of the node's base) whose payload satisfies ok,
// among those after index from.
func (r *rig) await(t *testing.T, from int, topic string, ok func(string) bool, what string) peers.Message {
	t.Helper()
	m, found := r.sub.WaitNext(from, func(m peers.Message) bool { return m.Topic == r.topic(topic) && ok(m.Payload) }, 20*time.Second)
	if !found {
		var seen []string
		for _, m := range r.sub.Messages()[from:] {
			seen = append(seen, m.Topic+" "+m.Payload)
		}
		t.Fatalf("no %s on %s; seen:\n%s", what, topic, strings.Join(seen, "\n"))
	}
	return m
}

func is(v string) func(string) bool { return func(s string) bool { return s == v } }

func eventIs(name string) func(string) bool {
	return func(s string) bool {
		var e struct{ Event, Reason, TS string }
		return json.Unmarshal([]byte(s), &e) == nil && e.Event == name && e.TS != ""
	}
}

type telemetryMsg struct {
	FPS           float64 `json:"fps"`
	BitrateKbps   float64 `json:"bitrate_kbps"`
	FramesSent    int     `json:"frames_sent"`
	FramesDropped int     `json:"frames_dropped"`
	BytesSent     int64   `json:"bytes_sent"`
	Keyframes     int     `json:"keyframes"`
	RSSBytes      int64   `json:"rss_bytes"`
	UptimeS       float64 `json:"uptime_s"`
}

func parseTelemetry(t *testing.T, s string) telemetryMsg {
	t.Helper()
	var tm telemetryMsg
	if err := json.Unmarshal([]byte(s), &tm); err != nil {
		t.Fatalf("telemetry %q: %v", s, err)
	}
	return tm
}

// checkRecording decodes a recording and checks what a viewer would notice.
func checkRecording(t *testing.T, path string, width, height, frames int) peers.Video {
	t.Helper()
	v := peers.ProbeVideo(t, path)
	if v.Codec != "h264" || v.Width != width || v.Height != height {
		t.Fatalf("%s: %s %dx%d, want h264 %dx%d", path, v.Codec, v.Width, v.Height, width, height)
	}
	if v.DecodeErrors != "" {
		t.Fatalf("%s: decode errors: %s", path, v.DecodeErrors)
	}
	if len(v.Packets) == 0 || !v.Packets[0].Keyframe {
		t.Fatalf("%s: first packet is not a keyframe (%d packets)", path, len(v.Packets))
	}
	if i := v.MonotonicDTS(); i >= 0 {
		t.Fatalf("%s: DTS not increasing at packet %d: %v then %v", path, i, v.Packets[i-1].DTS, v.Packets[i].DTS)
	}
	// 30 fps in FLV milliseconds: 33 or 34 ms apart (a paced source, no drops).
	for i := 1; i < len(v.Packets); i++ {
		if d := v.Packets[i].DTS - v.Packets[i-1].DTS; d < 32*time.Millisecond || d > 35*time.Millisecond {
			t.Fatalf("%s: packets %d-%d are %v apart, want ~33ms", path, i-1, i, d)
		}
	}
	if frames >= 0 && (v.Frames < frames-1 || v.Frames > frames+1) {
		t.Fatalf("%s: %d frames decoded, %d sent", path, v.Frames, frames)
	}
	return v
}

// The main story of issue 2: ON starts a stream that nginx records correctly, OFF stops it,
// ON again starts a new recording, the retained topics say the truth, and the stream key
// is never shown.
func TestStreamOnOffRecordsAndReports(t *testing.T) {
	clip := makeClip(t, "640x360", 90, 30)
	r := newRig(t, "garden", clip)
	node := startCamnode(t, r.env)

	r.await(t, 0, "availability", is("online"), "retained online")
	r.await(t, 0, "stream/state", is("OFF"), "stream/state OFF at boot")

	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "ON")
	r.await(t, from, "event", eventIs("stream_started"), "stream_started event")
	r.await(t, from, "stream/state", is("ON"), "stream/state ON")
	live := r.await(t, from, "state", func(s string) bool { return strings.Contains(s, `"state":"live"`) }, "state live")
	var st map[string]any
	if err := json.Unmarshal([]byte(live.Payload), &st); err != nil {
		t.Fatalf("state %q: %v", live.Payload, err)
	}
	if tg, _ := st["target"].(string); !strings.HasSuffix(tg, "/live/****") {
		t.Fatalf("state target %q should end in /live/****", st["target"])
	}
	if st["source"] != "file:"+clip || st["since"] == "" { // source.Describe: the path, no query
		t.Fatalf("state payload: %v", st)
	}

	// A user who subscribes now gets the retained truth.
	late := peers.Subscribe(t, r.broker, r.base+"/+", r.base+"/stream/state")
	for topic, want := range map[string]string{"availability": "online", "stream/state": "ON", "state": `"state":"live"`} {
		m, ok := late.WaitFor(func(m peers.Message) bool { return m.Topic == r.topic(topic) }, 5*time.Second)
		if !ok || !m.Retained || !strings.Contains(m.Payload, want) {
			t.Fatalf("late subscriber: %s = %+v (found %v), want retained %q", topic, m, ok, want)
		}
	}

	// What a player gets from the ingest: onMetaData with our size, as nginx parsed it.
	meta := peers.LiveMetadata(t, r.ingest.URL(r.stream))
	if meta["displayWidth"] != "640" || meta["displayHeight"] != "360" || meta["fps"] != "30" {
		t.Fatalf("onMetaData seen by a player: %v", meta)
	}

	time.Sleep(2 * time.Second)
	from = len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "off")
	r.await(t, from, "event", eventIs("stream_stopped"), "stream_stopped event")
	r.await(t, from, "stream/state", is("OFF"), "stream/state OFF")
	tel := parseTelemetry(t, r.await(t, from, "telemetry", func(s string) bool { return true }, "telemetry after OFF").Payload)
	recs := r.ingest.WaitPublishEnded(t, r.stream, 1, 10*time.Second)
	if len(recs) != 1 {
		t.Fatalf("recordings after one ON/OFF: %v", recs)
	}
	v := checkRecording(t, recs[0], 640, 360, tel.FramesSent)
	if tel.FramesSent < 60 || tel.Keyframes < 2 {
		t.Fatalf("telemetry after 3 s at 30 fps: %+v", tel)
	}
	t.Logf("first recording: %d frames, telemetry %+v", v.Frames, tel)

	// nginx names recordings by the second: let one pass before the next publish.
	time.Sleep(1100 * time.Millisecond)
	from = len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), `{"state":"ON"}`)
	r.await(t, from, "stream/state", is("ON"), "stream/state ON again")
	time.Sleep(1500 * time.Millisecond)
	peers.Publish(t, r.broker, r.topic("stream/set"), "TOGGLE")
	r.await(t, from, "stream/state", is("OFF"), "stream/state OFF after TOGGLE")
	recs = r.ingest.WaitPublishEnded(t, r.stream, 2, 10*time.Second)
	if len(recs) != 2 {
		t.Fatalf("recordings after two ON/OFF: %v", recs)
	}
	checkRecording(t, recs[1], 640, 360, -1)

	// A clean stop: SIGTERM -> exit 0, the retained topics say OFF and offline.
	from = len(r.sub.Messages())
	node.cmd.Process.Signal(syscall.SIGTERM)
	if code := node.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM: %d", code)
	}
	r.await(t, from, "availability", is("offline"), "offline after SIGTERM")

	// The stream key never appears: not in the log, not in any message.
	for _, m := range r.sub.Messages() {
		if strings.Contains(m.Payload, r.key) {
			t.Fatalf("stream key in %s: %s", m.Topic, m.Payload)
		}
	}
	if strings.Contains(node.Log(), r.key) {
		t.Fatalf("stream key in the log")
	}
}

// A node that dies without a word: the broker publishes its last will, retained.
func TestKilledNodeGoesOffline(t *testing.T) {
	clip := makeClip(t, "320x240", 30, 30)
	r := newRig(t, "killed", clip)
	node := startCamnode(t, r.env)
	r.await(t, 0, "availability", is("online"), "online")
	from := len(r.sub.Messages())
	node.cmd.Process.Signal(syscall.SIGKILL)
	node.wait(t, 5*time.Second)
	m := r.await(t, from, "availability", is("offline"), "last will offline")
	_ = m
	late := peers.Subscribe(t, r.broker, r.topic("availability"))
	if m, ok := late.WaitFor(func(m peers.Message) bool { return m.Topic == r.topic("availability") }, 5*time.Second); !ok || m.Payload != "offline" || !m.Retained {
		t.Fatalf("retained availability after SIGKILL: %+v", m)
	}
}

// Garbage on every subscribed topic: an event for each, and the stream goes on untouched.
func TestGarbageIsRejectedAndStreamContinues(t *testing.T) {
	clip := makeClip(t, "320x240", 60, 30)
	r := newRig(t, "garbage", clip)
	r.env["CAMNODE_WIDTH"], r.env["CAMNODE_HEIGHT"] = "320", "240"
	startCamnode(t, r.env)
	r.await(t, 0, "availability", is("online"), "online")
	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "ON")
	r.await(t, from, "stream/state", is("ON"), "stream/state ON")

	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	os.WriteFile(big, bytes.Repeat([]byte("A"), 1<<20), 0o644)
	random := filepath.Join(dir, "random")
	rnd := make([]byte, 4096)
	for i := range rnd {
		rnd[i] = byte(i*7919 + i/13)
	}
	os.WriteFile(random, rnd, 0o644)
	invalid := filepath.Join(dir, "invalid")
	os.WriteFile(invalid, []byte{'O', 0xff, 0xfe, 'N'}, 0o644)

	rejectedBefore := len(eventsNamed(r, "command_rejected"))
	sent := 0
	for _, topic := range []string{"stream/set", "keyframe/set", "restart/set", "danmaku/set"} {
		for _, f := range []string{big, random, invalid} {
			peers.PublishFile(t, r.broker, r.topic(topic), f)
			sent++
		}
	}
	for _, payload := range []string{"MAYBE", `{"state":`, `{"state":"SIDEWAYS"}`, `[1,2,3]`, ""} {
		peers.Publish(t, r.broker, r.topic("stream/set"), payload)
		sent++
	}
	// keyframe/set and restart/set take any payload, so only oversize and invalid
	// UTF-8 are rejected there; stream/set and danmaku/set reject all three.
	want := rejectedBefore + sent - 2 // random bytes are "anything" for the two buttons
	deadline := time.Now().Add(15 * time.Second)
	for len(eventsNamed(r, "command_rejected")) < want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := len(eventsNamed(r, "command_rejected")); got < want {
		t.Fatalf("command_rejected events: %d, want at least %d:\n%s", got, want, strings.Join(eventsNamed(r, ""), "\n"))
	}
	for _, e := range eventsNamed(r, "command_rejected") {
		if len(e) > 600 {
			t.Fatalf("an event echoes the payload: %d bytes", len(e))
		}
	}
	// Still live, still sending frames at the source's rate.
	// (Two telemetry messages in a row: the second is awaited after everything seen once
	// the first has come, so it is never the first again.)
	from = len(r.sub.Messages())
	tel1 := parseTelemetry(t, r.await(t, from, "telemetry", func(string) bool { return true }, "telemetry").Payload)
	from = len(r.sub.Messages())
	tel2 := parseTelemetry(t, r.await(t, from, "telemetry", func(string) bool { return true }, "telemetry").Payload)
	if tel2.FramesSent <= tel1.FramesSent || tel2.FPS < 25 || tel2.FPS > 35 {
		t.Fatalf("stream stalled after garbage: %+v then %+v", tel1, tel2)
	}
	if m := r.sub.OnTopic(r.topic("stream/state")); m[len(m)-1].Payload != "ON" {
		t.Fatalf("stream/state after garbage: %v", m[len(m)-1])
	}
}

// eventsNamed returns the event payloads with that name ("" for all).
func eventsNamed(r *rig, name string) []string {
	var out []string
	for _, m := range r.sub.OnTopic(r.topic("event")) {
		if name == "" || eventIs(name)(m.Payload) {
			out = append(out, m.Payload)
		}
	}
	return out
}

// A stale retained ON must never switch a camera on at boot.
func TestRetainedOnIsIgnoredAtBoot(t *testing.T) {
	clip := makeClip(t, "320x240", 30, 30)
	r := newRig(t, "ghost", clip)
	peers.Publish(t, r.broker, r.topic("stream/set"), "ON", "-r")
	startCamnode(t, r.env)
	r.await(t, 0, "event", func(s string) bool { return eventIs("command_rejected")(s) && strings.Contains(s, "retained") }, "retained command rejected")
	time.Sleep(1500 * time.Millisecond)
	for _, m := range r.sub.OnTopic(r.topic("stream/state")) {
		if m.Payload != "OFF" {
			t.Fatalf("stream/state %q after a retained ON", m.Payload)
		}
	}
	if recs := r.ingest.Recordings(r.stream); len(recs) != 0 {
		t.Fatalf("a retained ON started a recording: %v", recs)
	}
}

// Bad settings exit 2 and name the variable; --help lists every setting.
func TestConfigErrorsAndHelp(t *testing.T) {
	cases := map[string]map[string]string{
		"CAMNODE_WIDHT":    {"CAMNODE_WIDHT": "640"},
		"CAMNODE_FPS":      {"CAMNODE_FPS": "fast"},
		"CAMNODE_RTMP_URL": {"CAMNODE_RTMP_URL": "http://example.invalid/app/topsecretkey-s3cr3t"},
		"CAMNODE_SOURCE":   {"CAMNODE_SOURCE": "webcam"},
	}
	for name, env := range cases {
		p := startCamnode(t, env)
		if code := p.wait(t, 10*time.Second); code != 2 {
			t.Fatalf("%s: exit %d, want 2; output:\n%s", name, code, p.Log())
		}
		if !strings.Contains(p.Log(), name) || strings.Contains(p.Log(), "topsecretkey") {
			t.Fatalf("%s: message %q should name the variable and hide secrets", name, p.Log())
		}
	}
	p := startCamnode(t, nil, "--help")
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, v := range []string{"CAMNODE_MQTT_URL", "CAMNODE_RTMP_URL", "CAMNODE_SOURCE", "CAMNODE_AUTOSTART", "camnode demo"} {
		if !strings.Contains(p.Log(), v) {
			t.Fatalf("--help lacks %s:\n%s", v, p.Log())
		}
	}
}

// camnode demo: zero setup, records a stream that decodes.
func TestDemoRecords(t *testing.T) {
	peers.Require(t, "ffprobe")
	dir := t.TempDir()
	p := startCamnode(t, nil, "demo", "-mqtt", "127.0.0.1:0", "-rtmp", "127.0.0.1:0", "-dir", dir)
	// The demo runs until the ingest has recorded two seconds of video, however long a
	// loaded machine takes to get there; then Ctrl-C ends it as a user would.
	var recs []string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		recs, _ = filepath.Glob(filepath.Join(dir, "*.flv"))
		if len(recs) == 1 && recordedPackets(recs[0]) >= 60 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo recorded no 60 frames in 2 minutes (recordings %v):\n%s", recs, p.Log())
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("demo exit %d:\n%s", code, p.Log())
	}
	for _, want := range []string{"mosquitto_pub -h 127.0.0.1", "camnode/demo/stream/set -m OFF", "recorded " + dir} {
		if !strings.Contains(p.Log(), want) {
			t.Fatalf("demo output lacks %q:\n%s", want, p.Log())
		}
	}
	recs, _ = filepath.Glob(filepath.Join(dir, "*.flv"))
	if len(recs) != 1 {
		t.Fatalf("demo recordings: %v", recs)
	}
	v := peers.ProbeVideo(t, recs[0])
	if v.Codec != "h264" || v.Width != 1280 || v.Height != 720 || v.DecodeErrors != "" || len(v.Packets) < 60 || !v.Packets[0].Keyframe {
		t.Fatalf("demo recording: %s %dx%d, %d packets, errors %q", v.Codec, v.Width, v.Height, len(v.Packets), v.DecodeErrors)
	}
}

// recordedPackets counts the video packets of a recording that may still be growing; 0
// while ffprobe cannot read it yet.
func recordedPackets(path string) int {
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
		"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", path).Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}
