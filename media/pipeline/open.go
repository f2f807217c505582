package pipeline

import (
	"errors"
	"fmt"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/encoder/x264"
	"github.com/camnode/camnode/media/source"
	"github.com/camnode/camnode/media/source/testsrc"
	"github.com/camnode/camnode/media/source/v4l2"
)

// opened is one source as openSource made it: raw says that its frames pass through
// draw (burn-in, snapshots) before the encoder.
type opened struct {
	src media.Source
	raw bool
}

// openSource opens Options.Source for one run, and decides whether the overlay draws into
// it. Raw frames (testsrc, a camera with raw formats only, or with raw formats beside its
// H.264 when burn-in is on) go through x264, each frame through draw first. A source of
// ready-made H.264 only (file:, exec:, a camera without raw formats) streams as it is;
// the overlay is then told why it cannot draw, and the other carriers go on.
func (p *Pipeline) openSource() (opened, error) {
	if p.opts.OpenSource != nil {
		src, err := p.opts.OpenSource()
		return opened{src: src}, err
	}
	opts := p.opts.Capture
	if opts.Logger == nil {
		opts.Logger = p.log
	}
	ov := p.opts.Overlay
	burn := ov != nil && ov.Enabled()
	enc := encoder.Options{FPS: opts.FPS, Bitrate: opts.Bitrate, GOP: opts.GOP}
	src, err := source.Open(p.opts.Source, opts)
	var raw *v4l2.RawOnlyError
	if errors.As(err, &raw) {
		if !x264.Built {
			if burn {
				ov.Unavailable(noEncoder())
			}
			_, xerr := x264.New(encoder.Options{})
			return opened{}, fmt.Errorf("%w: %w", err, xerr)
		}
		if burn {
			ov.Drawing()
		}
		p.log.Info("source: raw camera, encoding with x264", "device", raw.Device, "formats", raw.Formats, "burn", burn)
		return opened{src: encodeRaw(raw.Frames, enc, p.draw), raw: true}, nil
	}
	if err != nil {
		return opened{}, err
	}
	if ts, ok := src.(*testsrc.Source); ok {
		if !ts.Live() {
			if burn {
				ov.Unavailable(noEncoder())
			}
			return opened{src: src}, nil // the embedded clip
		}
		if burn {
			ov.Drawing()
		}
		return opened{src: testsrc.New(testsrc.Options{Width: opts.Width, Height: opts.Height, FPS: opts.FPS,
			Bitrate: opts.Bitrate, GOP: opts.GOP, Overlay: p.draw, Logger: opts.Logger}), raw: true}, nil
	}
	if _, ok := src.(*v4l2.Source); ok && burn && x264.Built {
		// A camera with its own H.264 encoder and raw formats too: burn asks for the raw
		// ones, encoded here (more CPU, and USB may grant a lower rate raw).
		if path, err := v4l2.DevicePath(p.opts.Source); err == nil {
			vo := v4l2.Options{Width: opts.Width, Height: opts.Height, FPS: opts.FPS, Logger: opts.Logger}
			if frames, err := v4l2.OpenFrames(path, vo); err == nil {
				ov.Drawing()
				p.log.Info("source: camera has H.264 and raw formats; capturing raw for burn-in, encoding with x264", "device", path)
				return opened{src: encodeRaw(frames, enc, p.draw), raw: true}, nil
			}
		}
	}
	if burn {
		ov.Unavailable(fmt.Sprintf("it needs raw frames, and CAMNODE_SOURCE %s delivers ready-made H.264 (use testsrc or a camera in a raw format)",
			source.Describe(p.opts.Source)))
	}
	return opened{src: src}, nil
}

// noEncoder says why burn cannot work in a camnode built without x264.
func noEncoder() string {
	_, err := x264.New(encoder.Options{})
	return fmt.Sprintf("it draws into raw frames and encodes them, but %v", err)
}

// encodeRaw turns a raw source into H.264 with x264 (the settings' FPS, bitrate and GOP;
// the size of the frames), drawing overlay into each frame first when it is set.
func encodeRaw(frames media.FrameSource, opts encoder.Options, overlay func(*media.Frame) error) *encoder.Source {
	return &encoder.Source{
		Frames:  frames,
		Overlay: overlay,
		Open: func() (encoder.Encoder, error) {
			return &fittedEncoder{opts: opts, frames: frames}, nil
		},
	}
}

// fittedEncoder is x264 opened at the size of the frames it is given: a camera grants
// the size nearest to the one asked for, known only once it delivers. A new size opens
// a new encoder, whose first picture is an IDR with its SPS and PPS.
type fittedEncoder struct {
	opts   encoder.Options
	frames media.FrameSource
	enc    *x264.Encoder
}

func (e *fittedEncoder) Encode(f *media.Frame, forceKeyframe bool, emit func(*media.AccessUnit) error) error {
	if e.enc == nil || e.enc.Options().Width != f.Width || e.enc.Options().Height != f.Height {
		if e.enc != nil {
			e.enc.Close()
			e.enc = nil
		}
		opts := e.opts
		opts.Width, opts.Height = f.Width, f.Height
		if fs, ok := e.frames.(*v4l2.FrameSource); ok && fs.Format().FPS > 0 {
			opts.FPS = fs.Format().FPS // the rate the driver granted
		}
		enc, err := x264.New(opts)
		if err != nil {
			return err
		}
		e.enc = enc
	}
	return e.enc.Encode(f, forceKeyframe, emit)
}

func (e *fittedEncoder) Close() error {
	if e.enc == nil {
		return nil
	}
	err := e.enc.Close()
	e.enc = nil
	return err
}

// captureDropped reads a camera's count of frames lost in capture, through the encoder
// when raw frames are encoded here.
func captureDropped(src any) uint64 {
	if es, ok := src.(*encoder.Source); ok {
		src = es.Frames
	}
	if c, ok := src.(interface{ Stats() v4l2.Stats }); ok {
		return c.Stats().Dropped
	}
	return 0
}
