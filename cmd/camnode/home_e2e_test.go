package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// TestCameraAtHome: the real binary with CAMNODE_RTSP, CAMNODE_HTTP and CAMNODE_ONVIF, as
// Home Assistant finds and plays it. zeep (the SOAP client under Home Assistant's ONVIF
// integration) makes Home Assistant's calls in its order against the node's HTTP listener
// and is given the RTSP URL and the snapshot URL; the snapshot comes with HTTP Digest;
// ffmpeg plays the RTSP URL it was given, over TCP and UDP, at the stream's size with its
// AAC track, decoding from its first frame, beside the RTMP ingest that records the same
// stream. A wrong password is refused, and the password shows nowhere the node writes.
func TestCameraAtHome(t *testing.T) {
	peers.Require(t, "ffmpeg", "ffprobe")
	if err := exec.Command("/usr/bin/python3", "-c", "import zeep").Run(); err != nil {
		peers.Require(t, "python3-zeep (import zeep)")
	}
	clip := makeClip(t, "640x360", 300, 30)
	r := newRig(t, "home", clip)
	const user, password = "cam", "pw-Home-s3cret-9"
	rtspAddr := "127.0.0.1:" + strconv.Itoa(peers.FreePort(t))
	httpAddr := "127.0.0.1:" + strconv.Itoa(peers.FreePort(t))
	for k, v := range map[string]string{"CAMNODE_RTSP": rtspAddr, "CAMNODE_RTSP_USERNAME": user, "CAMNODE_RTSP_PASSWORD": password,
		"CAMNODE_HTTP": httpAddr, "CAMNODE_ONVIF": "true", "CAMNODE_SOURCE": "file://" + clip} {
		r.env[k] = v
	}
	node := r.goLive(t)
	last := r.sub.OnTopic(r.topic("state"))
	var st struct {
		RTSPURL string `json:"rtsp_url"`
	}
	json.Unmarshal([]byte(last[len(last)-1].Payload), &st)
	if st.RTSPURL != "rtsp://"+rtspAddr+"/live" {
		t.Errorf("state rtsp_url %q, want rtsp://%s/live", st.RTSPURL, rtspAddr)
	}

	// Home Assistant's ONVIF calls, through zeep, with the RTSP credentials.
	host, port, _ := net.SplitHostPort(httpAddr)
	wsdl, _ := filepath.Abs("../../media/onvif/testdata/wsdl")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "../../media/onvif/testdata/ha_calls.py", wsdl, host, port, user, password)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ha_calls.py against the node: %v\n%s\n%s", err, stderr.String(), node.Log())
	}
	var got struct {
		Info     map[string]string `json:"info"`
		Profiles []struct {
			Width, Height int
			Audio         *struct{ Encoding string } `json:"audio"`
		} `json:"profiles"`
		StreamURI   string `json:"stream_uri"`
		SnapshotURI string `json:"snapshot_uri"`
		Snapshot    struct {
			Status, Bytes int
			ContentType   string `json:"content_type"`
		} `json:"snapshot"`
		SnapshotNoCreds int `json:"snapshot_without_credentials"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("ha_calls.py output: %v\n%s", err, stdout.String())
	}
	if got.Info["serial"] != "home" || got.Info["manufacturer"] != "camnode" || got.Info["firmware"] == "" {
		t.Errorf("GetDeviceInformation %v: want serial home (the node id), manufacturer camnode, a firmware version", got.Info)
	}
	if len(got.Profiles) != 1 || got.Profiles[0].Width != 640 || got.Profiles[0].Height != 360 || got.Profiles[0].Audio == nil {
		t.Errorf("GetProfiles: %s, want one 640x360 profile with audio", stdout.String())
	}
	if got.StreamURI != "rtsp://"+rtspAddr+"/live" || got.SnapshotURI != "http://"+httpAddr+"/snapshot.jpg" {
		t.Errorf("stream URI %q, snapshot URI %q", got.StreamURI, got.SnapshotURI)
	}
	if got.Snapshot.Status != 200 || got.Snapshot.ContentType != "image/jpeg" || got.Snapshot.Bytes < 1000 || got.SnapshotNoCreds != 401 {
		t.Errorf("snapshot with Digest %+v, without credentials %d", got.Snapshot, got.SnapshotNoCreds)
	}

	// The URL ONVIF gave, played with the credentials over both transports.
	withCreds := strings.Replace(got.StreamURI, "rtsp://", "rtsp://"+user+":"+password+"@", 1)
	for _, transport := range []string{"tcp", "udp"} {
		out := filepath.Join(t.TempDir(), "rtsp-"+transport+".mkv")
		b, err := exec.Command("ffmpeg", "-v", "error", "-y", "-rtsp_transport", transport, "-i", withCreds,
			"-c", "copy", "-frames:v", "90", out).CombinedOutput()
		if err != nil {
			t.Fatalf("ffmpeg over %s: %v\n%s", transport, err, b)
		}
		v := peers.ProbeVideo(t, out)
		if v.Codec != "h264" || v.Width != 640 || v.Height != 360 || v.DecodeErrors != "" || v.Frames < 90 || !v.Packets[0].Keyframe {
			t.Errorf("RTSP over %s: %s %dx%d, %d frames decoded, first key %v, errors %q", transport, v.Codec, v.Width, v.Height,
				v.Frames, len(v.Packets) > 0 && v.Packets[0].Keyframe, v.DecodeErrors)
		}
		audio := false
		for _, tr := range peers.ProbeTracks(t, out) {
			audio = audio || tr.Type == "audio" && tr.Codec == "aac" && tr.SampleRate == 48000
		}
		if !audio {
			t.Errorf("RTSP over %s: no 48 kHz AAC track", transport)
		}
	}
	bad := strings.Replace(got.StreamURI, "rtsp://", "rtsp://"+user+":wrong-password@", 1)
	if b, err := exec.Command("ffprobe", "-v", "error", "-rtsp_transport", "tcp", bad).CombinedOutput(); err == nil || !strings.Contains(string(b), "401") {
		t.Errorf("a wrong password: %v %s", err, b)
	}

	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "OFF")
	r.await(t, from, "event", eventIs("stream_stopped"), "stream_stopped")
	recs := r.ingest.WaitPublishEnded(t, r.stream, 1, 10*time.Second)
	if len(recs) != 1 {
		t.Fatalf("the ingest recorded %v beside RTSP", recs)
	}
	if v := peers.ProbeVideo(t, recs[0]); v.Width != 640 || v.DecodeErrors != "" {
		t.Errorf("the ingest's recording beside RTSP: %dx%d, errors %q", v.Width, v.Height, v.DecodeErrors)
	}
	for _, m := range r.sub.Messages() {
		if strings.Contains(m.Payload, password) {
			t.Errorf("the RTSP password is on %s", m.Topic)
		}
	}
	if strings.Contains(node.Log(), password) {
		t.Error("the RTSP password is in the node's log")
	}
}
