package main

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// probeStreams is what ffprobe counts of each stream of a recording: codec, sample rate
// and the frames it decoded.
type probedStream struct {
	CodecType  string `json:"codec_type"`
	CodecName  string `json:"codec_name"`
	SampleRate string `json:"sample_rate"`
	Frames     string `json:"nb_read_frames"`
}

func probeStreams(t *testing.T, path string) map[string]probedStream {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries",
		"stream=codec_type,codec_name,sample_rate,nb_read_frames", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p struct{ Streams []probedStream }
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	m := map[string]probedStream{}
	for _, s := range p.Streams {
		m[s.CodecType] = s
	}
	return m
}

// decodeErrors decodes every stream of a recording with ffmpeg and returns what it said.
func decodeErrors(t *testing.T, path string) string {
	t.Helper()
	out, _ := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	return strings.TrimSpace(string(out))
}

// recordAudio runs the node with the given CAMNODE_AUDIO (unset: the default) for a few
// seconds of stream and returns the recording and the state payload while live.
func recordAudio(t *testing.T, id, setting string) (string, string, *rig) {
	t.Helper()
	r := newRig(t, id, "")
	r.env["CAMNODE_SOURCE"] = "testsrc"
	if setting != "" {
		r.env["CAMNODE_AUDIO"] = setting
	}
	r.goLive(t)
	state := r.await(t, 0, "state", func(s string) bool { return strings.Contains(s, `"state":"live"`) }, "state live").Payload
	// Three seconds of stream, counted by the node's own telemetry.
	r.await(t, 0, "telemetry", func(s string) bool {
		var tm telemetryMsg
		return json.Unmarshal([]byte(s), &tm) == nil && tm.FramesSent >= 90
	}, "90 frames sent")
	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "OFF")
	r.await(t, from, "event", eventIs("stream_stopped"), "stream_stopped")
	var recs []string
	deadline := time.Now().Add(60 * time.Second)
	for len(recs) == 0 && time.Now().Before(deadline) {
		recs = r.ingest.Recordings(r.stream)
		time.Sleep(200 * time.Millisecond)
	}
	if len(recs) == 0 {
		t.Fatal("nothing recorded")
	}
	return recs[len(recs)-1], state, r
}

// TestAudioDefaultIsSilentAAC: by default the stream carries AAC silence beside the
// video; nginx records both, both decode, the state says "audio":"silent".
func TestAudioDefaultIsSilentAAC(t *testing.T) {
	peers.Require(t, "ffmpeg", "ffprobe")
	rec, state, _ := recordAudio(t, "audiosilent", "")
	if !strings.Contains(state, `"audio":"silent"`) {
		t.Errorf("state %s: want audio silent", state)
	}
	s := probeStreams(t, rec)
	v, a := s["video"], s["audio"]
	vf, _ := strconv.Atoi(v.Frames)
	af, _ := strconv.Atoi(a.Frames)
	// 48000 Hz AAC is 46.875 frames a second; 30 fps video: as many seconds of each.
	if v.CodecName != "h264" || a.CodecName != "aac" || a.SampleRate != "48000" || vf < 60 || af < vf*46/30*3/4 {
		t.Fatalf("recording %s: video %+v, audio %+v", rec, v, a)
	}
	if e := decodeErrors(t, rec); e != "" {
		t.Fatalf("recording %s does not decode: %s", rec, e)
	}
	t.Logf("recorded %d video frames and %d AAC frames", vf, af)
}

// TestAudioNoneAndExec: CAMNODE_AUDIO=none records video only; exec:ffmpeg records the
// program's AAC; a program that fails gives an audio_failed event naming it, and the video
// goes on.
func TestAudioNoneAndExec(t *testing.T) {
	peers.Require(t, "ffmpeg", "ffprobe")
	rec, state, _ := recordAudio(t, "audionone", "none")
	if !strings.Contains(state, `"audio":"none"`) {
		t.Errorf("state %s: want audio none", state)
	}
	if s := probeStreams(t, rec); s["audio"].CodecType != "" || s["video"].CodecName != "h264" {
		t.Fatalf("CAMNODE_AUDIO=none recorded %+v", s)
	}

	rec, state, _ = recordAudio(t, "audioexec", "exec:ffmpeg -hide_banner -loglevel error -re -f lavfi -i sine=frequency=440:sample_rate=44100 -c:a aac -b:a 64k -f adts -")
	if !strings.Contains(state, `"audio":"exec:ffmpeg"`) || strings.Contains(state, "sine") {
		t.Errorf("state %s: want audio exec:ffmpeg, without its arguments", state)
	}
	s := probeStreams(t, rec)
	if s["audio"].CodecName != "aac" || s["audio"].SampleRate != "44100" || s["video"].CodecName != "h264" {
		t.Fatalf("exec audio recorded %+v", s)
	}
	if e := decodeErrors(t, rec); e != "" {
		t.Fatalf("recording %s does not decode: %s", rec, e)
	}

	_, _, r := recordAudio(t, "audiofail", "exec:false --secret-arg")
	found := false
	for _, m := range r.sub.OnTopic(r.topic("event")) {
		if eventIs("audio_failed")(m.Payload) {
			found = true
			if !strings.Contains(m.Payload, "false") || strings.Contains(m.Payload, "secret-arg") {
				t.Errorf("audio_failed %s: want the program named, its arguments not", m.Payload)
			}
		}
	}
	if !found {
		t.Error("no audio_failed event for a program that fails")
	}
}
