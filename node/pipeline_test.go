package node

import (
	"context"
	"testing"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/source/v4l2"
)

// lossyCamera stands for a camera source that lost frames in capture.
type lossyCamera struct{ dropped uint64 }

func (c *lossyCamera) Stats() v4l2.Stats { return v4l2.Stats{Dropped: c.dropped} }
func (c *lossyCamera) RunFrames(context.Context, func(*media.Frame) error) error {
	return nil
}

// A camera's capture losses reach frames_dropped whether its H.264 streams as it is or its
// raw frames are encoded here, and those of sources already closed are kept.
func TestCaptureLossesAreCounted(t *testing.T) {
	cam := &lossyCamera{dropped: 3}
	if got := captureDropped(cam); got != 3 {
		t.Fatalf("camera: %d dropped, want 3", got)
	}
	if got := captureDropped(&encoder.Source{Frames: cam}); got != 3 {
		t.Fatalf("camera through the encoder: %d dropped, want 3", got)
	}
	if got := captureDropped(nil); got != 0 {
		t.Fatalf("no source: %d dropped", got)
	}
	p := &pipeline{srcDropped: 4, src: &encoder.Source{Frames: cam}}
	if got := p.sourceDropped(); got != 7 {
		t.Fatalf("pipeline: %d dropped, want 4 closed + 3 current", got)
	}
}
