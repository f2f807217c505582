package node

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

// openSource opens CAMNODE_SOURCE for one run of the pipeline, and decides whether burn
// draws into it. Raw frames (testsrc, a camera with raw formats only, or with raw formats
// beside its H.264 when burn is on) go through x264, with the burn carrier's overlay when
// CAMNODE_DANMAKU names burn. A source of ready-made H.264 only (file:, exec:, a camera
// without raw formats) streams as it is; burn is then off for the stream, with a
// burn_unavailable event, and the other carriers go on.
func (n *Node) openSource() (media.Source, error) {
	cfg := n.cfg
	opts := source.Options{
		Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS,
		Bitrate: int(cfg.Bitrate), GOP: cfg.GOP.Frames(cfg.FPS), Logger: n.log,
	}
	b := n.chat.burn
	var overlay func(*media.Frame) error
	if b.usable() {
		overlay = b.draw
	}
	src, err := source.Open(cfg.Source, opts)
	var raw *v4l2.RawOnlyError
	if errors.As(err, &raw) {
		if !x264.Built {
			if overlay != nil {
				b.off(noEncoder())
			}
			_, xerr := x264.New(encoder.Options{})
			return nil, fmt.Errorf("%w: %w", err, xerr)
		}
		if overlay != nil {
			b.drawing()
		}
		n.log.Info("source: raw camera, encoding with x264", "device", raw.Device, "formats", raw.Formats, "burn", overlay != nil)
		return encodeRaw(raw.Frames, encoder.Options{FPS: cfg.FPS, Bitrate: opts.Bitrate, GOP: opts.GOP}, overlay), nil
	}
	if err != nil {
		return nil, err // burn's fate is decided when the source opens
	}
	if ts, ok := src.(*testsrc.Source); ok && overlay != nil {
		if !ts.Live() {
			b.off(noEncoder())
			return src, nil // the embedded clip
		}
		b.drawing()
		return testsrc.New(testsrc.Options{Width: opts.Width, Height: opts.Height, FPS: opts.FPS,
			Bitrate: opts.Bitrate, GOP: opts.GOP, Overlay: overlay, Logger: n.log}), nil
	}
	if _, ok := src.(*v4l2.Source); ok && overlay != nil && x264.Built {
		// A camera with its own H.264 encoder and raw formats too: burn asks for the raw
		// ones, encoded here (more CPU, and USB may grant a lower rate raw).
		if path, err := v4l2.DevicePath(cfg.Source); err == nil {
			if frames, err := v4l2.OpenFrames(path, v4l2.Options{Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS, Logger: n.log}); err == nil {
				b.drawing()
				n.log.Info("source: camera has H.264 and raw formats; capturing raw for burn-in, encoding with x264", "device", path)
				return encodeRaw(frames, encoder.Options{FPS: cfg.FPS, Bitrate: opts.Bitrate, GOP: opts.GOP}, overlay), nil
			}
		}
	}
	if overlay != nil {
		b.off(fmt.Sprintf("it needs raw frames, and CAMNODE_SOURCE %s delivers ready-made H.264 (use testsrc or a camera in a raw format)",
			source.Describe(cfg.Source)))
	}
	return src, nil
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
