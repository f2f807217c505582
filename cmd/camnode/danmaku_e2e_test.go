package main

// End-to-end tests of danmaku: chat published with mosquitto_pub reaches the stream as
// SEI, CEA-608 captions and onTextData, read back from what the ingests recorded with
// ffmpeg's own tools; and a flood of chat leaves the stream untouched.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// camnodeSEIUUID is camnode's user_data_unregistered UUID, as docs/danmaku.md publishes it.
const camnodeSEIUUID = "05254fc52ab84b62b88bcb5b7d5ef5ed"

// Three messages — Chinese, emoji, English — sent with mosquitto_pub to the fleet topic
// reach two nodes: "garden" streams to nginx-rtmp, whose recording carries each exactly
// once and in order in SEI (trace_headers) and the English one as captions (subcc);
// "porch" streams to an ffmpeg RTMP listener, whose recording also keeps the onTextData
// messages (nginx-rtmp 1.2 forwards and records audio and video only, never data
// messages). Both recordings decode frame for frame with every carrier on. danmaku/set OFF
// then hides chat: the captions are erased, and a message sent while hidden is rejected
// and appears nowhere.
func TestChatReachesTheStream(t *testing.T) {
	peers.Require(t, "timeout")
	clip := makeClip(t, "320x240", 150, 30)
	r := newRig(t, "garden", clip)
	for k, v := range map[string]string{"CAMNODE_WIDTH": "320", "CAMNODE_HEIGHT": "240", "CAMNODE_DANMAKU": "sei,cc,amf"} {
		r.env[k] = v
	}
	listener := startFFmpegListener(t)
	porchEnv := map[string]string{}
	for k, v := range r.env {
		porchEnv[k] = v
	}
	porchEnv["CAMNODE_NODE_ID"] = "porch"
	porchEnv["CAMNODE_RTMP_URL"] = listener.url
	porch := peers.Subscribe(t, r.broker, "camnode/porch/#")

	startCamnode(t, r.env)
	startCamnode(t, porchEnv)
	r.await(t, 0, "availability", is("online"), "garden online")
	if _, ok := porch.WaitFor(func(m peers.Message) bool { return m.Topic == "camnode/porch/availability" && m.Payload == "online" }, 20*time.Second); !ok {
		t.Fatal("porch not online")
	}
	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, "camnode/all/stream/set", "ON")
	r.await(t, from, "state", func(s string) bool { return strings.Contains(s, `"state":"live"`) }, "garden live")
	if _, ok := porch.WaitFor(func(m peers.Message) bool {
		return m.Topic == "camnode/porch/state" && strings.Contains(m.Payload, `"state":"live"`)
	}, 20*time.Second); !ok {
		t.Fatal("porch never went live")
	}
	time.Sleep(500 * time.Millisecond)

	chat := []map[string]any{
		{"text": "大家好，弹幕测试", "user": "张三", "color": "#ff0000", "mode": "top", "id": "zh-1", "source": "bilibili"},
		{"text": "😀🎉👍", "user": "emoji_fan", "color": 16738740, "id": "emoji-1"},
		{"text": "Hello from the garden", "user": "bob", "id": "en-1", "source": "twitch"},
	}
	var wantSEI, wantText []string
	for _, m := range chat {
		payload, _ := json.Marshal(m)
		peers.Publish(t, r.broker, "camnode/all/chat", string(payload))
		wantText = append(wantText, m["text"].(string))
	}
	// What the SEI carries: the cleaned message as compact JSON (colour as #rrggbb).
	wantSEI = []string{
		`{"text":"大家好，弹幕测试","user":"张三","color":"#ff0000","mode":"top","id":"zh-1","source":"bilibili"}`,
		`{"text":"😀🎉👍","user":"emoji_fan","color":"#ff69b4","mode":"scroll","id":"emoji-1"}`,
		`{"text":"Hello from the garden","user":"bob","color":"#ffffff","mode":"scroll","id":"en-1","source":"twitch"}`,
	}
	// The same id again (a bot's resend) is a duplicate: rejected, never shown twice.
	from = len(r.sub.Messages())
	dup, _ := json.Marshal(chat[2])
	peers.Publish(t, r.broker, r.topic("chat"), string(dup))
	r.await(t, from, "event", func(s string) bool {
		return eventIs("chat_rejected")(s) && strings.Contains(s, `chat: duplicate id \"en-1\" from \"bob\"`)
	}, "duplicate rejected")

	// The captions of three messages take about 2 s at one byte pair a frame; then hide
	// chat, which erases the captions, and send one more that must appear nowhere.
	time.Sleep(4 * time.Second)
	for _, node := range []string{"garden", "porch"} {
		peers.Publish(t, r.broker, "camnode/"+node+"/danmaku/set", "OFF")
	}
	r.await(t, from, "danmaku/state", is("OFF"), "danmaku/state OFF")
	from = len(r.sub.Messages())
	peers.Publish(t, r.broker, "camnode/all/chat", `{"text":"hidden words","user":"eve"}`)
	r.await(t, from, "event", func(s string) bool {
		return eventIs("chat_rejected")(s) && strings.Contains(s, "all/chat: danmaku is hidden (danmaku/set OFF)")
	}, "chat rejected while hidden")
	time.Sleep(time.Second)

	from = len(r.sub.Messages())
	peers.Publish(t, r.broker, "camnode/all/stream/set", "OFF")
	telMsg := r.await(t, from, "telemetry", func(string) bool { return true }, "telemetry after OFF").Payload
	tel := parseTelemetry(t, telMsg)
	if ct := chatTelemetry(t, telMsg); ct.Received != 5 || ct.Shown != 3 || ct.Dropped != 2 {
		t.Fatalf("garden chat telemetry %+v: want 5 received, 3 shown, 2 dropped (the duplicate, the hidden one)", ct)
	}

	recs := r.ingest.WaitPublishEnded(t, r.stream, 1, 10*time.Second)
	if len(recs) != 1 {
		t.Fatalf("garden recordings: %v", recs)
	}
	checkRecording(t, recs[0], 320, 240, tel.FramesSent)
	if got := recordedSEIChat(t, recs[0]); strings.Join(got, "\n") != strings.Join(wantSEI, "\n") {
		t.Fatalf("SEI chat in nginx's recording:\n%s\nwant exactly once each, in order:\n%s", strings.Join(got, "\n"), strings.Join(wantSEI, "\n"))
	}
	captions := strings.Join(peers.Captions(t, recs[0]), "\n")
	if !strings.Contains(captions, "bob: Hello from the garden") || strings.Contains(captions, "hidden") {
		t.Fatalf("captions in nginx's recording:\n%s\nwant the English line, and nothing sent while hidden", captions)
	}
	// Chinese and emoji have no 608 form: each character becomes its closest basic form
	// (the full-width comma a comma) or "?", never a broken byte.
	if !strings.Contains(captions, "??: ???,????") || !strings.Contains(captions, "emoji_fan: ???") {
		t.Fatalf("captions lack the replaced lines:\n%s", captions)
	}

	porchRec := listener.wait(t)
	v := peers.ProbeVideo(t, porchRec)
	if v.DecodeErrors != "" || v.Frames < 60 || !v.Packets[0].Keyframe {
		t.Fatalf("porch recording: %d frames, errors %q", v.Frames, v.DecodeErrors)
	}
	if got := peers.TextData(t, porchRec); strings.Join(got, "\n") != strings.Join(wantText, "\n") {
		t.Fatalf("onTextData read by ffmpeg from the RTMP stream:\n%q\nwant exactly once each, in order:\n%q", got, wantText)
	}
	if got := recordedSEIChat(t, porchRec); strings.Join(got, "\n") != strings.Join(wantSEI, "\n") {
		t.Fatalf("SEI chat in the porch recording:\n%s", strings.Join(got, "\n"))
	}
}

// A flood of 10,000 chat messages in a few seconds: the node takes what its rate limits
// allow, drops the rest, counts every one (received = shown + dropped), reports the drops
// in a few chat_rejected events whose counts add up, and keeps its memory; the stream
// goes on at its frame rate without a frame lost, and decodes frame for frame.
func TestChatFloodLeavesTheStreamAlone(t *testing.T) {
	const flood = 10000
	clip := makeClip(t, "320x240", 150, 30)
	// Mosquitto queues at most 1000 messages for a client that falls behind and silently
	// drops the rest, which no client can count: with that limit raised every message
	// reaches the node, and the node must account for each. The watcher subscribes to
	// what the node publishes, not to the flood.
	r := &rig{broker: peers.StartMosquitto(t, "max_queued_messages 100000"), ingest: peers.StartNginx(t), base: "camnode/flood"}
	r.key = "sk-flood-s3cr3t"
	r.stream = r.key
	r.sub = peers.Subscribe(t, r.broker, r.base+"/+", r.base+"/stream/state", r.base+"/danmaku/state")
	r.env = map[string]string{
		"CAMNODE_NODE_ID":            "flood",
		"CAMNODE_MQTT_URL":           r.broker.URL(),
		"CAMNODE_RTMP_URL":           r.ingest.URL(r.stream),
		"CAMNODE_SOURCE":             "file://" + clip,
		"CAMNODE_TELEMETRY_INTERVAL": "1s",
		"CAMNODE_WIDTH":              "320",
		"CAMNODE_HEIGHT":             "240",
		"CAMNODE_LOG_LEVEL":          "info", // a debug line per message would measure the logger
		// Not auto's captions: in a flood they fall behind and add notes of their own
		// (shown without captions) to the chat_rejected events this test adds up as drops.
		"CAMNODE_DANMAKU": "sei,amf",
	}
	startCamnode(t, r.env)
	r.await(t, 0, "availability", is("online"), "online")
	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "ON")
	r.await(t, from, "state", func(s string) bool { return strings.Contains(s, `"state":"live"`) }, "live")
	time.Sleep(2 * time.Second)
	latest := func() chatTel {
		return chatTelemetry(t, r.await(t, len(r.sub.Messages()), "telemetry", func(string) bool { return true }, "telemetry").Payload)
	}
	summary := regexp.MustCompile(`chat: (\d+) more messages rejected in`)
	reported := func() int {
		total := 0
		for _, e := range eventsNamed(r, "chat_rejected") {
			if m := summary.FindStringSubmatch(e); m != nil {
				n, _ := strconv.Atoi(m[1])
				total += n
			} else {
				total++
			}
		}
		return total
	}

	// Two floods: the first shows what a flood costs, the second that the cost does not
	// grow — the queues are bounded, nothing piles up.
	start := latest()
	var rss []int64
	shown, eventsBefore := 0, 0
	for round := 0; round < 2; round++ {
		before := latest()
		// mosquitto_pub -l sends a line as a message; 100 lines every 25 ms is 4000
		// messages a second, 10,000 in about 2.5 s.
		pr, pw := io.Pipe()
		go func() {
			for i := 0; i < flood; i++ {
				// 91 characters, near the default limit of 100: a queue without bound would show.
				fmt.Fprintf(pw, `{"text":"flood %d-%05d %s","user":"u%d","id":"f%d-%d"}`+"\n", round, i, strings.Repeat("刷", 80), i%50, round, i)
				if i%100 == 99 {
					time.Sleep(25 * time.Millisecond)
				}
			}
			pw.Close()
		}()
		started := time.Now()
		pub := exec.Command("mosquitto_pub", "-h", "127.0.0.1", "-p", strconv.Itoa(r.broker.Port), "-q", "1", "-t", r.topic("chat"), "-l")
		pub.Stdin = pr
		if out, err := pub.CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub -l: %v\n%s", err, out)
		}
		took := time.Since(started)

		// Every message is accounted for: received = shown + dropped, including those the
		// MQTT session could not hand to the node at all ("node busy").
		var after chatTel
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			after = latest()
			if after.Received-before.Received == flood && after.Received == after.Shown+after.Dropped {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("flood %d: %+v (before %+v); want %d more received, all shown or dropped", round, after, before, flood)
			}
		}
		roundShown, roundDropped := after.Shown-before.Shown, after.Dropped-before.Dropped
		if roundShown < 20 || roundDropped < flood/2 {
			t.Fatalf("flood %d of %d: %d shown, %d dropped; the default limits (20/s, 3/5s a user) show some and drop most", round, flood, roundShown, roundDropped)
		}
		shown += roundShown
		// Reported: the events' counts add up to the drops (a summary comes at the end of
		// its one-second window), and they are few.
		for deadline := time.Now().Add(10 * time.Second); reported() != after.Dropped; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("chat_rejected events count %d drops, telemetry says %d:\n%s", reported(), after.Dropped, strings.Join(eventsNamed(r, "chat_rejected"), "\n"))
			}
		}
		// Few: the reporter sends at most chatReportBurst (5) events and one summary in each
		// one-second window of its own clock, whatever the flood's length (a loaded machine
		// stretches the flood, so the bound is per second of the events' own timestamps).
		events := eventsNamed(r, "chat_rejected")
		checkEventRate(t, events[eventsBefore:], 6)
		if n := len(events) - eventsBefore; n*10 > roundDropped {
			t.Fatalf("flood %d: %d chat_rejected events for %d drops: the events would flood the broker too", round, n, roundDropped)
		}
		eventsBefore = len(events)
		rss = append(rss, latest().RSSBytes)
		t.Logf("flood %d: %d messages published in %v; %d shown, %d dropped (%d of them node busy in events); %d events so far; rss %d MB",
			round, flood, took.Round(time.Millisecond), roundShown, roundDropped, len(busyEvents(r)), len(eventsNamed(r, "chat_rejected")), rss[round]>>20)
	}

	// The stream did not notice: no frame dropped in any interval, and below every frame
	// sent is in the recording with its timestamps in order. (The frame rate of an interval
	// is not asserted: on a starved machine the paced file source itself runs late.)
	for _, m := range r.sub.OnTopic(r.topic("telemetry")) {
		s := chatTelemetry(t, m.Payload)
		if s.FramesDropped != 0 {
			t.Fatalf("telemetry during the floods: %+v", s)
		}
	}
	// Memory: what the first flood took, the second did not add to.
	if grew := rss[0] - start.RSSBytes; grew > 64<<20 {
		t.Fatalf("memory grew by %d MB over a flood (%d -> %d bytes)", grew>>20, start.RSSBytes, rss[0])
	}
	if grew := rss[1] - rss[0]; grew > 16<<20 {
		t.Fatalf("memory grew by %d MB more over a second flood (%d -> %d bytes)", grew>>20, rss[0], rss[1])
	}

	from = len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "OFF")
	last := parseTelemetry(t, r.await(t, from, "telemetry", func(string) bool { return true }, "telemetry after OFF").Payload)
	recs := r.ingest.WaitPublishEnded(t, r.stream, 1, 10*time.Second)
	if len(recs) != 1 {
		t.Fatalf("recordings: %v", recs)
	}
	checkRecording(t, recs[0], 320, 240, last.FramesSent)
	if got := recordedSEIChat(t, recs[0]); len(got) != shown {
		t.Fatalf("%d chat messages in the recording's SEI, telemetry says %d shown", len(got), shown)
	}
}

// checkEventRate fails when more than perSecond events carry timestamps ("ts") within one
// second of each other, counted in the windows that start at each event.
func checkEventRate(t *testing.T, events []string, perSecond int) {
	t.Helper()
	var ts []time.Time
	for _, e := range events {
		var ev struct {
			TS time.Time `json:"ts"`
		}
		if err := json.Unmarshal([]byte(e), &ev); err != nil || ev.TS.IsZero() {
			t.Fatalf("event without a time: %q (%v)", e, err)
		}
		ts = append(ts, ev.TS)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	for i := range ts {
		n := sort.Search(len(ts), func(j int) bool { return !ts[j].Before(ts[i].Add(time.Second)) }) - i
		// A one-second window starting at any event overlaps at most two of the reporter's
		// windows; a summary published late is the one more it may hold.
		if n > 2*perSecond {
			t.Fatalf("%d events within one second from %s (at most %d): %d events in all", n, ts[i].Format(time.RFC3339Nano), 2*perSecond, len(ts))
		}
	}
}

type chatTel struct {
	Received      int   `json:"chat_received"`
	Shown         int   `json:"chat_shown"`
	Dropped       int   `json:"chat_dropped"`
	FramesDropped int   `json:"frames_dropped"`
	RSSBytes      int64 `json:"rss_bytes"`
}

func chatTelemetry(t *testing.T, payload string) chatTel {
	t.Helper()
	var c chatTel
	if err := json.Unmarshal([]byte(payload), &c); err != nil {
		t.Fatalf("telemetry %q: %v", payload, err)
	}
	return c
}

// busyEvents are the chat messages the MQTT session dropped before the node saw them.
func busyEvents(r *rig) []string {
	var out []string
	for _, e := range eventsNamed(r, "chat_rejected") {
		if strings.Contains(e, "node busy") {
			out = append(out, e)
		}
	}
	return out
}

// ffmpegListener is ffmpeg accepting one RTMP publisher and recording all its streams,
// onTextData included, to an FLV file.
type ffmpegListener struct {
	url  string
	out  string
	cmd  *exec.Cmd
	logs bytes.Buffer
	done chan error
}

func startFFmpegListener(t *testing.T) *ffmpegListener {
	t.Helper()
	peers.Require(t, "ffmpeg", "timeout")
	port := peers.FreePort(t)
	l := &ffmpegListener{url: fmt.Sprintf("rtmp://127.0.0.1:%d/live/porch-s3cr3t", port), out: filepath.Join(t.TempDir(), "porch.flv"), done: make(chan error, 1)}
	// The FLV demuxer learns of the onTextData stream when the first message arrives:
	// probing that long (up to 60 s of stream, 100 MB) keeps it among the streams mapped.
	l.cmd = exec.Command("timeout", "-k", "5", "120", "ffmpeg", "-nostdin", "-v", "error", "-listen", "1",
		"-analyzeduration", "60M", "-probesize", "100M", "-i", l.url, "-map", "0", "-c", "copy", "-f", "flv", l.out)
	l.cmd.Stdout, l.cmd.Stderr = &l.logs, &l.logs
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := l.cmd.Start(); err != nil {
		t.Fatalf("ffmpeg -listen: %v", err)
	}
	go func() { l.done <- l.cmd.Wait() }()
	t.Cleanup(func() {
		l.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("ffmpeg listener output:\n%s", l.logs.String())
		}
	})
	// Not peers.WaitPort: ffmpeg takes one connection only, a probe would be it.
	deadline := time.Now().Add(10 * time.Second)
	for !listening(port) {
		if time.Now().After(deadline) {
			t.Fatalf("ffmpeg does not listen on port %d\n%s", port, l.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return l
}

// listening reports whether a TCP socket listens on 127.0.0.1:port, from /proc/net/tcp
// (local address 0100007F:PORT, state 0A).
func listening(port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	needle := fmt.Sprintf("0100007F:%04X 00000000:0000 0A", port)
	return bytes.Contains(b, []byte(needle))
}

// wait waits for ffmpeg to finish the recording (the publisher left) and returns its path.
func (l *ffmpegListener) wait(t *testing.T) string {
	t.Helper()
	select {
	case err := <-l.done:
		if err != nil {
			t.Fatalf("ffmpeg listener: %v\n%s", err, l.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("ffmpeg listener did not finish after the publisher left\n%s", l.logs.String())
	}
	return l.out
}

// recordedSEIChat returns the chat a recording carries in SEI: the payloads with the UUID
// docs/danmaku.md publishes, in stream order.
func recordedSEIChat(t *testing.T, path string) []string {
	t.Helper()
	uuid, err := hex.DecodeString(camnodeSEIUUID)
	if err != nil {
		t.Fatal(err)
	}
	return peers.SEIPayloads(t, path, uuid)
}
