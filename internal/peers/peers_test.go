package peers

import (
	"os/exec"
	"testing"
	"time"
)

// The harness itself: a retained message reaches a late subscriber, and a clip pushed by
// ffmpeg is recorded by nginx-rtmp and decodes with the right size and frame count.
func TestPeersWork(t *testing.T) {
	m := StartMosquitto(t)
	Publish(t, m, "t/x", "hello", "-r")
	s := Subscribe(t, m, "t/#")
	if msg, ok := s.WaitFor(func(m Message) bool { return m.Topic == "t/x" }, 5*time.Second); !ok || msg.Payload != "hello" || !msg.Retained {
		t.Fatalf("retained message: got %+v ok=%v", msg, ok)
	}

	n := StartNginx(t)
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-frames:v", "50", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25",
		"-f", "flv", n.URL("harness"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg push: %v\n%s", err, out)
	}
	recs := n.WaitPublishEnded(t, "harness", 1, 10*time.Second)
	if len(recs) != 1 {
		t.Fatalf("recordings: %v", recs)
	}
	v := ProbeVideo(t, recs[0])
	if v.Codec != "h264" || v.Width != 320 || v.Height != 240 || v.Frames != 50 || len(v.Packets) != 50 || !v.Packets[0].Keyframe || v.DecodeErrors != "" {
		t.Fatalf("recording: %+v", v)
	}
	if i := v.MonotonicDTS(); i >= 0 {
		t.Fatalf("dts not monotonic at %d", i)
	}
}
