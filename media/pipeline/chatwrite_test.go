package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/flv"
	"github.com/camnode/camnode/media/stream"
)

// stepped delivers its units one at a time, each when the test sends on step.
type stepped struct {
	units []media.AccessUnit
	step  chan struct{}
}

func (s *stepped) Run(ctx context.Context, deliver func(*media.AccessUnit) error) error {
	for i := range s.units {
		select {
		case <-s.step:
		case <-ctx.Done():
			return nil
		}
		au := s.units[i]
		if err := deliver(&au); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

// recordedVideo is the timestamps (ms) of the video tags in nginx's recording so far.
func recordedVideo(ng *peers.Nginx, name string) []uint32 {
	recs := ng.Recordings(name)
	if len(recs) == 0 {
		return nil
	}
	_, tags, _ := flv.ReadFile(recs[len(recs)-1]) // being written: its last tag may be partial
	var ts []uint32
	for _, tag := range tags {
		if tag.Type == flv.TagVideo && len(tag.Body) > 1 && tag.Body[1] == 1 {
			ts = append(ts, tag.Timestamp)
		}
	}
	return ts
}

// No picture waits for the next one, and a picture that carries chat has every output
// flushed: it reaches the ingest before the source gives the next one. The source here gives a picture only when the previous one with
// chat has been recorded by nginx, so a held picture would stall the test.
func TestPictureWithChatIsNotHeld(t *testing.T) {
	ng := peers.StartNginx(t)
	units := clipUnits(t)[:12]
	src := &stepped{units: units, step: make(chan struct{})}
	carriers := NewCarriers(ChatOptions{SEI: true, FrameRate: 30})
	p := New(Options{
		Capture: sourceFPS(30), Targets: []string{ng.URL("chat")}, Carriers: carriers,
		Publish:    stream.Options{FrameRate: 30},
		OpenSource: func() (media.Source, error) { return src, nil },
	})
	p.Start(context.Background())
	defer p.Stop()
	recorded := func(i int) bool {
		want := uint32(units[i].Time / time.Millisecond)
		for _, ts := range recordedVideo(ng, "chat") {
			if ts >= want {
				return true
			}
		}
		return false
	}
	src.step <- struct{}{} // the keyframe goes at once
	waitFor(t, "the keyframe in the recording", func() bool { return recorded(0) })
	for i := 1; i < len(units); i++ {
		if i%3 == 0 {
			if err := carriers.Push(&chat.Message{Text: fmt.Sprintf("hello %d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		src.step <- struct{}{}
		if i%3 == 0 {
			// No next picture comes until this one, which carries chat, is at the ingest.
			waitFor(t, fmt.Sprintf("picture %d with chat in the recording", i), func() bool { return recorded(i) })
		}
	}
}
