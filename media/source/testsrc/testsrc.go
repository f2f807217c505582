// Package testsrc is the source that needs no camera: a live test pattern drawn in Go, as raw frames or encoded to H.264.
package testsrc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	_ "embed"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/encoder/x264"
	"github.com/camnode/camnode/media/source/file"
)

// clip is 1280x720, 30 fps (stated in its VUI), 60 frames, constrained baseline, yuv420p,
// an IDR frame every 30 frames (1 s), about 470 kbit/s, no audio. It stands in for the
// live pattern in builds without an encoder, and feeds tests of H.264 consumers.
//
//go:generate ffmpeg -v error -y -f lavfi -i testsrc2=size=1280x720:rate=30 -t 2 -c:v libx264 -preset veryfast -profile:v baseline -pix_fmt yuv420p -g 30 -keyint_min 30 -sc_threshold 0 -b:v 400k -maxrate 400k -bufsize 800k -f h264 clip.h264
//go:embed clip.h264
var clip []byte

// Clip facts, for tests elsewhere that feed the clip through the pipeline. Width, Height
// and FPS are also the live pattern's defaults.
const (
	Width          = 1280
	Height         = 720
	FPS            = 30
	Frames         = 60 // per pass
	KeyframePeriod = 30 // frames from one IDR to the next
)

// Options tune the test source. Zero fields take defaults: 1280x720 at 30 fps, and the
// encoder's defaults for bitrate and GOP.
type Options struct {
	Width, Height int
	FPS           float64
	Bitrate       int // bits/s
	GOP           int // frames from one IDR to the next
	// Unpaced delivers frames as fast as the consumer takes them instead of in real time;
	// their times still advance one frame duration apart.
	Unpaced bool
	// Overlay, when set, draws into each frame before it is encoded (burned-in danmaku:
	// a render.Renderer's Draw).
	Overlay func(*media.Frame) error
	Logger  *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Width == 0 && o.Height == 0 {
		o.Width, o.Height = Width, Height
	}
	if o.FPS == 0 {
		o.FPS = FPS
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// FrameSource is the live pattern as a media.FrameSource of I420 frames, paced on the
// monotonic clock.
type FrameSource struct {
	opts    Options
	pattern *Pattern
	skipped atomic.Int64
}

var _ media.FrameSource = (*FrameSource)(nil)

// NewFrameSource checks opts and returns the pattern source.
func NewFrameSource(opts Options) (*FrameSource, error) {
	opts = opts.withDefaults()
	p, err := NewPattern(opts.Width, opts.Height, opts.FPS)
	if err != nil {
		return nil, err
	}
	return &FrameSource{opts: opts, pattern: p}, nil
}

// Skipped counts the frames not drawn because the consumer fell more than a frame behind
// real time: like a camera, the pattern then drops frames rather than lag. The frame
// counter on the picture and the frame times jump over them.
func (s *FrameSource) Skipped() int64 { return s.skipped.Load() }

// RunFrames draws frame n at time n/FPS and delivers it then, until ctx ends (nil) or
// deliver fails (its error). The frame is reused: it is valid only during deliver.
func (s *FrameSource) RunFrames(ctx context.Context, deliver func(*media.Frame) error) error {
	f := s.pattern.NewFrame()
	period := time.Duration(float64(time.Second) / s.opts.FPS)
	at := func(n int64) time.Duration {
		return time.Duration(math.Round(float64(n) * float64(time.Second) / s.opts.FPS))
	}
	start := time.Now() // monotonic
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for n := int64(0); ; n++ {
		if err := ctx.Err(); err != nil {
			return nil
		}
		if !s.opts.Unpaced {
			late := time.Since(start) - at(n)
			if late > period {
				skip := int64(late / period)
				s.skipped.Add(skip)
				n += skip
			} else if late < 0 {
				timer.Reset(-late)
				select {
				case <-ctx.Done():
					return nil
				case <-timer.C:
				}
			}
		}
		f.Time = at(n)
		s.pattern.Draw(f, n, time.Now())
		if err := deliver(f); err != nil {
			return err
		}
	}
}

// Source is the test pattern as H.264, encoded with x264 at the size, rate, bitrate and
// GOP of its options. Without x264 (not built in, or libx264 not installed) it plays the embedded 1280x720 clip
// instead, and says so in the log (with an Overlay, which needs raw frames, it fails).
type Source struct {
	opts Options
	live *encoder.Source // nil without x264
}

var (
	_ media.Source            = (*Source)(nil)
	_ media.KeyframeRequester = (*Source)(nil)
)

// New returns the test source; its settings are checked when it runs.
func New(opts Options) *Source {
	s := &Source{opts: opts.withDefaults()}
	if x264.Available() == nil {
		s.live = &encoder.Source{Overlay: s.opts.Overlay, Open: s.openEncoder}
	}
	return s
}

// Live tells whether the source draws and encodes the pattern (true) or plays the
// embedded clip because this camnode has no encoder (false).
func (s *Source) Live() bool { return s.live != nil }

// RequestKeyframe makes the next access unit an IDR picture. Safe from any goroutine.
func (s *Source) RequestKeyframe() error {
	if s.live == nil {
		return errors.New("testsrc: the embedded clip cannot make a keyframe on demand (camnode built without x264)")
	}
	return s.live.RequestKeyframe()
}

func (s *Source) openEncoder() (encoder.Encoder, error) {
	enc, err := x264.New(encoder.Options{Width: s.opts.Width, Height: s.opts.Height, FPS: s.opts.FPS,
		Bitrate: s.opts.Bitrate, GOP: s.opts.GOP})
	if err != nil {
		return nil, fmt.Errorf("testsrc: %w", err)
	}
	s.opts.Logger.Debug("testsrc: live pattern", "width", s.opts.Width, "height", s.opts.Height, "fps", s.opts.FPS,
		"bitrate", enc.Options().Bitrate, "gop", enc.Options().GOP)
	return enc, nil
}

// Run delivers access units until ctx ends (nil) or drawing, encoding or deliver fails.
// The first one is a keyframe.
func (s *Source) Run(ctx context.Context, deliver func(*media.AccessUnit) error) error {
	if s.live == nil {
		if s.opts.Overlay != nil {
			_, err := x264.New(encoder.Options{})
			return fmt.Errorf("testsrc: burn-in needs raw frames encoded here: %w", err)
		}
		s.opts.Logger.Info("testsrc: camnode built without x264; playing the embedded 1280x720 clip instead of the live pattern")
		return file.New("testsrc", func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(clip)), nil
		}, file.Options{Unpaced: s.opts.Unpaced, Logger: s.opts.Logger}).Run(ctx, deliver)
	}
	frames, err := NewFrameSource(s.opts)
	if err != nil {
		return err
	}
	s.live.Frames = frames
	return s.live.Run(ctx, deliver)
}

// Clip returns the Annex-B bytes of the clip. They are shared: do not modify them.
func Clip() []byte { return clip }
