package kind

import (
	"context"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/picture"
)

// Orient turns every frame of frames by o (nothing to do for the identity): for a source
// whose pictures no control of its own can turn.
func Orient(frames media.FrameSource, o picture.Orientation) media.FrameSource {
	if o.IsIdentity() {
		return frames
	}
	return &orientedFrames{frames: frames, o: o}
}

// orientedFrames is a FrameSource whose pictures are turned before they are delivered;
// the turned picture lives in one buffer reused frame after frame.
type orientedFrames struct {
	frames media.FrameSource
	o      picture.Orientation
}

func (s *orientedFrames) RunFrames(ctx context.Context, deliver func(*media.Frame) error) error {
	var buf []byte
	return s.frames.RunFrames(ctx, func(f *media.Frame) error {
		out, b, err := s.o.Apply(buf, f)
		if err != nil {
			return err
		}
		buf = b
		return deliver(&out)
	})
}
