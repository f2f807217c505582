package main

// End-to-end tests of CAMNODE_SOURCE=rpicam against a stand-in rpicam-vid
// (internal/tools/rpicamvid: rpicam-apps' own option list, ffmpeg-made H.264 with inline
// headers or yuv420 with 64-byte rows) and nginx-rtmp.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media/encoder/x264"
)

// rpicamStandIn builds the stand-in as rpicam-vid and puts it first on PATH.
func rpicamStandIn(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "rpicam-vid"), "../../internal/tools/rpicamvid").CombinedOutput(); err != nil {
		t.Fatalf("building the rpicam-vid stand-in: %v\n%s", err, out)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// The Pi camera streams to nginx at the size and rate asked, every picture it gave, both
// as H.264 passed through (a Pi 4's encoder) and as yuv420 encoded here (a Pi 5, or burn).
func TestRPiCamSource(t *testing.T) {
	const w, h, fps, frames = 320, 240, 15, 45
	for _, codec := range []string{"h264", "yuv420"} {
		t.Run(codec, func(t *testing.T) {
			peers.Require(t, "ffmpeg", "ffprobe")
			if codec == "yuv420" {
				if err := x264.Available(); err != nil {
					t.Skip(err) // x264 is installed by scripts/deps.sh; the nolibs build has none
				}
			}
			rpicamStandIn(t)
			r := newRig(t, "rpicam-"+codec, "")
			args := filepath.Join(t.TempDir(), "args")
			for k, v := range map[string]string{
				"CAMNODE_SOURCE": "rpicam?codec=" + codec, "CAMNODE_WIDTH": "320", "CAMNODE_HEIGHT": "240",
				"CAMNODE_FPS": "15", "CAMNODE_GOP": "1s", "CAMNODE_BITRATE": "800k", "CAMNODE_ROTATE": "180",
				"CAMNODE_RECONNECT_MIN": "5m", "CAMNODE_RECONNECT_MAX": "10m",
				"RPICAM_STANDIN_FRAMES": "45", "RPICAM_STANDIN_ARGS": args,
			} {
				r.env[k] = v
			}
			r.goLive(t)
			// The stand-in ends after its pictures: the source fails, and is not reopened
			// before the test is done (the reconnect delay is long).
			failed := r.await(t, 0, "event", eventIs("source_failed"), "source_failed when the pictures end")
			if !strings.Contains(failed.Payload, "rpicam-vid") {
				t.Fatalf("source_failed %s: want rpicam-vid named", failed.Payload)
			}
			var tel telemetryMsg
			for deadline := time.Now().Add(60 * time.Second); tel.FramesSent < frames-1; {
				if time.Now().After(deadline) {
					t.Fatalf("telemetry: %d frames sent of %d", tel.FramesSent, frames)
				}
				tel = parseTelemetry(t, r.await(t, len(r.sub.Messages()), "telemetry", func(string) bool { return true }, "telemetry").Payload)
			}
			from := len(r.sub.Messages())
			peers.Publish(t, r.broker, r.topic("stream/set"), "OFF")
			r.await(t, from, "event", eventIs("stream_stopped"), "stream_stopped")
			recs := r.ingest.WaitPublishEnded(t, r.stream, 1, 20*time.Second)
			if len(recs) != 1 {
				t.Fatalf("recordings: %v", recs)
			}
			v := peers.ProbeVideo(t, recs[0])
			if v.Codec != "h264" || v.Width != w || v.Height != h || v.DecodeErrors != "" {
				t.Fatalf("recording: %s %dx%d, decode errors %q; want h264 %dx%d", v.Codec, v.Width, v.Height, v.DecodeErrors, w, h)
			}
			if len(v.Packets) == 0 || !v.Packets[0].Keyframe {
				t.Fatalf("recording: first of %d packets is not a keyframe", len(v.Packets))
			}
			if v.Frames < frames-1 || v.Frames > frames {
				t.Fatalf("recording: %d frames decoded; the camera gave %d", v.Frames, frames)
			}
			b, err := os.ReadFile(args)
			if err != nil {
				t.Fatal(err)
			}
			want := "-n -t 0 -o - --camera 0 --width 320 --height 240 --framerate 15 --codec " + codec
			if codec == "h264" {
				want += " --inline --flush --intra 15 --bitrate 800000 --profile high --level 4.1"
			}
			want += " --rotation 180"
			if got := strings.TrimSpace(string(b)); got != want {
				t.Fatalf("rpicam-vid ran with\n %s\nwant\n %s", got, want)
			}
		})
	}
}

// Without a camera, ON says why in rpicam-vid's own words, in the event and the state.
func TestRPiCamNoCamera(t *testing.T) {
	rpicamStandIn(t)
	r := newRig(t, "rpicam-none", "")
	r.env["CAMNODE_SOURCE"] = "rpicam"
	r.env["RPICAM_STANDIN_NO_CAMERA"] = "1"
	startCamnode(t, r.env)
	r.await(t, 0, "availability", is("online"), "online")
	peers.Publish(t, r.broker, r.topic("stream/set"), "ON")
	want := `ERROR: *** no cameras available ***`
	failed := r.await(t, 0, "event", eventIs("source_failed"), "source_failed")
	if !strings.Contains(failed.Payload, strings.ReplaceAll(want, `"`, `\"`)) || !strings.Contains(failed.Payload, "ribbon cable") {
		t.Fatalf("source_failed %s: want %q and the hint", failed.Payload, want)
	}
	r.await(t, 0, "state", func(s string) bool { return strings.Contains(s, "no cameras available") }, "the state's error")
}
