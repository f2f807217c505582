package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// snapshotInfo is the retained <base>/snapshot/info.
type snapshotInfo struct {
	TS     string `json:"ts"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Bytes  int    `json:"bytes"`
	Error  string `json:"error"`
}

// retainedSnapshot reads what the broker keeps on <base>/snapshot (JPEG, through
// mosquitto_sub's hex output) and <base>/snapshot/info.
func (r *rig) retainedSnapshot(t *testing.T) ([]byte, snapshotInfo) {
	t.Helper()
	get := func(topic, format string) string {
		out, err := exec.Command("mosquitto_sub", "-h", "127.0.0.1", "-p", strconv.Itoa(r.broker.Port), "-t", topic,
			"--retained-only", "-C", "1", "-W", "5", "-F", format).Output()
		if err != nil && len(out) == 0 {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	var info snapshotInfo
	if s := get(r.topic("snapshot/info"), "%p"); s != "" {
		if err := json.Unmarshal([]byte(s), &info); err != nil {
			t.Fatalf("snapshot/info %q: %v", s, err)
		}
	}
	b, err := hex.DecodeString(get(r.topic("snapshot"), "%x"))
	if err != nil {
		t.Fatalf("snapshot payload: %v", err)
	}
	return b, info
}

// pressSnapshot presses the snapshot button and waits for a snapshot info newer than
// after; it returns the JPEG and its info.
func (r *rig) pressSnapshot(t *testing.T, after string) ([]byte, snapshotInfo) {
	t.Helper()
	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("snapshot/set"), "PRESS")
	m := r.await(t, from, "snapshot/info", func(s string) bool {
		var i snapshotInfo
		return json.Unmarshal([]byte(s), &i) == nil && i.TS > after
	}, "a new snapshot")
	var info snapshotInfo
	json.Unmarshal([]byte(m.Payload), &info)
	if info.Error != "" {
		t.Fatalf("snapshot failed: %s", info.Error)
	}
	// The JPEG is published before its info: it is retained by now.
	for range 20 {
		b, ri := r.retainedSnapshot(t)
		if ri.TS >= info.TS && len(b) == info.Bytes {
			return b, info
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("the retained JPEG does not match the info %+v", info)
	return nil, info
}

func decodeJPEG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the retained snapshot (%d bytes) is not a JPEG: %v", len(b), err)
	}
	return img
}

// near counts the pixels of img within dist (per channel) of c.
func near(img image.Image, c color.RGBA, dist int) int {
	n := 0
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if abs(int(r>>8)-int(c.R)) <= dist && abs(int(g>>8)-int(c.G)) <= dist && abs(int(b>>8)-int(c.B)) <= dist {
				n++
			}
		}
	}
	return n
}

// TestSnapshotOfABurnedInStream: with the live test pattern and burn-in, a snapshot is
// retained every CAMNODE_SNAPSHOT_INTERVAL while live and on snapshot/set; it decodes as a
// JPEG of the stream's size, and a chat message's colour shows in it (the picture as
// viewers see it). The stream's recording keeps every frame meanwhile.
func TestSnapshotOfABurnedInStream(t *testing.T) {
	peers.Require(t, "ffmpeg", "ffprobe", "mosquitto_sub")
	r := newBurnRig(t, "snapburn", "burn,sei")
	r.env["CAMNODE_SNAPSHOT_INTERVAL"] = "2s"
	r.goLive(t)

	// Periodic: a snapshot arrives by itself while live.
	m := r.await(t, 0, "snapshot/info", func(s string) bool { return strings.Contains(s, `"bytes"`) }, "a periodic snapshot")
	var periodic snapshotInfo
	json.Unmarshal([]byte(m.Payload), &periodic)
	if periodic.Width != burnW || periodic.Height != burnH {
		t.Fatalf("periodic snapshot %+v, want %dx%d", periodic, burnW, burnH)
	}

	base, info := r.pressSnapshot(t, periodic.TS)
	img := decodeJPEG(t, base)
	if img.Bounds().Dx() != burnW || img.Bounds().Dy() != burnH || info.Width != burnW || info.Height != burnH {
		t.Fatalf("snapshot %v (info %+v), want %dx%d", img.Bounds(), info, burnW, burnH)
	}
	// Orange is far from every colour of the pattern (bars at 75%, a grey ramp and panel).
	chat := color.RGBA{0xff, 0x80, 0x00, 0xff}
	before := near(img, chat, 60)

	// A fixed message shows for 4 s: each try sends one and takes a snapshot.
	var after int
	for i := range 8 {
		peers.Publish(t, r.broker, r.topic("chat"), fmt.Sprintf(`{"text":"SNAPSHOT %d 弹幕","mode":"top","color":"#ff8000","id":"snap-%d"}`, i, i))
		time.Sleep(time.Second)
		b, in := r.pressSnapshot(t, info.TS)
		info = in
		after = near(decodeJPEG(t, b), chat, 60)
		t.Logf("try %d: %d pixels of the chat's colour (%d before the chat)", i, after, before)
		if after > before+100 {
			break
		}
	}
	if after <= before+100 {
		t.Fatalf("the chat's colour is not in the snapshot: %d pixels near it, %d before the chat", after, before)
	}

	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "OFF")
	r.await(t, from, "event", eventIs("stream_stopped"), "stream_stopped")
	from = len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("snapshot/set"), "PRESS")
	r.await(t, from, "event", func(s string) bool { return eventIs("command_rejected")(s) && strings.Contains(s, "snapshot") }, "snapshot/set rejected while off")
	recs := r.ingest.Recordings(r.stream)
	if len(recs) == 0 {
		t.Fatal("nothing recorded")
	}
	v := peers.ProbeVideo(t, recs[len(recs)-1])
	if v.DecodeErrors != "" || v.Width != burnW || v.Height != burnH {
		t.Fatalf("recording: %dx%d, decode errors %q", v.Width, v.Height, v.DecodeErrors)
	}
}

// TestSnapshotOfAnH264Source: an H.264 file streams as it is; the snapshot is its keyframe
// decoded with ffmpeg: a JPEG at the clip's size (not CAMNODE_WIDTH x HEIGHT).
func TestSnapshotOfAnH264Source(t *testing.T) {
	peers.Require(t, "ffmpeg", "mosquitto_sub")
	clip := makeClip(t, "320x180", 900, 30)
	r := newRig(t, "snaph264", clip)
	r.env["CAMNODE_SNAPSHOT_INTERVAL"] = "0"
	r.goLive(t)
	b, info := r.pressSnapshot(t, "")
	img := decodeJPEG(t, b)
	if img.Bounds().Dx() != 320 || img.Bounds().Dy() != 180 || info.Width != 320 || info.Height != 180 {
		t.Fatalf("snapshot %v (info %+v), want the clip's 320x180", img.Bounds(), info)
	}
}

// TestSnapshotSaysWhyWithoutDecoder: an H.264-only source on a machine without ffmpeg
// gives no picture; the retained info says why (what to install), and the stream goes on.
func TestSnapshotSaysWhyWithoutDecoder(t *testing.T) {
	peers.Require(t, "ffmpeg", "mosquitto_sub")
	clip := makeClip(t, "320x180", 900, 30)
	r := newRig(t, "snapnoffmpeg", clip)
	r.env["CAMNODE_SNAPSHOT_INTERVAL"] = "0"
	r.env["PATH"] = t.TempDir() // nothing to run: no ffmpeg
	r.goLive(t)
	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("snapshot/set"), "PRESS")
	m := r.await(t, from, "snapshot/info", func(s string) bool { return strings.Contains(s, `"error"`) }, "the snapshot's failure")
	if !strings.Contains(m.Payload, "install ffmpeg") {
		t.Fatalf("snapshot info %s: want why (install ffmpeg)", m.Payload)
	}
	if b, _ := r.retainedSnapshot(t); len(b) != 0 {
		t.Fatalf("a %d-byte picture retained without a decoder", len(b))
	}
	from = len(r.sub.Messages())
	r.await(t, from, "telemetry", func(s string) bool {
		var tm telemetryMsg
		return json.Unmarshal([]byte(s), &tm) == nil && tm.FPS > 0
	}, "the stream going on")
}
