//go:build linux

package main

// Several destinations, and how a stream ends: the real binary against two real
// nginx-rtmp ingests, watched on MQTT the way a user watches it.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// targetsState is the retained <base>/state with its destinations.
type targetsState struct {
	State     string `json:"state"`
	Started   string `json:"started"`
	LiveSince string `json:"live_since"`
	FPS       float64
	Targets   []struct {
		Target, State, Error, Since string
	} `json:"targets"`
}

func parseTargets(t *testing.T, payload string) targetsState {
	t.Helper()
	var st targetsState
	if err := json.Unmarshal([]byte(payload), &st); err != nil {
		t.Fatalf("state %q: %v", payload, err)
	}
	return st
}

// targetsAre matches a state whose destinations are in the given states, in order.
func targetsAre(states ...string) func(string) bool {
	return func(s string) bool {
		var st targetsState
		if json.Unmarshal([]byte(s), &st) != nil || len(st.Targets) != len(states) {
			return false
		}
		for i, want := range states {
			if st.Targets[i].State != want {
				return false
			}
		}
		return true
	}
}

// eventFor matches an event of that name about the destination whose redacted URL holds addr.
func eventFor(name, addr string) func(string) bool {
	return func(s string) bool {
		var e struct{ Event, Target string }
		return json.Unmarshal([]byte(s), &e) == nil && e.Event == name && strings.Contains(e.Target, addr)
	}
}

// maxGap is the longest step between consecutive video DTS of a recording.
func maxGap(v peers.Video) time.Duration {
	var gap time.Duration
	for i := 1; i < len(v.Packets); i++ {
		gap = max(gap, v.Packets[i].DTS-v.Packets[i-1].DTS)
	}
	return gap
}

// Two ingests both record the stream. One is killed: the other's recording goes on
// without a gap, the state stays live naming the one that is down, and events name it.
// It comes back and resumes with a keyframe.
func TestTwoDestinationsOneDies(t *testing.T) {
	clip := makeClip(t, "640x360", 300, 30)
	r := newRig(t, "twodest", clip)
	other := peers.StartNginx(t)
	faultFast(r)
	keyB := "sk-twodest-second"
	r.env["CAMNODE_RTMP_URL"] = r.ingest.URL(r.stream) + "  " + other.URL(keyB)
	node := startCamnode(t, r.env)

	m := r.await(t, 0, "state", targetsAre("live", "live"), "both destinations live")
	st := parseTargets(t, m.Payload)
	if st.State != "live" || st.LiveSince == "" || st.Started == "" || !strings.Contains(st.Targets[1].Target, other.Addr()) {
		t.Fatalf("state with both live: %s", m.Payload)
	}
	r.await(t, 0, "stream/desired", is("ON"), "stream/desired ON")
	time.Sleep(3 * time.Second)

	from := len(r.sub.Messages())
	other.Kill()
	r.await(t, from, "event", eventFor("rtmp_disconnected", other.Addr()), "rtmp_disconnected naming the second ingest")
	m = r.await(t, from, "state", targetsAre("live", "reconnecting"), "second destination reconnecting")
	if st := parseTargets(t, m.Payload); st.State != "live" || st.Targets[1].Error == "" {
		t.Fatalf("state with one down: %s", m.Payload)
	}
	time.Sleep(3 * time.Second)
	from = len(r.sub.Messages())
	other.Start(t)
	r.await(t, from, "event", eventFor("rtmp_connected", other.Addr()), "rtmp_connected naming the second ingest")
	r.await(t, from, "state", targetsAre("live", "live"), "both live again")
	// Telemetry: each destination with its own rate, drops and reconnects.
	from = len(r.sub.Messages())
	r.await(t, from, "telemetry", func(s string) bool {
		var v struct {
			Targets []struct {
				Target      string
				BitrateKbps float64 `json:"bitrate_kbps"`
				Reconnects  int
			}
		}
		return json.Unmarshal([]byte(s), &v) == nil && len(v.Targets) == 2 && v.Targets[0].Reconnects == 0 &&
			v.Targets[1].Reconnects >= 1 && v.Targets[0].BitrateKbps > 0 && v.Targets[1].BitrateKbps > 0 &&
			strings.Contains(v.Targets[1].Target, other.Addr()) && !strings.Contains(s, keyB)
	}, "telemetry with both destinations, the second reconnected")
	time.Sleep(2 * time.Second)

	node.cmd.Process.Signal(syscall.SIGTERM)
	if code := node.wait(t, time.Minute); code != 0 {
		t.Fatalf("exit %d", code)
	}
	recA := r.ingest.WaitPublishEnded(t, r.stream, 1, time.Minute)
	recB := other.WaitPublishEnded(t, keyB, 1, time.Minute) // the session after the restart
	if len(recA) != 1 || len(recB) < 1 {
		t.Fatalf("recordings: first ingest %q, second %q", recA, recB)
	}
	a := checkRecording(t, recA[0], 640, 360, -1) // every step 33-34 ms: no gap
	if gap := maxGap(a); gap > 70*time.Millisecond {
		t.Fatalf("the first ingest's recording has a gap of %v while the second was down", gap)
	}
	if dur := a.Packets[len(a.Packets)-1].DTS - a.Packets[0].DTS; dur < 9*time.Second {
		t.Fatalf("the first ingest recorded %v, want the whole ~10 s", dur)
	}
	b := checkRecording(t, recB[len(recB)-1], 640, 360, -1)
	if !b.Packets[0].Keyframe {
		t.Fatal("the second ingest's recording after its restart does not start with a keyframe")
	}
	if strings.Contains(node.Log(), keyB) || strings.Contains(node.Log(), r.key) {
		t.Fatal("a stream key in camnode's log")
	}
}

// A source that never delivers a picture never opens a publish: nginx's log shows none.
func TestSourceThatCannotStartOpensNoPublish(t *testing.T) {
	junk := filepath.Join(t.TempDir(), "junk.h264")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not h264 ", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, "nostart", junk)
	faultFast(r)
	node := startCamnode(t, r.env)
	m := r.await(t, 0, "event", eventIs("source_failed"), "source_failed")
	r.await(t, len(r.sub.Messages())-1, "event", eventIs("source_failed"), "a second source_failed")
	if reason := eventReason(t, m.Payload); !strings.Contains(reason, "holds no H.264 picture") {
		t.Fatalf("source_failed reason %q", reason)
	}
	r.await(t, 0, "state", stateIs("error"), "state error")
	node.cmd.Process.Signal(syscall.SIGTERM)
	node.wait(t, time.Minute)
	if log := r.ingest.AccessLog(); log != "" {
		t.Fatalf("nginx saw a session from a source that never started:\n%s", log)
	}
	if strings.Contains(r.ingest.ErrorLog(), "publish:") {
		t.Fatalf("nginx saw a publish:\n%s", r.ingest.ErrorLog())
	}
}

// A file played once (?loop=0) ends in idle with stream_ended, the whole clip recorded,
// and stream/state OFF; it does not start again.
func TestPlayOnceEndsIdle(t *testing.T) {
	clip := makeClip(t, "320x240", 90, 30)
	r := newRig(t, "playonce", clip)
	faultFast(r)
	r.env["CAMNODE_SOURCE"] = "file://" + clip + "?loop=0"
	node := startCamnode(t, r.env)
	r.await(t, 0, "state", stateIs("live"), "state live")
	r.await(t, 0, "event", eventIs("stream_ended"), "stream_ended")
	r.await(t, 0, "state", stateIs("idle"), "state idle")
	r.await(t, 0, "stream/state", is("OFF"), "stream/state OFF")
	r.await(t, 0, "stream/desired", is("OFF"), "stream/desired OFF")
	rec := r.ingest.WaitPublishEnded(t, r.stream, 1, time.Minute)
	time.Sleep(2 * time.Second)
	if got := len(faultEvents(r, 0, "source_failed")); got != 0 {
		t.Fatalf("%d source_failed events after the end of a file played once", got)
	}
	if got := strings.Count(r.ingest.AccessLog(), "PUBLISH"); got != 1 {
		t.Fatalf("%d publishes, want 1:\n%s", got, r.ingest.AccessLog())
	}
	checkRecording(t, rec[0], 320, 240, 90)
	node.cmd.Process.Signal(syscall.SIGTERM)
	node.wait(t, time.Minute)
}

// A file sent as fast as the ingest takes it (?pace=0) shows as live, and the state's fps
// is the file's own (25), not CAMNODE_FPS.
func TestUnpacedFileShowsLive(t *testing.T) {
	peers.Require(t, "ffmpeg")
	clip := filepath.Join(t.TempDir(), "clip25.h264")
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-frames:v", "250",
		"-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-f", "h264", clip).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	r := newRig(t, "unpaced", clip)
	faultFast(r)
	r.env["CAMNODE_SOURCE"] = "file://" + clip + "?pace=0"
	node := startCamnode(t, r.env)
	m := r.await(t, 0, "state", stateIs("live"), "state live")
	if st := parseTargets(t, m.Payload); st.FPS != 25 {
		t.Fatalf("state fps %v, want the file's 25: %s", st.FPS, m.Payload)
	}
	tel := r.await(t, 0, "telemetry", func(string) bool { return true }, "telemetry")
	if v := parseTelemetry(t, tel.Payload); v.FPS <= 0 || v.BitrateKbps <= 0 {
		t.Fatalf("first telemetry after start: %s", tel.Payload)
	}
	node.cmd.Process.Signal(syscall.SIGTERM)
	node.wait(t, time.Minute)
}

// A node killed while live leaves stream/state ON retained (the broker's last will only
// says offline); the next camnode run corrects it first thing after connecting, before
// discovery and state.
func TestKilledWhileLiveIsCorrectedAtStart(t *testing.T) {
	clip := makeClip(t, "320x240", 60, 30)
	r := newRig(t, "killedlive", clip)
	faultFast(r)
	node := startCamnode(t, r.env)
	r.await(t, 0, "stream/state", is("ON"), "stream/state ON")
	node.cmd.Process.Signal(syscall.SIGKILL)
	node.wait(t, time.Minute)
	if got := retainedNow(t, r.broker, []string{r.topic("stream/state")}, 20*time.Second); got[r.topic("stream/state")] != "ON" {
		t.Fatalf("retained after SIGKILL: %v (the test needs the stale ON)", got)
	}
	from := len(r.sub.Messages())
	delete(r.env, "CAMNODE_AUTOSTART")
	startCamnode(t, r.env)
	r.await(t, from, "stream/state", is("OFF"), "stream/state OFF after the restart")
	for _, m := range r.sub.Messages()[from:] {
		if m.Topic == r.topic("availability") {
			continue // the session's own, before the node's
		}
		if m.Topic != r.topic("stream/state") || m.Payload != "OFF" {
			t.Fatalf("first message of the new run: %s %s, want stream/state OFF", m.Topic, m.Payload)
		}
		break
	}
	if got := retainedNow(t, r.broker, []string{r.topic("stream/state")}, 20*time.Second); got[r.topic("stream/state")] != "OFF" {
		t.Fatalf("retained after the restart: %v", got)
	}
}

// A clean stop while the broker cannot be reached logs no ERROR: nothing failed.
func TestCleanStopWithoutBrokerLogsNoError(t *testing.T) {
	env := map[string]string{
		"CAMNODE_NODE_ID":  "nobroker",
		"CAMNODE_MQTT_URL": "tcp://127.0.0.1:" + strconv.Itoa(peers.FreePort(t)),
		"CAMNODE_SOURCE":   "testsrc",
	}
	node := startCamnode(t, env)
	for deadline := time.Now().Add(time.Minute); !strings.Contains(node.Log(), "mqtt connecting"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("camnode did not start:\n%s", node.Log())
		}
	}
	time.Sleep(time.Second)
	node.cmd.Process.Signal(syscall.SIGTERM)
	if code := node.wait(t, time.Minute); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(node.Log(), "level=ERROR") {
		t.Fatalf("a clean stop logged an error:\n%s", node.Log())
	}
}

// A passthrough stream with keyframes 10 s apart gets a stream_warning event (and a log
// warning) saying what platforms want, once.
func TestPassthroughKeyframeWarning(t *testing.T) {
	clip := makeClip(t, "320x240", 360, 300)
	r := newRig(t, "gopwarn", clip)
	faultFast(r)
	node := startCamnode(t, r.env)
	m := r.await(t, 0, "event", eventIs("stream_warning"), "stream_warning")
	if reason := eventReason(t, m.Payload); !strings.Contains(reason, "platforms want one every 2 s") {
		t.Fatalf("stream_warning reason %q", reason)
	}
	if !strings.Contains(node.Log(), "level=WARN msg=\"stream warning\"") {
		t.Fatalf("no warning in the log:\n%s", node.Log())
	}
	time.Sleep(7 * time.Second) // past the second keyframe: no second warning
	if got := len(faultEvents(r, 0, "stream_warning")); got != 1 {
		t.Fatalf("%d stream_warning events, want 1", got)
	}
	node.cmd.Process.Signal(syscall.SIGTERM)
	node.wait(t, time.Minute)
}
