package encoder

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/camnode/camnode/media"
)

// Source turns raw frames into H.264: every frame of Frames goes through Overlay (when
// set; burned-in danmaku), then through an encoder that Open makes for each Run. It is a
// media.Source and a media.KeyframeRequester.
type Source struct {
	Frames  media.FrameSource
	Open    func() (Encoder, error)
	Overlay func(*media.Frame) error

	keyframe atomic.Bool
}

var (
	_ media.Source            = (*Source)(nil)
	_ media.KeyframeRequester = (*Source)(nil)
)

// RequestKeyframe makes the next access unit an IDR picture. Safe from any goroutine.
func (s *Source) RequestKeyframe() error {
	s.keyframe.Store(true)
	return nil
}

// Run opens the encoder, then encodes frames until ctx ends (nil), or the frames, the
// overlay, the encoder or deliver fail (that error). The encoder is closed on return.
func (s *Source) Run(ctx context.Context, deliver func(*media.AccessUnit) error) error {
	if s.Frames == nil || s.Open == nil {
		return errors.New("encoder: Source needs Frames and Open")
	}
	enc, err := s.Open()
	if err != nil {
		return err
	}
	defer enc.Close()
	s.keyframe.Store(false) // a new encoder starts with an IDR anyway
	return s.Frames.RunFrames(ctx, func(f *media.Frame) error {
		if s.Overlay != nil {
			if err := s.Overlay(f); err != nil {
				return fmt.Errorf("encoder: overlay: %w", err)
			}
		}
		return enc.Encode(f, s.keyframe.Swap(false), deliver)
	})
}
