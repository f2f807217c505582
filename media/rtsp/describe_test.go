package rtsp_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/rtsp"
	"github.com/camnode/camnode/media/source/testsrc"
)

// lateAudio holds the audio back from the output until let is set: an audio program
// that starts after the video.
type lateAudio struct {
	*rtsp.Server
	let atomic.Bool
}

func (l *lateAudio) WriteAudio(ctx context.Context, f *media.AudioFrame) error {
	if !l.let.Load() {
		return nil
	}
	return l.Server.WriteAudio(ctx, f)
}

// describe asks for the stream's description with gortsplib's client: its media types.
func describe(t testing.TB, url string) []string {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatalf("DESCRIBE: %v", err)
	}
	var types []string
	for _, m := range desc.Medias {
		types = append(types, string(m.Type))
	}
	return types
}

// TestLateAudioDescribedAgain: without audio by AudioWait the stream is described with
// its video alone; when the audio starts, the readers of that description are closed and
// the next DESCRIBE has both tracks.
func TestLateAudioDescribedAgain(t *testing.T) {
	srv := startServer(t, rtsp.Options{AudioWait: -1}) // no audio expected: described at once
	out := &lateAudio{Server: srv}
	startFeeder(t, out, testsrc.Options{Width: 320, Height: 240})
	waitFor(t, "the stream to be live", 60*time.Second, func() bool { return srv.Stats().Live })
	if got := describe(t, srv.URL()); len(got) != 1 || got[0] != "video" {
		t.Fatalf("described %v before the audio, want [video]", got)
	}
	p, err := play(t, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reader to receive", 60*time.Second, func() bool { return p.packets.Load() > 30 })
	out.let.Store(true)
	ended := make(chan error, 1)
	go func() { ended <- p.client.Wait() }()
	select {
	case <-ended:
	case <-time.After(60 * time.Second):
		t.Fatal("the reader of the video-only description was not closed")
	}
	if got := describe(t, srv.URL()); len(got) != 2 || got[0] != "video" || got[1] != "audio" {
		t.Errorf("described %v after the audio started, want [video audio]", got)
	}
	if st := srv.Stats(); st.Cut != 0 {
		t.Errorf("stats %+v: a reader closed for a new description is not cut", st)
	}
}

// TestNewParameterSetsMidStream: when the parameter sets change within a stream (the
// camera changes its size), the readers keep playing with the new ones in band, and
// players that ask next get them in the SDP.
func TestNewParameterSetsMidStream(t *testing.T) {
	peers.Require(t, "ffprobe")
	srv := startServer(t, rtsp.Options{})
	out := &switching{Server: srv}
	startFeeder(t, out, testsrc.Options{Width: 640, Height: 360})
	waitFor(t, "the stream to be live", 60*time.Second, func() bool { return srv.Stats().Live })
	if got, err := ffprobeStream(t, srv.URL()); err != nil || got != "640x360" {
		t.Fatalf("before: %q, %v; want 640x360", got, err)
	}
	p, err := play(t, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	// The second source's units, with their own parameter sets, continue the stream.
	second := startFeeder(t, out.second(), testsrc.Options{Width: 320, Height: 240})
	waitFor(t, "the second size to flow", 60*time.Second, func() bool { return second.frames.Load() > 30 })
	if got, err := ffprobeStream(t, srv.URL()); err != nil || got != "320x240" {
		t.Errorf("after: %q, %v; want 320x240", got, err)
	}
	before := p.packets.Load()
	waitFor(t, "the reader to keep playing", 60*time.Second, func() bool { return p.packets.Load() > before+30 })
	if st := srv.Stats(); st.Joined != 3 || st.Cut != 0 {
		t.Errorf("stats %+v: want 3 readers joined, none cut", st)
	}
}

// switching is the output fed by one source and then, once second is called, by another
// only: a camera whose stream changes its parameter sets. Run is the first feeder's.
type switching struct {
	*rtsp.Server
	switched atomic.Bool
}

func (s *switching) WriteVideo(ctx context.Context, au *media.AccessUnit, ps *h264.ParameterSets) error {
	if s.switched.Load() {
		return nil
	}
	return s.Server.WriteVideo(ctx, au, ps)
}

func (s *switching) WriteAudio(ctx context.Context, f *media.AudioFrame) error {
	if s.switched.Load() {
		return nil
	}
	return s.Server.WriteAudio(ctx, f)
}

// second returns the output for the second source: its units go on (its Run does
// nothing: the stream is the first feeder's), and the first source's stop.
func (s *switching) second() media.Output {
	s.switched.Store(true)
	return secondSource{s.Server}
}

type secondSource struct{ *rtsp.Server }

func (secondSource) Run(ctx context.Context) error { <-ctx.Done(); return nil }
