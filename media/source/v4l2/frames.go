package v4l2

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/picture"
)

// FrameSource captures raw pictures (NV12, YU12, YV12, YUYV, UYVY, MJPEG) and delivers
// them as I420 or NV12 media.Frames, for an encoder or for drawing into. Each RunFrames
// opens the device afresh.
type FrameSource struct {
	path    string
	opts    Options
	offered []string // the raw formats camnode can use that the camera lists
	st      counters

	mu      sync.Mutex
	granted Format
	turn    picture.Orientation // what the camera's controls leave to do
}

var _ media.FrameSource = (*FrameSource)(nil)

func newFrameSource(path string, opts Options, offered []string) *FrameSource {
	return &FrameSource{path: path, opts: opts, offered: offered}
}

// OpenFrames checks the camera at path offers a raw format camnode can use (the one
// Options.Format names, if set) and returns its raw source. The device is closed again
// until RunFrames.
func OpenFrames(path string, opts Options) (*FrameSource, error) {
	opts = opts.withDefaults()
	formats, card, err := captureFormats(path, opts.Logger)
	if err != nil {
		return nil, err
	}
	raw, all, _ := sortFormats(formats, opts.Format)
	if len(raw) == 0 {
		if opts.Format != "" {
			return nil, fmt.Errorf("v4l2: %s (%s) does not offer raw format %s (it offers %s; camnode takes %s)",
				path, card, opts.Format, strings.Join(all, ", "), strings.Join(rawNames(), ", "))
		}
		return nil, fmt.Errorf("v4l2: %s (%s) offers no raw format camnode can use (it offers %s; camnode takes %s)",
			path, card, strings.Join(all, ", "), strings.Join(rawNames(), ", "))
	}
	return newFrameSource(path, opts, raw), nil
}

// Stats returns what the source captured, delivered and lost since it was opened.
func (s *FrameSource) Stats() Stats { return s.st.stats() }

// Format returns what the driver granted in the last RunFrames.
func (s *FrameSource) Format() Format {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.granted
}

// Device returns the device path.
func (s *FrameSource) Device() string { return s.path }

// RunFrames delivers frames until ctx ends (nil), the camera fails or deliver fails. A
// buffer that does not convert (a corrupt JPEG, a short buffer) is dropped and counted.
func (s *FrameSource) RunFrames(ctx context.Context, deliver func(*media.Frame) error) (err error) {
	log := s.opts.Logger
	defer recoverCapture(&err, s.path, log)
	cam, err := openCamera(s.path)
	if err != nil {
		return err
	}
	defer closeCamera(cam, log)
	code, f, err := s.configure(cam)
	if err != nil {
		return err
	}
	if err := cam.start(s.opts.Buffers); err != nil {
		return err
	}
	conv := newConverter(code, f)
	s.mu.Lock()
	turn := s.turn
	s.mu.Unlock()
	var turned []byte
	loop := captureLoop{cam: cam, stall: s.opts.StallTimeout, st: &s.st, log: log}
	return loop.run(ctx, func(b buffer, t time.Duration) error {
		fr, err := conv.convert(b.data)
		if err != nil {
			s.st.dropped.Add(1)
			log.Debug("v4l2: frame dropped", "device", s.path, "sequence", b.sequence, "err", err)
			return nil
		}
		if !turn.IsIdentity() {
			var out media.Frame
			if out, turned, err = turn.Apply(turned, fr); err != nil {
				return err
			}
			fr = &out
		}
		fr.Time = t
		s.st.delivered.Add(1)
		return deliver(fr)
	})
}

// configure chooses the raw format, size and rate, sets them and reads back what the
// driver granted.
func (s *FrameSource) configure(cam camera) (uint32, Format, error) {
	if err := checkCapture(cam); err != nil {
		return 0, Format{}, err
	}
	formats, err := cam.formats()
	if err != nil {
		return 0, Format{}, err
	}
	code, w, h, err := chooseRaw(cam, formats, s.opts)
	if err != nil {
		return 0, Format{}, err
	}
	turn, turnSettings, err := applyOrientation(cam, s.opts.Orientation)
	if err != nil {
		return 0, Format{}, err
	}
	f, err := cam.setFormat(code, w, h)
	if err != nil {
		return 0, Format{}, err
	}
	got, ok := fourccCode(f.FourCC)
	if !ok || !isRawSupported(got) {
		return 0, Format{}, fmt.Errorf("v4l2: %s: asked for %s, the driver set %s", s.path, fourccString(code), f.FourCC)
	}
	if f.Width <= 0 || f.Height <= 0 {
		return 0, Format{}, fmt.Errorf("v4l2: %s: the driver set an empty picture size %dx%d", s.path, f.Width, f.Height)
	}
	if f.FPS, err = cam.setRate(s.opts.FPS); err != nil {
		return 0, Format{}, err
	}
	s.mu.Lock()
	s.granted, s.turn = f, turn
	s.mu.Unlock()
	s.opts.Logger.Info("v4l2: camera streaming raw frames", "device", s.path, "card", cam.info().card,
		"format", f.String(), "asked", asked(s.opts), "controls", strings.Join(turnSettings, ", "), "turned_here", turn.String())
	return got, f, nil
}

// chooseRaw picks the raw format to capture: the one Options.Format names, or else the
// one that offers the size asked for at the rate asked for, preferring formats that cost
// the least to convert. A UVC webcam typically offers 1280x720 YUYV at 10 fps but MJPEG at
// 30 fps: for 30 fps that picks MJPEG, for 10 fps YUYV.
func chooseRaw(cam camera, formats []FormatInfo, o Options) (code uint32, w, h int, err error) {
	best, bestScore := -1, -1
	var bw, bh int
	for rank, c := range rawPreference {
		var f *FormatInfo
		for i := range formats {
			if formats[i].code == c {
				f = &formats[i]
			}
		}
		if f == nil || (o.Format != "" && o.Format != f.FourCC) {
			continue
		}
		sizes, err := cam.frameSizes(c)
		if err != nil {
			return 0, 0, 0, err
		}
		sw, sh := pickSize(sizes, o.Width, o.Height)
		score := 0
		if o.Width <= 0 || (sw == o.Width && sh == o.Height) {
			score += 2
		}
		if o.FPS > 0 && sw > 0 && sh > 0 {
			discrete, _, hi, err := cam.frameRates(c, sw, sh)
			if err != nil {
				return 0, 0, 0, err
			}
			if r := maxRate(discrete, hi); r == 0 || r >= o.FPS*0.98 {
				score++
			}
		} else {
			score++
		}
		if score > bestScore {
			best, bestScore, bw, bh = rank, score, sw, sh
		}
	}
	if best < 0 {
		return 0, 0, 0, fmt.Errorf("v4l2: %s offers no raw format camnode can use", cam.path())
	}
	return rawPreference[best], bw, bh, nil
}
