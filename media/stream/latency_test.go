//go:build !(386 || arm || mips || mipsle)

package stream

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/source"
)

// testUnits takes the first n access units of the test source, copied, with their
// parameter sets.
func testUnits(t testing.TB, n int) ([]media.AccessUnit, *media.ParameterSetTracker) {
	t.Helper()
	src, err := source.Open("testsrc", source.Options{Width: 320, Height: 240, FPS: 30, GOP: 30})
	if err != nil {
		t.Fatal(err)
	}
	out := takeUnits(src, n)
	if len(out) < n || !out[0].Keyframe || out[1].Keyframe {
		t.Fatalf("the test source gave %d units, want a keyframe and a picture that is not", len(out))
	}
	return out, &media.ParameterSetTracker{}
}

// A picture reaches the ingest as soon as it is written, while the writer is idle: it does
// not wait for the next picture to share a write (that made every other picture a frame
// interval older at the viewer). nginx-rtmp records what it receives as it comes; the
// recording must hold the keyframe and the picture after it while no third picture comes.
func TestPublisherSendsEachPictureWithoutWaitingForTheNext(t *testing.T) {
	ng := peers.StartNginx(t)
	aus, params := testUnits(t, 2)
	p := New(Options{URL: ng.URL("each"), FrameRate: 30})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); p.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	recorded := func(what, want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var got string
			if files := ng.Recordings("each"); len(files) == 1 {
				got = flvSummary(t, files[0])
			}
			if strings.HasSuffix(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: nginx recorded %q, want it to end in %q (stats %+v)", what, got, want, p.Stats())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i, want := range []string{"SK", "SKP"} {
		ps, err := params.Next(&aus[i])
		if err != nil || ps == nil {
			t.Fatalf("unit %d: parameter sets %v, %v", i, ps, err)
		}
		if err := p.WriteVideo(ctx, &aus[i], ps); err != nil {
			t.Fatal(err)
		}
		recorded([]string{"the keyframe", "the picture after the keyframe, with no picture after it"}[i], want)
	}
}
