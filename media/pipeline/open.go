package pipeline

import (
	"errors"
	"fmt"
	"strings"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/encoder/v4l2m2m"
	"github.com/camnode/camnode/media/encoder/x264"
	"github.com/camnode/camnode/media/source"
	"github.com/camnode/camnode/media/source/v4l2"
)

// opened is one source as openSource made it: raw says that its frames pass through
// draw (burn-in, snapshots) before the encoder.
type opened struct {
	src media.Source
	raw bool
}

// openSource opens Options.Source for one run, and decides whether the overlay draws into
// it. The source's kind (package source's registry) says what it gives: raw pictures go
// through the encoder, each drawn into first; ready-made H.264 streams as it is, and the
// overlay is then told why it cannot draw, and the other carriers go on. A kind that can
// give either gives raw pictures when burn-in is on and there is an encoder.
func (p *Pipeline) openSource() (opened, error) {
	if p.opts.OpenSource != nil {
		src, err := p.opts.OpenSource()
		return opened{src: src}, err
	}
	spec, err := source.Parse(p.opts.Source)
	if err != nil {
		return opened{}, fmt.Errorf("source: %w", err)
	}
	opts := p.opts.Capture
	if opts.Logger == nil {
		opts.Logger = p.log
	}
	if opts.Profile == "" {
		opts.Profile = p.opts.Encoding.Profile
	}
	opts.Warn = func(msg string) { p.status(Status{Kind: StreamWarning, Err: errors.New(msg)}) }
	ov := p.opts.Overlay
	var burn, wantRaw bool
	if ov != nil {
		burn, wantRaw = ov.Enabled()
	}
	re, encErr := p.rawEncoder()
	opts.CanEncode = encErr == nil
	opts.WantRaw = burn && wantRaw
	o, err := spec.Open(opts)
	if err != nil {
		return opened{}, err
	}
	if o.Frames != nil {
		if encErr != nil {
			if burn {
				ov.Unavailable(noEncoder(encErr))
			}
			what := "raw pictures"
			if opts.Format != "" && opts.Format != "h264" {
				what = opts.Format + " pictures (CAMNODE_SOURCE_FORMAT)"
			}
			return opened{}, fmt.Errorf("source: %s gives %s, which need an encoder: %w", spec.Describe(), what, encErr)
		}
		if burn {
			ov.Drawing()
		}
		p.opts.Carriers.drawn(burn)
		enc := p.opts.Encoding
		enc.FPS, enc.Bitrate, enc.GOP = opts.FPS, opts.Bitrate, opts.GOP
		p.log.Info(o.What, append(o.Attrs, "encoder", re.name, "preset", enc.Preset, "profile", enc.Profile, "burn", burn)...)
		src := encodeRaw(o.Frames, enc, re.open, p.draw)
		if re.fallback != nil {
			fe := src.Open
			src.Open = func() (encoder.Encoder, error) {
				e, err := fe()
				if f, ok := e.(*fittedEncoder); ok {
					f.fallback, f.failedName, f.warn = re.fallback, re.name, opts.Warn
				}
				return e, err
			}
		}
		return opened{src: src, raw: true}, nil
	}
	p.log.Info(o.What, o.Attrs...)
	p.opts.Carriers.drawn(false)
	if burn {
		if !wantRaw {
			ov.Unavailable("the H.264 goes through undecoded")
		} else if o.RawToo && encErr != nil {
			ov.Unavailable(noEncoder(encErr))
		} else {
			ov.Unavailable(fmt.Sprintf("it needs raw frames, and CAMNODE_SOURCE %s delivers ready-made H.264 (use testsrc, a raw CAMNODE_SOURCE_FORMAT or a camera in a raw format)",
				spec.Describe()))
		}
	}
	return opened{src: o.H264}, nil
}

// noEncoder says why burn cannot work without an encoder.
func noEncoder(err error) string {
	return fmt.Sprintf("it draws into raw frames and encodes them, but %v", err)
}

// rawEncoder is the H.264 encoder raw frames go through: its name for the log, and how
// to open one for frames of a size and pixel format.
type rawEncoder struct {
	name string
	open func(encoder.Options, media.PixelFormat) (encoder.Encoder, error)
	// fallback is x264 where "auto" chose the board's hardware encoder: taken, with a
	// stream_warning, when the hardware one fails to open or to code its first pictures.
	fallback *rawEncoder
}

// rawEncoder chooses the encoder of Options.Encoder, and says why there is none: "x264";
// "v4l2m2m" (at v4l2m2m.DefaultDevice) or "v4l2m2m:/dev/videoN"; "auto" (or empty), the
// board's memory-to-memory H.264 encoder when it has one, else x264.
func (p *Pipeline) rawEncoder() (rawEncoder, error) {
	dev := ""
	switch e := p.opts.Encoder; {
	case e == "" || e == "auto":
		if in, ok := v4l2m2m.FindH264(); ok {
			dev = in.Path
		}
	case e == "x264":
	case e == "v4l2m2m":
		dev = v4l2m2m.DefaultDevice
	case strings.HasPrefix(e, "v4l2m2m:"):
		dev = strings.TrimPrefix(e, "v4l2m2m:")
	default:
		return rawEncoder{}, fmt.Errorf("encoder %q: want auto, x264, v4l2m2m or v4l2m2m:/dev/videoN", e)
	}
	if dev != "" {
		in, err := v4l2m2m.Probe(dev)
		if err != nil {
			return rawEncoder{}, fmt.Errorf("H.264 encoder %s: %w", dev, err)
		}
		if !in.H264 {
			return rawEncoder{}, fmt.Errorf("%s (%s) is not an H.264 encoder camnode can use (it codes %s from %s)",
				dev, in.Card, strings.Join(in.Coded, ", "), strings.Join(in.Raw, ", "))
		}
		re := rawEncoder{name: "v4l2m2m:" + dev, open: func(o encoder.Options, f media.PixelFormat) (encoder.Encoder, error) {
			return v4l2m2m.New(o, v4l2m2m.Params{Device: dev, Raw: f})
		}}
		if (p.opts.Encoder == "" || p.opts.Encoder == "auto") && x264.Available() == nil {
			sw := softEncoder()
			re.fallback = &sw
		}
		return re, nil
	}
	if err := x264.Available(); err != nil {
		return rawEncoder{}, err
	}
	return softEncoder(), nil
}

func softEncoder() rawEncoder {
	return rawEncoder{name: "x264 " + x264.Version(), open: func(o encoder.Options, _ media.PixelFormat) (encoder.Encoder, error) {
		return x264.New(o)
	}}
}

// CheckEncoder opens the encoder CAMNODE_ENCODER names (see Options.Encoder) at the size,
// rate and settings of opts and codes one grey picture with it: what `camnode check`
// asks. It returns the encoder's name.
func CheckEncoder(name string, opts encoder.Options) (string, error) {
	re, err := (&Pipeline{opts: Options{Encoder: name}}).rawEncoder()
	if err != nil {
		return "", err
	}
	w, h := opts.Width, opts.Height
	f := &media.Frame{Format: media.PixelI420, Width: w, Height: h, Strides: [3]int{w, w / 2, w / 2}}
	f.Planes[0] = make([]byte, w*h)
	f.Planes[1] = make([]byte, w*h/4)
	f.Planes[2] = make([]byte, w*h/4)
	for _, pl := range f.Planes {
		for i := range pl {
			pl[i] = 128
		}
	}
	for {
		err := encodeOne(re, opts, f)
		if err == nil {
			return re.name, nil
		}
		if re.fallback == nil {
			return re.name, err
		}
		re = *re.fallback
	}
}

func encodeOne(re rawEncoder, opts encoder.Options, f *media.Frame) error {
	enc, err := re.open(opts, f.Format)
	if err != nil {
		return err
	}
	defer enc.Close()
	return enc.Encode(f, true, func(*media.AccessUnit) error { return nil })
}

// encodeRaw turns a raw source into H.264 with the encoder open makes (the settings' FPS,
// bitrate, GOP, preset and profile; the size and pixel format of the frames), drawing
// overlay into each frame first when it is set.
func encodeRaw(frames media.FrameSource, opts encoder.Options, open func(encoder.Options, media.PixelFormat) (encoder.Encoder, error),
	overlay func(*media.Frame) error) *encoder.Source {
	return &encoder.Source{
		Frames:  frames,
		Overlay: overlay,
		Open: func() (encoder.Encoder, error) {
			return &fittedEncoder{opts: opts, frames: frames, open: open}, nil
		},
	}
}

// fittedEncoder is an encoder opened at the size and pixel format of the frames it is
// given: a camera grants the size nearest to the one asked for, known only once it
// delivers. A new size opens a new encoder, whose first picture is an IDR with its SPS
// and PPS.
type fittedEncoder struct {
	opts   encoder.Options
	frames media.FrameSource
	open   func(encoder.Options, media.PixelFormat) (encoder.Encoder, error)
	enc    encoder.Encoder
	width  int
	height int
	format media.PixelFormat
	// fallback, when set, replaces a hardware encoder (failedName) that fails before it
	// has coded fallbackFrames pictures; warn says so.
	fallback   *rawEncoder
	failedName string
	warn       func(string)
	coded      int
}

// fallbackFrames: a hardware encoder that codes this many pictures works.
const fallbackFrames = 3

func (e *fittedEncoder) Encode(f *media.Frame, forceKeyframe bool, emit func(*media.AccessUnit) error) error {
	err := e.encode(f, forceKeyframe, emit)
	if err == nil {
		e.coded++
		return nil
	}
	if e.fallback == nil || e.coded >= fallbackFrames {
		return err
	}
	if e.enc != nil {
		e.enc.Close()
		e.enc = nil
	}
	fb := e.fallback
	e.fallback, e.open = nil, fb.open
	if e.warn != nil {
		e.warn(fmt.Sprintf("the hardware H.264 encoder %s failed (%v): encoding with %s instead, which takes more CPU (CAMNODE_ENCODER=x264 says so for good)", e.failedName, err, fb.name))
	}
	return e.encode(f, true, emit)
}

func (e *fittedEncoder) encode(f *media.Frame, forceKeyframe bool, emit func(*media.AccessUnit) error) error {
	if e.enc == nil || e.width != f.Width || e.height != f.Height || e.format != f.Format {
		if e.enc != nil {
			e.enc.Close()
			e.enc = nil
		}
		opts := e.opts
		opts.Width, opts.Height = f.Width, f.Height
		if fs, ok := e.frames.(*v4l2.FrameSource); ok && fs.Format().FPS > 0 {
			opts.FPS = fs.Format().FPS // the rate the driver granted
		}
		enc, err := e.open(opts, f.Format)
		if err != nil {
			return err
		}
		e.enc, e.width, e.height, e.format = enc, f.Width, f.Height, f.Format
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
