package node

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/config"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/pipeline"
	"github.com/camnode/camnode/mqtt"
)

// fakeSession is the MQTT session as the node sees it, recording what is published. It
// fails the test on an event name missing from Events.
type fakeSession struct {
	t        *testing.T
	commands chan mqtt.Command
	mu       sync.Mutex
	msgs     []published
	closed   bool
	done     chan struct{}
}

type published struct {
	topic    string
	retained bool
	payload  string
	target   string // events only
}

func newFakeSession(t *testing.T) *fakeSession {
	return &fakeSession{t: t, commands: make(chan mqtt.Command, 16), done: make(chan struct{})}
}

func (s *fakeSession) Start(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return mqtt.ErrClosed
	}
}

func (s *fakeSession) Commands() <-chan mqtt.Command { return s.commands }

func (s *fakeSession) Publish(topic string, retained bool, payload []byte) {
	s.mu.Lock()
	s.msgs = append(s.msgs, published{topic: topic, retained: retained, payload: string(payload)})
	s.mu.Unlock()
}

func (s *fakeSession) PublishIfRoom(topic string, payload []byte) bool {
	s.Publish(topic, false, payload)
	return true
}

func (s *fakeSession) PublishEvent(name, reason string) { s.PublishTargetEvent(name, "", reason) }

func (s *fakeSession) PublishTargetEvent(name, target, reason string) {
	if !slices.Contains(Events, name) {
		s.t.Errorf("event %q is not in Events", name)
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, published{topic: "event", payload: name + ": " + reason, target: target})
	s.mu.Unlock()
}

func (s *fakeSession) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
}

// on returns the payloads published on topic, in order, and forgets them.
func (s *fakeSession) take(topic string) []published {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out, rest []published
	for _, m := range s.msgs {
		if m.topic == topic {
			out = append(out, m)
		} else {
			rest = append(rest, m)
		}
	}
	s.msgs = rest
	return out
}

// fakePipe is a media pipeline that does nothing but count.
type fakePipe struct {
	opts     pipeline.Options
	started  bool
	stopped  bool
	keyErr   error
	keys     int
	mu       sync.Mutex
	stats    pipeline.Stats
	startCtx context.Context
}

func (p *fakePipe) Start(ctx context.Context) { p.started, p.startCtx = true, ctx }
func (p *fakePipe) Stop()                     { p.stopped = true }
func (p *fakePipe) RequestKeyframe() error    { p.keys++; return p.keyErr }
func (p *fakePipe) SnapshotJPEG(context.Context, bool) ([]byte, error) {
	return []byte{0xff, 0xd8}, nil
}
func (p *fakePipe) Stats() pipeline.Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// testNode is a node with a fake session and fake pipelines, and the settings given.
type testNode struct {
	*Node
	t     *testing.T
	s     *fakeSession
	pipes []*fakePipe
	ctx   context.Context
}

func newTestNode(t *testing.T, env map[string]string) *testNode {
	t.Helper()
	t.Setenv("CAMNODE_NODE_ID", "cam")
	t.Setenv("CAMNODE_SOURCE", "testsrc")
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{t: t, s: newFakeSession(t), ctx: context.Background()}
	tn.Node = newNode(cfg, slog.New(slog.DiscardHandler))
	tn.session = tn.s
	tn.newPipeline = func(opts pipeline.Options) mediaPipeline {
		p := &fakePipe{opts: opts}
		tn.pipes = append(tn.pipes, p)
		return p
	}
	return tn
}

const (
	oneTarget  = "rtmp://127.0.0.1:1935/live/secretkey1"
	twoTargets = "rtmp://127.0.0.1:1935/live/secretkey1 rtmp://127.0.0.1:1936/live/secretkey2"
)

func (tn *testNode) command(kind mqtt.CommandKind, sw mqtt.Switch) {
	tn.handle(tn.ctx, mqtt.Command{Kind: kind, Switch: sw})
}

func (tn *testNode) report(kind pipeline.Kind, dest int, err error) {
	tn.onNote(tn.ctx, note{run: tn.pipe, Status: pipeline.Status{Kind: kind, Destination: dest, Err: err}})
}

// state is the last <base>/state published since the last call, and how many were.
func (tn *testNode) state() (status, int) {
	tn.t.Helper()
	msgs := tn.s.take(tn.topics.State)
	if len(msgs) == 0 {
		return status{}, 0
	}
	var st status
	if err := json.Unmarshal([]byte(msgs[len(msgs)-1].payload), &st); err != nil {
		tn.t.Fatal(err)
	}
	return st, len(msgs)
}

func (tn *testNode) wantState(want State, wantErr string) status {
	tn.t.Helper()
	st, n := tn.state()
	if n != 1 || st.State != want || !strings.Contains(st.Error, wantErr) || (wantErr == "" && st.Error != "") {
		tn.t.Fatalf("state %q (error %q) published %d times, want %q once (error %q)", st.State, st.Error, n, want, wantErr)
	}
	return st
}

func (tn *testNode) noState() {
	tn.t.Helper()
	if st, n := tn.state(); n != 0 {
		tn.t.Fatalf("state published: %+v", st)
	}
}

func (tn *testNode) last(topic string) string {
	tn.t.Helper()
	msgs := tn.s.take(topic)
	if len(msgs) == 0 {
		return ""
	}
	return msgs[len(msgs)-1].payload
}

// events returns the events published since the last call, as "name: reason", and
// the targets they named.
func (tn *testNode) events() ([]string, []string) {
	var names, targets []string
	for _, m := range tn.s.take("event") {
		names = append(names, m.payload)
		targets = append(targets, m.target)
	}
	return names, targets
}

func (tn *testNode) wantEvents(prefixes ...string) []string {
	tn.t.Helper()
	got, targets := tn.events()
	if len(got) != len(prefixes) {
		tn.t.Fatalf("events %q, want %q", got, prefixes)
	}
	for i, p := range prefixes {
		if !strings.HasPrefix(got[i], p) {
			tn.t.Fatalf("events %q, want %q", got, prefixes)
		}
	}
	return targets
}

func TestOnOffToggleInEveryState(t *testing.T) {
	tn := newTestNode(t, map[string]string{"CAMNODE_RTMP_URL": oneTarget})
	// OFF while idle: nothing changes, the switch gets its answer.
	tn.command(mqtt.CommandStream, mqtt.SwitchOff)
	if got := tn.last(tn.topics.StreamState); got != "OFF" {
		t.Fatalf("stream/state %q", got)
	}
	tn.noState()

	// ON: starting, the pipeline runs with the settings' source and target.
	tn.command(mqtt.CommandStream, mqtt.SwitchOn)
	st := tn.wantState(StateStarting, "")
	if len(tn.pipes) != 1 || !tn.pipes[0].started || tn.pipes[0].opts.Source != "testsrc" || !slices.Equal(tn.pipes[0].opts.Targets, []string{oneTarget}) {
		t.Fatalf("pipeline %+v", tn.pipes)
	}
	if got := tn.last(tn.topics.StreamDesired); got != "ON" {
		t.Fatalf("stream/desired %q", got)
	}
	if len(st.Targets) != 1 || st.Targets[0].State != targetConnecting || st.Targets[0].Target != "rtmp://127.0.0.1:1935/live/****" || st.Started == "" {
		t.Fatalf("state %+v", st)
	}
	// ON again while starting: no second pipeline.
	tn.command(mqtt.CommandStream, mqtt.SwitchOn)
	tn.noState()
	if len(tn.pipes) != 1 {
		t.Fatal("a second pipeline")
	}
	// The format while starting waits for the next state.
	tn.onNote(tn.ctx, note{run: tn.pipe, Status: pipeline.Status{Kind: pipeline.VideoFormat, Destination: -1, Width: 640, Height: 360, FPS: 25}})
	tn.noState()

	// Live.
	tn.report(pipeline.DestinationLive, 0, nil)
	st = tn.wantState(StateLive, "")
	if st.Width != 640 || st.Height != 360 || st.FPS != 25 || st.LiveSince == "" || st.Targets[0].State != targetLive {
		t.Fatalf("live state %+v", st)
	}
	if targets := tn.wantEvents("stream_started: live on rtmp://127.0.0.1:1935/live/****"); targets[0] != "rtmp://127.0.0.1:1935/live/****" {
		t.Fatalf("stream_started names %q", targets[0])
	}
	if got := tn.last(tn.topics.StreamState); got != "ON" {
		t.Fatalf("stream/state %q", got)
	}
	// A new size while live is published.
	tn.onNote(tn.ctx, note{run: tn.pipe, Status: pipeline.Status{Kind: pipeline.VideoFormat, Destination: -1, Width: 1280, Height: 720, FPS: 30}})
	if st, n := tn.state(); n != 1 || st.Width != 1280 {
		t.Fatalf("state after a new size: %+v (%d)", st, n)
	}

	// TOGGLE while live: off.
	tn.command(mqtt.CommandStream, mqtt.SwitchToggle)
	st = tn.wantState(StateIdle, "")
	if !tn.pipes[0].stopped || st.LiveSince != "" || st.Targets[0].State != targetIdle {
		t.Fatalf("after TOGGLE: stopped %v, state %+v", tn.pipes[0].stopped, st)
	}
	tn.wantEvents("stream_stopped: command")
	if got := tn.last(tn.topics.StreamDesired); got != "OFF" {
		t.Fatalf("stream/desired %q", got)
	}
	// TOGGLE while idle: on.
	tn.command(mqtt.CommandStream, mqtt.SwitchToggle)
	tn.wantState(StateStarting, "")
	// A report from the stopped pipeline is ignored.
	tn.onNote(tn.ctx, note{run: &run{}, Status: pipeline.Status{Kind: pipeline.DestinationLive}})
	tn.noState()
	// OFF while starting.
	tn.command(mqtt.CommandStream, mqtt.SwitchOff)
	tn.wantState(StateIdle, "")
	tn.wantEvents("stream_stopped: command")
}

func TestOnWithoutIngestIsRejected(t *testing.T) {
	tn := newTestNode(t, nil)
	tn.command(mqtt.CommandStream, mqtt.SwitchOn)
	tn.wantEvents("command_rejected: stream/set ON: no ingest and no local output configured (set CAMNODE_RTMP_URL, or CAMNODE_HTTP or CAMNODE_RTSP for a preview)")
	if len(tn.pipes) != 0 || tn.last(tn.topics.StreamState) != "OFF" {
		t.Fatal("a pipeline without an ingest")
	}
}

// With two destinations the stream is live while one is; each event names its
// destination, and each destination has its own state.
func TestTwoDestinations(t *testing.T) {
	tn := newTestNode(t, map[string]string{"CAMNODE_RTMP_URL": twoTargets})
	tn.command(mqtt.CommandStream, mqtt.SwitchOn)
	st := tn.wantState(StateStarting, "")
	if st.Target != "rtmp://127.0.0.1:1935/live/**** rtmp://127.0.0.1:1936/live/****" || len(st.Targets) != 2 {
		t.Fatalf("targets %+v", st)
	}
	b := "rtmp://127.0.0.1:1936/live/****"
	tn.report(pipeline.DestinationReconnecting, 1, errors.New("dial tcp: connection refused"))
	st = tn.wantState(StateReconnecting, "connection refused")
	if targets := tn.wantEvents("rtmp_disconnected: dial tcp: connection refused"); targets[0] != b {
		t.Fatalf("event names %q", targets)
	}
	// Retries only update the error: one event per outage.
	tn.report(pipeline.DestinationReconnecting, 1, errors.New("dial tcp: connection refused"))
	tn.noState()
	tn.wantEvents()
	tn.report(pipeline.DestinationLive, 0, nil)
	st = tn.wantState(StateLive, "")
	if st.Targets[0].State != targetLive || st.Targets[1].State != targetReconnecting || st.Targets[1].Error == "" {
		t.Fatalf("targets %+v", st.Targets)
	}
	tn.wantEvents("stream_started")
	tn.report(pipeline.DestinationLive, 1, nil)
	if st, _ := tn.state(); st.Targets[1].State != targetLive || st.State != StateLive {
		t.Fatalf("targets %+v", st.Targets)
	}
	if targets := tn.wantEvents("rtmp_connected: live again on " + b); targets[0] != b {
		t.Fatalf("event names %q", targets)
	}
	// One refused: still live on the other.
	tn.report(pipeline.DestinationFailed, 0, errors.New("rtmp: publish refused secretkey1"))
	if st, _ := tn.state(); st.State != StateLive || st.Targets[0].State != targetFailed || strings.Contains(st.Targets[0].Error, "secretkey1") {
		t.Fatalf("state %+v", st)
	}
	if got, _ := tn.events(); len(got) != 1 || got[0] != "rtmp_rejected: rtmp: publish refused ****" {
		t.Fatalf("events %q", got)
	}
	// Both refused: error.
	tn.report(pipeline.DestinationFailed, 1, errors.New("rtmp: publish refused"))
	tn.wantState(StateError, "publish refused")
	if tn.last(tn.topics.StreamState) != "OFF" {
		t.Fatal("stream/state ON with every destination refused")
	}
	// One comes back.
	tn.report(pipeline.DestinationConnecting, 1, nil)
	tn.wantState(StateReconnecting, "publish refused")
	tn.report(pipeline.DestinationLive, 1, nil)
	tn.wantState(StateLive, "")
}

func TestSourceFailsRecoversEnds(t *testing.T) {
	tn := newTestNode(t, map[string]string{"CAMNODE_RTMP_URL": oneTarget})
	tn.command(mqtt.CommandStream, mqtt.SwitchOn)
	tn.report(pipeline.DestinationLive, 0, nil)
	tn.state()
	tn.events()
	tn.report(pipeline.SourceFailed, -1, errors.New("exec: rpicam-vid exited"))
	tn.wantState(StateError, "rpicam-vid exited")
	tn.wantEvents("source_failed: exec: rpicam-vid exited")
	tn.report(pipeline.SourceRecovered, -1, nil)
	tn.wantState(StateLive, "")
	tn.report(pipeline.AudioFailed, -1, errors.New("arecord: no device"))
	tn.wantEvents("audio_failed: arecord: no device; silence until it is back")
	tn.report(pipeline.StreamWarning, -1, errors.New("keyframes 10.0 s apart"))
	tn.wantEvents("stream_warning: keyframes 10.0 s apart")
	tn.noState()
	tn.report(pipeline.SourceEnded, -1, errors.New("file source: a.h264 played once (150 frames): EOF"))
	tn.wantState(StateIdle, "")
	tn.wantEvents("stream_ended: file source: a.h264 played once (150 frames): EOF")
	if !tn.pipes[0].stopped || tn.desired || tn.last(tn.topics.StreamDesired) != "OFF" {
		t.Fatal("the node did not stop after the end of the source")
	}
}

func TestRestartAndKeyframe(t *testing.T) {
	tn := newTestNode(t, map[string]string{"CAMNODE_RTMP_URL": oneTarget})
	tn.command(mqtt.CommandRestart, 0)
	tn.command(mqtt.CommandKeyframe, 0)
	tn.wantEvents("command_rejected: restart/set: the stream is off", "command_rejected: keyframe/set: the stream is off")
	tn.command(mqtt.CommandStream, mqtt.SwitchOn)
	tn.report(pipeline.DestinationLive, 0, nil)
	tn.events()
	tn.state()
	tn.command(mqtt.CommandKeyframe, 0)
	tn.wantEvents("keyframe_requested")
	tn.pipes[0].keyErr = pipeline.ErrNoKeyframeControl
	tn.paced.now = func() time.Time { return time.Now().Add(time.Minute) } // past the pace
	tn.command(mqtt.CommandKeyframe, 0)
	tn.wantEvents("command_rejected: keyframe/set: the source cannot make a keyframe on demand")
	tn.command(mqtt.CommandRestart, 0)
	tn.wantEvents("pipeline_restarted")
	if len(tn.pipes) != 2 || !tn.pipes[0].stopped || !tn.pipes[1].started {
		t.Fatalf("restart: %+v", tn.pipes)
	}
	tn.wantState(StateStarting, "")
	// A new start after a restart says stream_started only once per ON.
	tn.report(pipeline.DestinationLive, 0, nil)
	tn.wantEvents("rtmp_connected")
}

func TestDanmakuSwitch(t *testing.T) {
	tn := newTestNode(t, nil)
	for _, c := range []struct {
		sw   mqtt.Switch
		want string
	}{{mqtt.SwitchOff, "OFF"}, {mqtt.SwitchOn, "ON"}, {mqtt.SwitchToggle, "OFF"}} {
		tn.command(mqtt.CommandDanmaku, c.sw)
		if got := tn.last(tn.topics.DanmakuState); got != c.want {
			t.Fatalf("danmaku %v: %q", c.sw, got)
		}
	}
}

// Run with autostart streams at once; the end of its context stops the stream, closes
// the session and joins every goroutine it started.
func TestRunAutostartAndShutdown(t *testing.T) {
	tn := newTestNode(t, map[string]string{"CAMNODE_RTMP_URL": oneTarget, "CAMNODE_AUTOSTART": "true"})
	tn.cfg.TelemetryInterval = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- tn.Run(ctx) }()
	tn.s.commands <- mqtt.Command{Kind: mqtt.CommandDanmaku, Switch: mqtt.SwitchOff}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		tn.s.mu.Lock()
		n := 0
		for _, m := range tn.s.msgs {
			if m.topic == tn.topics.Telemetry || m.topic == tn.topics.DanmakuState {
				n++
			}
		}
		tn.s.mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no telemetry")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(tn.pipes) != 1 || !tn.pipes[0].stopped || !tn.s.closed {
		t.Fatalf("after Run: pipes %+v, session closed %v", tn.pipes, tn.s.closed)
	}
	got, _ := tn.events()
	if len(got) != 1 || got[0] != "stream_stopped: shutdown" {
		t.Fatalf("events %q", got)
	}
}

// The first telemetry after ON says what the stream does since it started; each
// destination has its own rate, drops and reconnects.
func TestTelemetryAfterStart(t *testing.T) {
	tn := newTestNode(t, map[string]string{"CAMNODE_RTMP_URL": twoTargets})
	tn.command(mqtt.CommandStream, mqtt.SwitchOn)
	tn.pipes[0].stats = pipeline.Stats{Frames: 30, Total: media.OutputStats{FramesSent: 60, BytesSent: 20000},
		Destinations: []pipeline.DestinationStats{
			{Target: "a", OutputStats: media.OutputStats{FramesSent: 30, BytesSent: 15000}},
			{Target: "b", OutputStats: media.OutputStats{FramesSent: 30, BytesSent: 5000, FramesDropped: 4, Reconnects: 2}},
		},
		Local: []media.OutputStats{{BytesSent: 1}}, // the local player
	}
	time.Sleep(10 * time.Millisecond)
	tn.publishTelemetry()
	var tel telemetry
	if err := json.Unmarshal([]byte(tn.last(tn.topics.Telemetry)), &tel); err != nil {
		t.Fatal(err)
	}
	if tel.FPS <= 0 || tel.BitrateKbps <= 0 || tel.FramesSent != 60 || len(tel.Targets) != 2 ||
		tel.Targets[1].Target != "rtmp://127.0.0.1:1936/live/****" || tel.Targets[1].FramesDropped != 4 ||
		tel.Targets[1].Reconnects != 2 || tel.Targets[0].BitrateKbps <= tel.Targets[1].BitrateKbps {
		t.Fatalf("telemetry %+v", tel)
	}
	tn.command(mqtt.CommandStream, mqtt.SwitchOff)
	tn.publishTelemetry()
	tel = telemetry{}
	if err := json.Unmarshal([]byte(tn.last(tn.topics.Telemetry)), &tel); err != nil {
		t.Fatal(err)
	}
	if tel.FramesSent != 60 || tel.Targets != nil {
		t.Fatalf("telemetry after OFF %+v", tel)
	}
}

// Reconnecting to the broker publishes every retained topic again, stream/state first.
func TestRepublish(t *testing.T) {
	tn := newTestNode(t, nil)
	tn.republish()
	tn.s.mu.Lock()
	topics := []string{}
	for _, m := range tn.s.msgs {
		topics = append(topics, m.topic)
	}
	tn.s.mu.Unlock()
	want := []string{tn.topics.State, tn.topics.StreamState, tn.topics.StreamDesired, tn.topics.DanmakuState}
	if !slices.Equal(topics, want) {
		t.Fatalf("republished %q, want %q", topics, want)
	}
}

// Every event name constant is in Events, once.
func TestEventsListsEveryName(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range Events {
		if seen[e] {
			t.Fatalf("%q twice", e)
		}
		seen[e] = true
	}
	for _, e := range []string{EventStreamStarted, EventStreamStopped, EventStreamEnded, EventRTMPConnected,
		EventRTMPDisconnected, EventRTMPRejected, EventSourceFailed, EventAudioFailed, EventStreamWarning,
		EventCommandRejected, EventChatRejected, EventKeyframe, EventRestart, EventBurnUnavailable} {
		if !seen[e] {
			t.Fatalf("%q missing", e)
		}
	}
}

// Chat the session rejected (empty, not UTF-8, oversize) counts in telemetry.
func TestRejectedChatIsCounted(t *testing.T) {
	tn := newTestNode(t, nil)
	tn.onRejected(&mqtt.RejectError{Event: mqtt.EventChatRejected, Reason: "chat: empty"})
	tn.onRejected(&mqtt.RejectError{Event: mqtt.EventCommandRejected, Reason: "stream/set: sideways"})
	if rec, _, drop := tn.chat.counts(); rec != 1 || drop != 1 {
		t.Fatalf("received %d, dropped %d", rec, drop)
	}
}

// A snapshot needs a running stream; extra outputs and the audio go to every pipeline.
func TestSnapshotAndExtras(t *testing.T) {
	tn := newTestNode(t, map[string]string{"CAMNODE_RTMP_URL": oneTarget})
	if _, err := tn.snapshotJPEG(context.Background(), false); err == nil {
		t.Fatal("a snapshot with the stream off")
	}
	tn.AddOutput(media.NopOutput{})
	tn.SetAudio(nopAudio{})
	tn.command(mqtt.CommandStream, mqtt.SwitchOn)
	if pic, err := tn.snapshotJPEG(context.Background(), true); err != nil || pic == nil {
		t.Fatalf("snapshot: %v", err)
	}
	if o := tn.pipes[0].opts; len(o.Local) != 1 || o.Audio == nil {
		t.Fatalf("options %+v", o)
	}
	tn.command(mqtt.CommandStream, mqtt.SwitchOff)
	if _, err := tn.snapshotJPEG(context.Background(), false); err == nil {
		t.Fatal("a snapshot after OFF")
	}
}

type nopAudio struct{}

func (nopAudio) RunAudio(ctx context.Context, _ func(*media.AudioFrame) error) error {
	<-ctx.Done()
	return nil
}

// TestKeyframeAndSnapshotPaced: keyframe/set and snapshot/set are carried out at most once
// per second each; the requests in between change nothing and are told in one event.
func TestKeyframeAndSnapshotPaced(t *testing.T) {
	tn := newTestNode(t, map[string]string{"CAMNODE_RTMP_URL": oneTarget})
	now := time.Unix(1e9, 0)
	tn.paced.now = func() time.Time { return now }
	tn.command(mqtt.CommandStream, mqtt.SwitchOn)
	tn.report(pipeline.DestinationLive, 0, nil)
	tn.events()
	snapshots := func() (n int) {
		for {
			select {
			case <-tn.snapshotAsked:
				n++
			default:
				return n
			}
		}
	}
	asked := 0
	for second := range 3 {
		for range 20 {
			tn.command(mqtt.CommandKeyframe, 0)
			tn.command(mqtt.CommandSnapshot, 0)
			asked += snapshots()
			now = now.Add(40 * time.Millisecond) // 20 of each in 0.8 s
		}
		if got := tn.pipes[0].keys; got != second+1 {
			t.Errorf("after %d s of 25 keyframe/set a second: %d keyframes, want %d", second+1, got, second+1)
		}
		if asked != second+1 {
			t.Errorf("after %d s of 25 snapshot/set a second: %d snapshots, want %d", second+1, asked, second+1)
		}
		tn.wantEvents("keyframe_requested", "command_rejected: keyframe/set: at most one per 1s", "command_rejected: snapshot/set: at most one per 1s")
		now = now.Add(200 * time.Millisecond)
	}
}

// TestProblemAfterAMinuteWithoutLiveDestination: while the stream is wanted and no
// destination is live (one that keeps refusing, an ingest that is down), the state says
// problem once noLiveProblem has passed, so Home Assistant's Problem sensor turns on; a
// live destination or OFF clears it.
func TestProblemAfterAMinuteWithoutLiveDestination(t *testing.T) {
	tn := newTestNode(t, map[string]string{"CAMNODE_RTMP_URL": twoTargets})
	tn.noLive.after = 50 * time.Millisecond
	fired := func() {
		t.Helper()
		select {
		case <-tn.noLive.C():
			tn.update() // as Run does
		case <-time.After(60 * time.Second):
			t.Fatal("the no-live timer did not fire")
		}
	}
	tn.command(mqtt.CommandStream, mqtt.SwitchOn)
	tn.report(pipeline.DestinationReconnecting, 0, errors.New("connection refused"))
	tn.report(pipeline.DestinationReconnecting, 1, errors.New("connection refused"))
	if st, _ := tn.state(); st.State != StateReconnecting || st.Problem {
		t.Fatalf("state at once: %+v", st)
	}
	fired()
	if st, n := tn.state(); n != 1 || !st.Problem || st.State != StateReconnecting {
		t.Fatalf("state after the minute: %+v (%d published)", st, n)
	}
	tn.report(pipeline.DestinationLive, 1, nil)
	if st, _ := tn.state(); st.Problem || st.State != StateLive {
		t.Fatalf("state once a destination is live: %+v", st)
	}
	tn.report(pipeline.DestinationReconnecting, 1, errors.New("reset"))
	fired()
	if st, _ := tn.state(); !st.Problem {
		t.Fatalf("state a minute after the last destination went: %+v", st)
	}
	tn.command(mqtt.CommandStream, mqtt.SwitchOff)
	if st, _ := tn.state(); st.Problem || st.State != StateIdle {
		t.Fatalf("state after OFF: %+v", st)
	}
}

// TestRunJoinsTheAnswerToHomeAssistant: the delayed answer to Home Assistant's birth
// message belongs to Run: once Run has returned, it publishes nothing (it used to fire from
// a time.AfterFunc up to 5 s later, into a closed session).
func TestRunJoinsTheAnswerToHomeAssistant(t *testing.T) {
	tn := newTestNode(t, map[string]string{"CAMNODE_RTMP_URL": oneTarget, "CAMNODE_HA_DISCOVERY": "true"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- tn.Run(ctx) }()
	tn.s.commands <- mqtt.Command{Kind: mqtt.CommandHAOnline}
	for !tn.rediscovering.Load() {
		time.Sleep(time.Millisecond) // Run's goroutine takes the command
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	tn.s.take(tn.discoveryTopics.DiscoveryPrefix + "/device/camnode_cam/config")
	time.Sleep(mqtt.RediscoveryDelayMax + time.Second) // the longest the answer waits, and then some
	if late := tn.s.take(tn.discoveryTopics.DiscoveryPrefix + "/device/camnode_cam/config"); len(late) > 0 {
		t.Fatalf("discovery published %d times after Run returned", len(late))
	}
}

// When the stream starts, each destination on a platform whose viewers see none of the
// stream's chat carriers gets a stream_warning naming it: Bilibili shows neither SEI,
// onTextData nor captions; YouTube shows captions, which auto sends where the H.264 goes
// through, but not sei alone. A server of one's own gets none (camnode's player reads SEI).
func TestChatNobodySeesIsWarnedOf(t *testing.T) {
	const targets = "rtmp://live-push.bilivideo.com/live-bvc/?streamname=live_1&key=k1 rtmp://a.rtmp.youtube.com/live2/abcd-efgh rtmp://127.0.0.1:1935/live/own"
	for _, c := range []struct {
		danmaku string
		want    []string // the platforms warned of
	}{
		{"auto", []string{"Bilibili"}},
		{"sei", []string{"Bilibili", "YouTube"}},
		{"sei,cc", []string{"Bilibili"}},
		{"burn,sei", nil}, // testsrc is drawn into (the fake pipeline draws nothing, but burn is on)
	} {
		tn := newTestNode(t, map[string]string{"CAMNODE_RTMP_URL": targets, "CAMNODE_DANMAKU": c.danmaku})
		tn.command(mqtt.CommandStream, mqtt.SwitchOn)
		tn.wantState(StateStarting, "")
		if c.danmaku == "burn,sei" {
			tn.chat.burn.drawing() // what the pipeline's Overlay hears from a raw source
		}
		tn.report(pipeline.OutputsStarted, -1, nil)
		got, names := tn.events()
		var warned []string
		for i, e := range got {
			if !strings.HasPrefix(e, "stream_warning: ") {
				continue
			}
			p, _, _ := strings.Cut(strings.TrimPrefix(e, "stream_warning: "), " ")
			warned = append(warned, p)
			if strings.Contains(e, "k1") || strings.Contains(names[i], "k1") || !strings.Contains(e, "see no chat") {
				t.Errorf("%s: %q for %q", c.danmaku, e, names[i])
			}
		}
		if !slices.Equal(warned, c.want) {
			t.Errorf("CAMNODE_DANMAKU=%s: warned of %q, want %q (events %q)", c.danmaku, warned, c.want, got)
		}
	}
}
