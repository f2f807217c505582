package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media/audio"
	"github.com/camnode/camnode/media/rtmp"
	"github.com/camnode/camnode/media/stream"
)

// A file played as fast as the ingests take it (pace=0) into two nginx-rtmp, one of them
// stopped (SIGSTOP: its socket accepts, nothing answers): the stopped one holds the stream
// back once, for the grace, then drops whole GOPs, and the other records every picture of
// the clip, in order, with its audio. (Lossless for every destination, as before, stalled
// the whole pipeline on the stopped one.)
func TestStoppedIngestNeverStallsTheOther(t *testing.T) {
	live, stopped := peers.StartNginx(t), peers.StartNginx(t)
	pid, err := os.ReadFile(filepath.Join(stopped.Prefix, "logs", "nginx.pid"))
	if err != nil {
		t.Fatal(err)
	}
	master, err := strconv.Atoi(strings.TrimSpace(string(pid)))
	if err != nil {
		t.Fatalf("nginx.pid %q", pid)
	}
	// nginx runs in a process group of its own (internal/peers): stop master and worker.
	if err := syscall.Kill(-master, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-master, syscall.SIGCONT) })

	const seconds = 60
	clip := makeClip(t, seconds, 30)
	silence := audio.Silent(48000, 1)
	announced, _ := silence.Config()
	var sts statuses
	p := New(Options{
		Source: "file://" + clip + "?pace=0&loop=0", Capture: sourceFPS(30),
		Targets: []string{live.URL("fan"), stopped.URL("fan")},
		Publish: stream.Options{FrameRate: 30, Audio: announced, RTMP: rtmp.Options{Timeout: 2 * time.Second},
			ReconnectMin: 100 * time.Millisecond, ReconnectMax: time.Second},
		Audio: silence, OnStatus: sts.add,
	})
	p.Start(context.Background())
	waitFor(t, "the end of the clip", func() bool { return len(sts.of(SourceEnded)) == 1 })
	p.Stop()
	st := p.Stats()
	good, dead := st.Destinations[0], st.Destinations[1]
	t.Logf("live ingest: %d sent, %d dropped; stopped ingest: %d sent, %d dropped in %d GOPs",
		good.FramesSent, good.FramesDropped, dead.FramesSent, dead.FramesDropped, dead.GOPsDropped)
	if good.FramesSent != seconds*30 || good.FramesDropped != 0 || dead.GOPsDropped == 0 {
		t.Fatalf("live ingest %d sent, %d dropped; stopped ingest %d GOPs dropped: want all %d sent to the live one, and the stopped one dropping",
			good.FramesSent, good.FramesDropped, dead.GOPsDropped, seconds*30)
	}
	recs := live.WaitPublishEnded(t, "fan", 1, time.Minute)
	tracks := peers.ProbeTracks(t, recs[0])
	if len(tracks) != 2 || tracks[0].Codec != "h264" || tracks[1].Codec != "aac" {
		t.Fatalf("tracks %+v", tracks)
	}
	vp := tracks[0].Packets
	if len(vp) != seconds*30 || !vp[0].Keyframe {
		t.Fatalf("the live ingest recorded %d pictures (first a keyframe: %v), want %d", len(vp), len(vp) > 0 && vp[0].Keyframe, seconds*30)
	}
	for i := 1; i < len(vp); i++ {
		if d := vp[i].DTS - vp[i-1].DTS; d < 33*time.Millisecond || d > 34*time.Millisecond {
			t.Fatalf("the live ingest's recording steps %v at picture %d: want every picture, 1/30 s apart", d, i)
		}
	}
}
