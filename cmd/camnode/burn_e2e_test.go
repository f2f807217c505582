package main

// End-to-end tests of burned-in danmaku (CAMNODE_DANMAKU=burn): chat sent with
// mosquitto_pub is drawn into the live test pattern, encoded, streamed to nginx-rtmp, and
// found again in the pixels ffmpeg decodes from the recording.
//
// The reference "picture without chat" is the pattern itself: its colour bars are the
// same in every row of the top two thirds, and its grey ramp in every row below them
// (media/source/testsrc/pattern.go). So in each decoded frame a few rows below the chat
// lanes say what every row above them must look like, frame by frame, whatever the clock
// and the moving bars do; any pixel that differs from them beyond coding noise is chat.

import (
	"encoding/json"
	"fmt"
	"image"
	"io"
	"math"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// The burn tests' stream: small, so that the race-built node keeps real time on a busy
// machine.
const (
	burnW, burnH, burnFPS = 640, 360, 15
	// The test pattern at 640x360: bars in rows [0, 240), the ramp in [240, 270), the
	// panel with the running clock below (it changes every frame and is not compared).
	burnBarsEnd = burnH * 2 / 3 &^ 1
	burnRampEnd = burnH * 3 / 4 &^ 1
	// burnFontPx is the comments' text size: 1/20 of the picture height.
	burnFontPx = burnH / 20
	// A pixel is chat when its luma differs from the pattern by more than burnChanged;
	// outside the chat (and burnMargin pixels around it, where the codec smears edges)
	// no pixel may differ by more than burnNoise.
	burnChanged = 40
	burnNoise   = 20
	burnMargin  = 8
)

// newBurnRig prepares a node streaming the live test pattern with the given carriers.
func newBurnRig(t *testing.T, id, carriers string) *rig {
	t.Helper()
	r := newRig(t, id, "")
	for k, v := range map[string]string{
		"CAMNODE_SOURCE": "testsrc", "CAMNODE_WIDTH": strconv.Itoa(burnW), "CAMNODE_HEIGHT": strconv.Itoa(burnH),
		"CAMNODE_FPS": strconv.Itoa(burnFPS), "CAMNODE_GOP": "1s", "CAMNODE_DANMAKU": carriers,
	} {
		r.env[k] = v
	}
	return r
}

// goLive starts the node and switches the stream on.
func (r *rig) goLive(t *testing.T) *proc {
	t.Helper()
	node := startCamnode(t, r.env)
	r.await(t, 0, "availability", is("online"), "online")
	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "ON")
	r.await(t, from, "state", func(s string) bool { return strings.Contains(s, `"state":"live"`) }, "state live")
	return node
}

// stopAndRecord switches the stream off and returns the telemetry sent after it and the
// recording, checked: H.264 at the burn size that decodes without an error, starts with
// a keyframe, has steady timestamps with no stall, and holds every frame telemetry
// counted as sent.
func (r *rig) stopAndRecord(t *testing.T) (string, string, peers.Video) {
	t.Helper()
	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "OFF")
	r.await(t, from, "event", eventIs("stream_stopped"), "stream_stopped")
	telMsg := r.await(t, len(r.sub.Messages()), "telemetry", func(string) bool { return true }, "telemetry after OFF").Payload
	tel := parseTelemetry(t, telMsg)
	recs := r.ingest.WaitPublishEnded(t, r.stream, 1, 10*time.Second)
	if len(recs) != 1 {
		t.Fatalf("recordings: %v", recs)
	}
	v := peers.ProbeVideo(t, recs[0])
	if v.Codec != "h264" || v.Width != burnW || v.Height != burnH || v.DecodeErrors != "" {
		t.Fatalf("recording: %s %dx%d, decode errors %q", v.Codec, v.Width, v.Height, v.DecodeErrors)
	}
	if len(v.Packets) == 0 || !v.Packets[0].Keyframe {
		t.Fatalf("recording: first of %d packets is not a keyframe", len(v.Packets))
	}
	if i := v.MonotonicDTS(); i >= 0 {
		t.Fatalf("recording: DTS not increasing at packet %d", i)
	}
	// The pattern skips a frame rather than lag when the machine is busy; a gap of a
	// second would be a stalled stream.
	for i := 1; i < len(v.Packets); i++ {
		if d := v.Packets[i].DTS - v.Packets[i-1].DTS; d > time.Second {
			t.Fatalf("recording: %v without a frame after packet %d", d, i-1)
		}
	}
	if v.Frames < tel.FramesSent-1 || v.Frames > tel.FramesSent+1 || len(v.Packets) != v.Frames {
		t.Fatalf("recording: %d frames decoded from %d packets; telemetry says %d sent", v.Frames, len(v.Packets), tel.FramesSent)
	}
	return recs[0], telMsg, v
}

// burnTel is the chat part of a telemetry message, with the burn counter.
type burnTel struct {
	Received    int     `json:"chat_received"`
	Shown       int     `json:"chat_shown"`
	Dropped     int     `json:"chat_dropped"`
	BurnDropped *int    `json:"chat_burn_dropped"`
	FPS         float64 `json:"fps"`
}

func parseBurnTel(t *testing.T, payload string) burnTel {
	t.Helper()
	var bt burnTel
	if err := json.Unmarshal([]byte(payload), &bt); err != nil {
		t.Fatalf("telemetry %q: %v", payload, err)
	}
	return bt
}

// burnFrame is what one decoded frame shows of chat.
type burnFrame struct {
	at    time.Duration     // the frame's timestamp in the recording
	boxes []image.Rectangle // where it differs from the pattern: one box per comment (or comments touching)
	noise int               // the largest luma difference outside the boxes and their margin
}

// scanRecording decodes the luma of every frame of a recording and finds the chat in it.
func scanRecording(t *testing.T, path string, v peers.Video) []burnFrame {
	t.Helper()
	rows := burnRampEnd
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", "0:v", "-fps_mode", "passthrough",
		"-vf", fmt.Sprintf("extractplanes=y,crop=%d:%d:0:0", burnW, rows), "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var frames []burnFrame
	luma := make([]byte, burnW*rows)
	for {
		if _, err := io.ReadFull(out, luma); err != nil {
			break
		}
		f := scanLuma(luma, burnW)
		if i := len(frames); i < len(v.Packets) {
			f.at = v.Packets[i].DTS - v.Packets[0].DTS
		}
		frames = append(frames, f)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ffmpeg decoding %s: %v\n%s", path, err, stderr.String())
	}
	if len(frames) != len(v.Packets) {
		t.Fatalf("decoded %d frames of %d packets", len(frames), len(v.Packets))
	}
	return frames
}

// scanLuma compares the bars and the ramp of one frame (luma rows of width w) with the
// rows of each just above the next area, which no comment reaches.
func scanLuma(y []byte, w int) burnFrame {
	type area struct{ top, bottom, refTop, refBottom int }
	// Rows a few pixels from each area's edge are left out: the codec blends across it.
	areas := []area{
		{0, burnBarsEnd - 3, burnBarsEnd - 36, burnBarsEnd - 4},
		{burnBarsEnd + 3, burnRampEnd - 6, burnBarsEnd + 3, burnRampEnd - 6},
	}
	diff := make([][]int, len(areas)) // per area, per pixel
	colTop, colBottom := make([]int, w), make([]int, w)
	for x := range w {
		colTop[x], colBottom[x] = math.MaxInt, -1
	}
	col := make([]int, 0, 64)
	for ai, a := range areas {
		ref := make([]int, w)
		for x := range w {
			col = col[:0]
			for row := a.refTop; row < a.refBottom; row++ {
				col = append(col, int(y[row*w+x]))
			}
			slices.Sort(col)
			ref[x] = col[len(col)/2]
		}
		d := make([]int, (a.bottom-a.top)*w)
		for row := a.top; row < a.bottom; row++ {
			for x := range w {
				v := abs(int(y[row*w+x]) - ref[x])
				d[(row-a.top)*w+x] = v
				if v > burnChanged {
					colTop[x], colBottom[x] = min(colTop[x], row), max(colBottom[x], row)
				}
			}
		}
		diff[ai] = d
	}
	// Columns with chat, joined across small gaps (between letters), make the boxes.
	var f burnFrame
	for x := 0; x < w; {
		if colBottom[x] < 0 {
			x++
			continue
		}
		box := image.Rect(x, colTop[x], x+1, colBottom[x]+1)
		for x++; x < w; x++ {
			gap := 0
			for gap <= 8 && x+gap < w && colBottom[x+gap] < 0 {
				gap++
			}
			if gap > 8 || x+gap >= w {
				break
			}
			x += gap
			box = box.Union(image.Rect(x, colTop[x], x+1, colBottom[x]+1))
		}
		f.boxes = append(f.boxes, box)
	}
	for ai, a := range areas {
		for row := a.top; row < a.bottom; row++ {
		pixels:
			for x := range w {
				for _, b := range f.boxes {
					if image.Pt(x, row).In(b.Inset(-burnMargin)) {
						continue pixels
					}
				}
				f.noise = max(f.noise, diff[ai][(row-a.top)*w+x])
			}
		}
	}
	return f
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// The story of issue 5: with CAMNODE_DANMAKU=burn,sei a `scroll` and a `top` message sent
// with mosquitto_pub show in the recorded picture — and only where their lane is: the
// top one centred at the top edge, standing still for ~4 s; the scroll one entering on
// the right and leaving on the left in ~8 s, at (frame width + text width) / 8 s. The
// same messages are in the SEI. A third message is removed from the picture mid-way by
// danmaku/set OFF. Every other pixel of the bars and the ramp stays the pattern's.
func TestBurnInDrawsChatIntoThePicture(t *testing.T) {
	peers.Require(t, "ffmpeg", "ffprobe")
	r := newBurnRig(t, "burn", "burn,sei")
	node := r.goLive(t)
	time.Sleep(1500 * time.Millisecond) // clean frames first

	// The top message shows for 4 s; the scroll one, sent 2 s later, takes 3 s to reach
	// the middle of the picture: both are in view at once, never in the same place.
	peers.Publish(t, r.broker, r.topic("chat"), `{"text":"TOP 弹幕","mode":"top","color":"#ff3333","id":"b"}`)
	time.Sleep(2 * time.Second)
	peers.Publish(t, r.broker, r.topic("chat"), `{"text":"burn scroll 666","id":"a"}`)
	time.Sleep(8500 * time.Millisecond) // it crosses in 8 s
	peers.Publish(t, r.broker, r.topic("chat"), `{"text":"hide me","id":"c"}`)
	time.Sleep(2 * time.Second)
	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("danmaku/set"), "OFF")
	r.await(t, from, "danmaku/state", is("OFF"), "danmaku/state OFF")
	time.Sleep(1500 * time.Millisecond)
	rec, telMsg, v := r.stopAndRecord(t)

	ct := parseBurnTel(t, telMsg)
	if ct.Received != 3 || ct.Shown != 3 || ct.Dropped != 0 || ct.BurnDropped == nil || *ct.BurnDropped != 0 {
		t.Fatalf("chat telemetry %s: want 3 received, 3 shown, none dropped, chat_burn_dropped 0", telMsg)
	}
	if e := eventsNamed(r, "burn_unavailable"); len(e) != 0 {
		t.Fatalf("burn_unavailable with a raw source: %v", e)
	}
	wantSEI := []string{
		`{"text":"TOP 弹幕","color":"#ff3333","mode":"top","id":"b"}`,
		`{"text":"burn scroll 666","color":"#ffffff","mode":"scroll","id":"a"}`,
		`{"text":"hide me","color":"#ffffff","mode":"scroll","id":"c"}`,
	}
	if got := recordedSEIChat(t, rec); strings.Join(got, "\n") != strings.Join(wantSEI, "\n") {
		t.Fatalf("SEI chat beside burn:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantSEI, "\n"))
	}

	frames := scanRecording(t, rec, v)
	logFrames := func() {
		for i, f := range frames {
			t.Logf("frame %3d at %6v noise %2d boxes %v", i, f.at, f.noise, f.boxes)
		}
	}
	defer func() {
		if t.Failed() {
			logFrames()
		}
	}()

	// Nothing but chat: outside the boxes the picture is the pattern's, in every frame,
	// and every box lies in the first lane, from the top edge down one line of text, or in
	// the second: a scrolling comment that arrives while the top comment shows takes the
	// next lane rather than one a fixed comment holds (checked below, with the top
	// message's frames known).
	const lane = 2*burnFontPx + 4
	first := -1
	var secondLane []int // frames with a box below the first lane
	for i, f := range frames {
		if f.noise > burnNoise {
			t.Fatalf("frame %d at %v differs from the pattern by %d outside the chat %v", i, f.at, f.noise, f.boxes)
		}
		for _, b := range f.boxes {
			switch {
			case b.Min.Y <= 8 && b.Max.Y <= lane:
			case b.Min.Y > 8 && b.Min.Y <= lane && b.Max.Y <= 2*lane:
				secondLane = append(secondLane, i)
			default:
				t.Fatalf("frame %d at %v: chat at %v, outside the first two lanes (rows 0 to %d)", i, f.at, b, 2*lane)
			}
		}
		if first < 0 && len(f.boxes) > 0 {
			first = i
		}
	}
	if first < 0 || frames[first].at < time.Second {
		t.Fatalf("chat first seen in frame %d: want clean frames for the first second", first)
	}

	// The top message: centred, still (its box changes by a pixel or two only as the
	// bars move under its outline), for about 4 s.
	var top image.Rectangle
	var topFrames []int
	still := func(b image.Rectangle) bool {
		return abs(b.Min.X-top.Min.X) <= 3 && abs(b.Max.X-top.Max.X) <= 3 && abs(b.Min.Y-top.Min.Y) <= 3 && abs(b.Max.Y-top.Max.Y) <= 3
	}
	for i, f := range frames {
		for _, b := range f.boxes {
			// The scroll message passes the middle too, but is wider.
			if c := (b.Min.X + b.Max.X) / 2; abs(c-burnW/2) <= 3 && (top.Empty() || abs(b.Dx()-top.Dx()) <= 6) {
				if top.Empty() {
					top = b
				}
				if !still(b) {
					t.Fatalf("the top message moved: %v in frame %d, %v before", b, i, top)
				}
				topFrames = append(topFrames, i)
			}
		}
	}
	if len(topFrames) == 0 {
		t.Fatal("no centred top message in any frame")
	}
	topFirst, topLast := topFrames[0], topFrames[len(topFrames)-1]
	if topFirst != first || len(topFrames) != topLast-topFirst+1 {
		t.Fatalf("top message in frames %v: want every frame from the first with chat (%d) on", topFrames, first)
	}
	if d := frames[topLast].at - frames[topFirst].at; d < 3500*time.Millisecond || d > 4200*time.Millisecond {
		t.Fatalf("top message in view from %v to %v: want about 4 s", frames[topFirst].at, frames[topLast].at)
	}
	if top.Dy() < burnFontPx/2 || top.Dx() < 2*burnFontPx {
		t.Fatalf("top message box %v: want a line of text", top)
	}

	// The scroll message: every other box until the picture is clean again. It enters
	// on the right, leaves on the left, and its left edge moves left at one speed.
	type pos struct {
		at time.Duration
		x  int
	}
	var track []pos
	width, scrollFirst, scrollLast := 0, -1, -1
	for i := first; i < len(frames) && (scrollLast < 0 || len(frames[i].boxes) > 0); i++ {
		for _, b := range frames[i].boxes {
			if i <= topLast && still(b) {
				continue
			}
			if scrollFirst < 0 {
				scrollFirst = i
				if b.Max.X < burnW-1 {
					t.Fatalf("the scroll message first seen at %v, not at the right edge", b)
				}
			}
			scrollLast = i
			if b.Min.X > burnMargin { // not leaving: the left edge is the comment's
				track = append(track, pos{frames[i].at, b.Min.X})
			}
			if b.Min.X > 2 && b.Max.X < burnW-2 {
				width = max(width, b.Dx())
			}
		}
	}
	if len(track) < 30 || width == 0 {
		t.Fatalf("the scroll message in %d frames (fully in view: width %d)", len(track), width)
	}
	if last := frames[scrollLast].boxes[0]; last.Min.X > 2 {
		t.Fatalf("the scroll message last seen at %v, not at the left edge", last)
	}
	for i := 1; i < len(track); i++ {
		if track[i].x > track[i-1].x {
			t.Fatalf("the scroll message moved right: x %d at %v, then %d at %v", track[i-1].x, track[i-1].at, track[i].x, track[i].at)
		}
	}
	slope := fitSlope(track, func(p pos) (float64, float64) { return p.at.Seconds(), float64(p.x) })
	want := -float64(burnW+width) / 8
	if math.Abs(slope-want) > 0.06*math.Abs(want) {
		t.Fatalf("the scroll message moves at %.1f px/s: want (%d + %d) / 8 s = %.1f px/s", slope, burnW, width, want)
	}
	if d := frames[scrollLast].at - frames[scrollFirst].at; d < 7500*time.Millisecond || d > 8500*time.Millisecond {
		t.Fatalf("the scroll message in view for %v: want about 8 s", d)
	}
	if frames[scrollFirst].at > frames[topLast].at {
		t.Fatal("the top and scroll messages were never in view together")
	}
	// The second lane is the scroll message's, taken because it arrived while the top
	// message held the first: only frames from its arrival, and it arrived during the top's.
	for _, i := range secondLane {
		if i < scrollFirst || scrollFirst > topLast {
			t.Fatalf("frame %d at %v has chat in the second lane; the scroll message came in frame %d, the top message left after frame %d", i, frames[i].at, scrollFirst, topLast)
		}
	}
	t.Logf("top message %v for %v; scroll message %d px wide at %.1f px/s (want %.1f) for %v",
		top, frames[topLast].at-frames[topFirst].at, width, slope, want, frames[scrollLast].at-frames[scrollFirst].at)

	// The third message: in view until danmaku/set OFF takes it away mid-screen; then
	// the picture stays clean to the end.
	hideFirst := -1
	for i := scrollLast + 1; i < len(frames); i++ {
		if len(frames[i].boxes) > 0 {
			hideFirst = i
			break
		}
	}
	if hideFirst < 0 {
		t.Fatal("the third message never showed")
	}
	hideLast := hideFirst
	for hideLast+1 < len(frames) && len(frames[hideLast+1].boxes) > 0 {
		hideLast++
	}
	if left := frames[hideLast].boxes[0].Min.X; left < burnW/4 {
		t.Fatalf("the third message left the picture by itself (last seen at x %d): danmaku/set OFF should have removed it", left)
	}
	for i := hideLast + 1; i < len(frames); i++ {
		if len(frames[i].boxes) > 0 {
			t.Fatalf("frame %d at %v shows chat after danmaku/set OFF: %v", i, frames[i].at, frames[i].boxes)
		}
	}
	if clean := frames[len(frames)-1].at - frames[hideLast].at; clean < 700*time.Millisecond {
		t.Fatalf("only %v of clean picture after danmaku/set OFF", clean)
	}
	if strings.Contains(node.Log(), r.key) {
		t.Fatal("stream key in the log")
	}
}

// fitSlope is the least-squares slope of y over x.
func fitSlope[P any](ps []P, xy func(P) (float64, float64)) float64 {
	var n, sx, sy, sxx, sxy float64
	for _, p := range ps {
		x, y := xy(p)
		n++
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

// 500 messages at once, with burn the only carrier and no rate limit: the renderer takes
// what its queue holds, shows what finds a lane within its wait, and drops the rest; every
// message is counted once (received = shown + dropped), the drops in chat_dropped and
// chat_burn_dropped alike and in chat_rejected events whose counts add up; and the stream
// goes on without a stall, every frame sent in the recording.
func TestBurnInLaneSaturation(t *testing.T) {
	peers.Require(t, "ffmpeg", "ffprobe")
	const flood = 500
	r := newBurnRig(t, "burnflood", "burn")
	r.env["CAMNODE_CHAT_RATE"], r.env["CAMNODE_CHAT_USER_RATE"] = "0", "0"
	r.env["CAMNODE_LOG_LEVEL"] = "info"
	r.goLive(t)
	for batch := range flood / 100 {
		msgs := make([]map[string]any, 100)
		for i := range msgs {
			msgs[i] = map[string]any{"text": fmt.Sprintf("刷屏 flood %d", batch*100+i), "user": "u" + strconv.Itoa(i)}
		}
		payload, _ := json.Marshal(msgs)
		peers.Publish(t, r.broker, r.topic("chat"), string(payload))
	}
	// Queued comments wait at most 3 s for a lane: then every message has its fate.
	var ct burnTel
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := r.await(t, len(r.sub.Messages()), "telemetry", func(string) bool { return true }, "telemetry")
		ct = parseBurnTel(t, m.Payload)
		if ct.Received == flood && ct.Shown+ct.Dropped == flood {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chat telemetry %s: want all %d messages received and each shown or dropped", m.Payload, flood)
		}
	}
	if ct.Dropped < flood-64 || ct.Shown < 1 || ct.BurnDropped == nil || *ct.BurnDropped != ct.Dropped {
		t.Fatalf("chat telemetry %+v (burn dropped %v): want at least %d dropped (the renderer queues 64), some shown, all drops in chat_burn_dropped",
			ct, ct.BurnDropped, flood-64)
	}
	// The events: the first few drops one by one, the rest summed up each second.
	summary := regexp.MustCompile(`chat: (\d+) more messages rejected in`)
	single := regexp.MustCompile(`chat: (\d+) message\(s\) not drawn: no free lane`)
	reported := func() int {
		total := 0
		for _, e := range eventsNamed(r, "chat_rejected") {
			if m := summary.FindStringSubmatch(e); m != nil {
				n, _ := strconv.Atoi(m[1])
				total += n
			} else if m := single.FindStringSubmatch(e); m != nil {
				n, _ := strconv.Atoi(m[1])
				total += n
			} else {
				t.Fatalf("unexpected chat_rejected event %s", e)
			}
		}
		return total
	}
	for deadline := time.Now().Add(5 * time.Second); reported() < ct.Dropped && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if n := reported(); n != ct.Dropped {
		t.Fatalf("chat_rejected events count %d drops, telemetry %d", n, ct.Dropped)
	}
	_, telMsg, v := r.stopAndRecord(t)
	t.Logf("flood of %d: %d shown, %d dropped; %d frames recorded (%s)", flood, ct.Shown, ct.Dropped, v.Frames, telMsg)
}

// A source of ready-made H.264 cannot carry burn-in: at ON the node says so with a
// burn_unavailable event. With sei beside burn the chat goes out in the SEI; with burn
// alone each message is rejected with that reason. Both streams run and record.
func TestBurnInNeedsRawFrames(t *testing.T) {
	clip := makeClip(t, "320x240", 60, 30)
	r := newRig(t, "burnfile", clip)
	r.env["CAMNODE_WIDTH"], r.env["CAMNODE_HEIGHT"], r.env["CAMNODE_DANMAKU"] = "320", "240", "burn,sei"
	r.goLive(t)
	e := r.await(t, 0, "event", eventIs("burn_unavailable"), "burn_unavailable").Payload
	if !strings.Contains(e, "needs raw frames") || !strings.Contains(e, "file:"+clip) || !strings.Contains(e, "other carriers only") {
		t.Fatalf("burn_unavailable %s: want why (raw frames, the source) and where chat goes", e)
	}
	peers.Publish(t, r.broker, r.topic("chat"), `{"text":"via sei","id":"s1"}`)
	time.Sleep(1500 * time.Millisecond)
	for _, e := range eventsNamed(r, "chat_rejected") {
		t.Fatalf("chat rejected with sei on: %s", e)
	}

	alone := newRig(t, "burnalone", clip)
	alone.env["CAMNODE_WIDTH"], alone.env["CAMNODE_HEIGHT"], alone.env["CAMNODE_DANMAKU"] = "320", "240", "burn"
	alone.goLive(t)
	e = alone.await(t, 0, "event", eventIs("burn_unavailable"), "burn_unavailable").Payload
	if !strings.Contains(e, "chat is rejected") {
		t.Fatalf("burn_unavailable with burn alone: %s", e)
	}
	from := len(alone.sub.Messages())
	peers.Publish(t, alone.broker, alone.topic("chat"), "hello")
	alone.await(t, from, "event", func(s string) bool {
		return eventIs("chat_rejected")(s) && strings.Contains(s, "chat: burn-in is off for this stream: it needs raw frames")
	}, "chat rejected: burn off")

	rec := stopClip(t, r)
	if got := recordedSEIChat(t, rec); len(got) != 1 || !strings.Contains(got[0], `"via sei"`) {
		t.Fatalf("SEI chat: %q", got)
	}
	stopClip(t, alone)
}

// stopClip stops a clip-fed node and checks its recording.
func stopClip(t *testing.T, r *rig) string {
	t.Helper()
	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "OFF")
	r.await(t, from, "event", eventIs("stream_stopped"), "stream_stopped")
	tel := parseTelemetry(t, r.await(t, len(r.sub.Messages()), "telemetry", func(string) bool { return true }, "telemetry after OFF").Payload)
	recs := r.ingest.WaitPublishEnded(t, r.stream, 1, 10*time.Second)
	if len(recs) != 1 {
		t.Fatalf("recordings: %v", recs)
	}
	checkRecording(t, recs[0], 320, 240, tel.FramesSent)
	return recs[0]
}

// CAMNODE_DANMAKU=auto, the default, chooses by the source when it opens: where the H.264
// goes through, chat goes by SEI and by captions (which YouTube and Twitch show); where
// camnode encodes raw pictures, it is burnt in and sent by SEI, and no captions repeat it.
// Neither is news: no burn_unavailable event.
func TestDanmakuAutoChoosesByTheSource(t *testing.T) {
	clip := makeClip(t, "320x240", 150, 30)
	pass := newRig(t, "autopass", clip)
	pass.env["CAMNODE_WIDTH"], pass.env["CAMNODE_HEIGHT"] = "320", "240"
	pass.env["CAMNODE_HTTP"] = "127.0.0.1:" + strconv.Itoa(peers.FreePort(t))
	delete(pass.env, "CAMNODE_DANMAKU")
	pass.goLive(t)
	if burnt := playerSaysBurntIn(t, pass.env["CAMNODE_HTTP"]); burnt {
		t.Error("passthrough: the player's /status says the chat is burnt in: the page would draw none")
	}
	peers.Publish(t, pass.broker, pass.topic("chat"), `{"text":"Hello auto","user":"bob","id":"a1"}`)
	time.Sleep(3 * time.Second) // captions go out at one byte pair a frame
	// Hiding chat erases the captions: ffmpeg's reader shows a caption when it ends.
	peers.Publish(t, pass.broker, pass.topic("danmaku/set"), "OFF")
	time.Sleep(time.Second)
	rec := stopClip(t, pass)
	if got := recordedSEIChat(t, rec); len(got) != 1 || !strings.Contains(got[0], `"Hello auto"`) {
		t.Fatalf("passthrough: SEI chat %q, want the message once", got)
	}
	if captions := strings.Join(peers.Captions(t, rec), "\n"); !strings.Contains(captions, "bob: Hello auto") {
		t.Fatalf("passthrough: captions %q, want the message", captions)
	}

	raw := newRawRig(t, "autoraw", "yuv420", "yuv420p")
	raw.env["CAMNODE_HTTP"] = "127.0.0.1:" + strconv.Itoa(peers.FreePort(t))
	delete(raw.env, "CAMNODE_DANMAKU")
	node := raw.goLive(t)
	if burnt := playerSaysBurntIn(t, raw.env["CAMNODE_HTTP"]); !burnt {
		t.Error("raw: the player's /status does not say the chat is burnt in: the page would draw each comment a second time")
	}
	peers.Publish(t, raw.broker, raw.topic("chat"), `{"text":"RAW auto 666","user":"eve","mode":"top","color":"#ff3333"}`)
	rec, _ = raw.recordOneRun(t, node)
	if got := recordedSEIChat(t, rec); len(got) != 1 || !strings.Contains(got[0], `"RAW auto 666"`) {
		t.Fatalf("raw: SEI chat %q, want the message once", got)
	}
	if captions := peers.Captions(t, rec); len(captions) != 0 {
		t.Fatalf("raw: captions %q beside the burnt-in chat, want none", captions)
	}
	got, ref := recordedLuma(t, rec), referenceLuma(t, "")
	off, _ := aligned(got, ref)
	laneRows := (rawH/20*2 + 8 + rawBlock - 1) / rawBlock
	drawn := 0
	for i := range got {
		if i+off >= len(ref) {
			break
		}
		for by, row := range blockDiffs(got[i], ref[i+off]) {
			if by < laneRows && slices.Max(row) > rawChanged {
				drawn++
				break
			}
		}
	}
	if drawn < rawFPS {
		t.Fatalf("raw: chat drawn in %d frames, want at least a second of them", drawn)
	}
	for _, r := range []*rig{pass, raw} {
		if e := eventsNamed(r, "burn_unavailable"); len(e) != 0 {
			t.Errorf("%s: burn_unavailable with auto: %v", r.stream, e)
		}
	}
}

// playerSaysBurntIn asks the node's player (its /status, as the page does) whether the
// chat is burnt into the picture.
func playerSaysBurntIn(t *testing.T, addr string) bool {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Live        bool `json:"live"`
		ChatBurntIn bool `json:"chatBurntIn"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || !st.Live {
		t.Fatalf("player /status: %v, live %v", err, st.Live)
	}
	return st.ChatBurntIn
}
