package rtsp_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"

	"github.com/camnode/camnode/media"
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
	srv := startServer(t, rtsp.Options{AudioWait: 300 * time.Millisecond})
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
