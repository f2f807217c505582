package rtsp_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media/rtsp"
	"github.com/camnode/camnode/media/source/testsrc"
)

// TestGStreamerReadsAndDecodes: GStreamer's rtspsrc reads both tracks over TCP and UDP,
// and its decoders (avdec_h264, avdec_aac) decode 60 pictures and 100 audio frames; the
// pipeline then ends (EOS on both sinks) and gst-launch exits 0. An error anywhere (a
// refused DESCRIBE, caps that do not negotiate, a decoding error posted as an ERROR) ends
// it with a non-zero code.
func TestGStreamerReadsAndDecodes(t *testing.T) {
	peers.Require(t, "gst-launch-1.0")
	srv := startServer(t, rtsp.Options{})
	startFeeder(t, srv, testsrc.Options{})
	for _, protocol := range []string{"tcp", "udp"} {
		t.Run(protocol, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "gst-launch-1.0", "-q",
				"rtspsrc", "name=src", "location="+srv.URL(), "protocols="+protocol, "latency=200",
				"src.", "!", "rtph264depay", "!", "h264parse", "!", "avdec_h264", "!", "fakesink", "num-buffers=60",
				"src.", "!", "rtpmp4gdepay", "!", "aacparse", "!", "avdec_aac", "!", "fakesink", "num-buffers=100")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("gst-launch-1.0 %v: %v\n%s", cmd.Args[1:], err, out)
			}
		})
	}
}
