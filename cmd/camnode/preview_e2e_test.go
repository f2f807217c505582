package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/camnode/camnode/internal/peers"
)

// TestPreviewWithoutIngest: with CAMNODE_HTTP and no CAMNODE_RTMP_URL, stream/set ON is a
// preview: the state goes live with no targets, stream_started says where it is served, and
// what ffmpeg reads from the local player decodes at the stream's size. Without any local
// output ON is still refused, naming the settings to set.
func TestPreviewWithoutIngest(t *testing.T) {
	peers.Require(t, "ffmpeg")
	clip := makeClip(t, "640x360", 150, 30)
	r := newRig(t, "preview", clip)
	delete(r.env, "CAMNODE_RTMP_URL")
	addr := "127.0.0.1:" + strconv.Itoa(peers.FreePort(t))
	r.env["CAMNODE_HTTP"] = addr
	node := r.goLive(t)
	ev := r.await(t, 0, "event", eventIs("stream_started"), "stream_started").Payload
	if !strings.Contains(ev, "local outputs only") || !strings.Contains(ev, "http://"+addr+"/") {
		t.Errorf("stream_started says %s", ev)
	}
	var st struct {
		State   string
		Targets []any
	}
	last := r.sub.OnTopic(r.topic("state"))
	if err := json.Unmarshal([]byte(last[len(last)-1].Payload), &st); err != nil || st.State != "live" || len(st.Targets) != 0 {
		t.Fatalf("state %+v (%v), want live without targets", st, err)
	}

	out := filepath.Join(t.TempDir(), "preview.flv")
	cmd := exec.Command("ffmpeg", "-v", "error", "-y", "-i", "http://"+addr+"/live.flv", "-c", "copy", "-frames:v", "60", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg reading the preview: %v\n%s\n%s", err, b, node.Log())
	}
	v := peers.ProbeVideo(t, out)
	if v.Codec != "h264" || v.Width != 640 || v.Height != 360 || v.DecodeErrors != "" || len(v.Packets) < 60 || !v.Packets[0].Keyframe {
		t.Fatalf("preview: %s %dx%d, %d packets, decode errors %q", v.Codec, v.Width, v.Height, len(v.Packets), v.DecodeErrors)
	}
	if i := v.MonotonicDTS(); i >= 0 {
		t.Errorf("the timestamp of packet %d does not increase", i)
	}
	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "OFF")
	r.await(t, from, "event", eventIs("stream_stopped"), "stream_stopped")

	// No ingest and no local output: ON is refused and says what to set.
	r2 := newRig(t, "nooutput", clip)
	delete(r2.env, "CAMNODE_RTMP_URL")
	startCamnode(t, r2.env)
	r2.await(t, 0, "availability", is("online"), "online")
	peers.Publish(t, r2.broker, r2.topic("stream/set"), "ON")
	ev = r2.await(t, 0, "event", eventIs("command_rejected"), "command_rejected").Payload
	if !strings.Contains(ev, "CAMNODE_RTMP_URL") || !strings.Contains(ev, "CAMNODE_HTTP") {
		t.Errorf("the refusal says %s", ev)
	}
}
