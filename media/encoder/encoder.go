// Package encoder is the seam between raw frames and H.264: the Encoder interface and its settings.
package encoder

import (
	"errors"
	"fmt"
	"math"

	"github.com/camnode/camnode/media"
)

// Encoder turns raw frames into H.264 access units. Implementations (libx264 in
// media/encoder/x264; later the Pi's V4L2 memory-to-memory encoder) are used from one
// goroutine at a time.
type Encoder interface {
	// Encode codes f, as an IDR picture when forceKeyframe is set, and calls emit for each
	// access unit that is ready (with a live tuning, exactly one per frame). The access
	// unit follows the media.AccessUnit rules: its bytes are valid only during emit. Every
	// keyframe carries its SPS and PPS. An error from emit is returned.
	Encode(f *media.Frame, forceKeyframe bool, emit func(*media.AccessUnit) error) error
	// Close frees the encoder; frames still held inside it (only with a non-live tuning)
	// are dropped.
	Close() error
}

// ErrNotBuilt is wrapped by the error an encoder's constructor returns when this camnode
// was built without it (the nox264 build tag, or CGO_ENABLED=0).
var ErrNotBuilt = errors.New("H.264 encoder not built into this camnode")

// ErrNotInstalled is wrapped by the error an encoder's constructor returns when the
// encoder is built in but the shared library it opens at run time is not on this machine
// (the error names the package to install).
var ErrNotInstalled = errors.New("H.264 encoder library not installed")

// Options are the encoder settings. The zero value of each field means its default.
type Options struct {
	Width, Height int     // picture size; both even
	FPS           float64 // frames per second; default 30
	Bitrate       int     // target bits/s; default 2,500,000
	GOP           int     // frames from one IDR to the next; default 2 s of frames
	Preset        string  // x264 preset (ultrafast … placebo); default "veryfast"
	Tune          string  // x264 tune; default "zerolatency" (no frame is held back)
	Profile       string  // "baseline", "main" or "high"; default "high"
}

// Defaults.
const (
	DefaultFPS     = 30
	DefaultBitrate = 2_500_000
	DefaultPreset  = "veryfast"
	DefaultTune    = "zerolatency"
	DefaultProfile = "high"
)

// WithDefaults returns o with every zero field set to its default and checks the result.
func (o Options) WithDefaults() (Options, error) {
	if o.FPS == 0 {
		o.FPS = DefaultFPS
	}
	if o.Bitrate == 0 {
		o.Bitrate = DefaultBitrate
	}
	if o.GOP == 0 {
		o.GOP = int(math.Round(2 * o.FPS))
	}
	if o.Preset == "" {
		o.Preset = DefaultPreset
	}
	if o.Tune == "" {
		o.Tune = DefaultTune
	}
	if o.Profile == "" {
		o.Profile = DefaultProfile
	}
	switch {
	case o.Width < 16 || o.Height < 16 || o.Width > 8192 || o.Height > 8192 || o.Width%2 != 0 || o.Height%2 != 0:
		return o, fmt.Errorf("encoder: picture size %dx%d: want even sides from 16 to 8192", o.Width, o.Height)
	case !(o.FPS > 0 && o.FPS <= 240):
		return o, fmt.Errorf("encoder: frame rate %v: want more than 0 and at most 240", o.FPS)
	case o.Bitrate < 16_000 || o.Bitrate > 200_000_000:
		return o, fmt.Errorf("encoder: bitrate %d bit/s: want 16k to 200M", o.Bitrate)
	case o.GOP < 1 || o.GOP > 10_000:
		return o, fmt.Errorf("encoder: GOP %d frames: want 1 to 10000", o.GOP)
	}
	return o, nil
}

// FrameRate returns fps as a fraction num/den: NTSC rates (29.97 …) as n*1000/1001,
// anything else to the millisecond.
func FrameRate(fps float64) (num, den uint32) {
	if n := math.Round(fps * 1.001); n > 0 && math.Abs(fps-n*1000/1001) < 1e-3 && math.Abs(fps-n) > 1e-3 {
		return uint32(n * 1000), 1001
	}
	num, den = uint32(math.Round(fps*1000)), 1000
	for _, p := range []uint32{2, 5} {
		for num%p == 0 && den%p == 0 {
			num, den = num/p, den/p
		}
	}
	return num, den
}

// CheckFrame returns an error unless f is an I420 or NV12 picture of width x height
// whose planes hold every row their strides say (an encoder reading it must not run off
// the end of a plane).
func CheckFrame(f *media.Frame, width, height int) error {
	if f.Width != width || f.Height != height {
		return fmt.Errorf("frame is %dx%d, encoder opened for %dx%d", f.Width, f.Height, width, height)
	}
	cw, ch := (width+1)/2, (height+1)/2
	type plane struct{ w, h int }
	var planes []plane
	switch f.Format {
	case media.PixelI420:
		planes = []plane{{width, height}, {cw, ch}, {cw, ch}}
	case media.PixelNV12:
		planes = []plane{{width, height}, {2 * cw, ch}}
	default:
		return fmt.Errorf("frame pixel format %d: want I420 or NV12", f.Format)
	}
	for i, p := range planes {
		s := f.Strides[i]
		if s < p.w || len(f.Planes[i]) < s*(p.h-1)+p.w {
			return fmt.Errorf("frame plane %d: %d bytes with stride %d, want %d rows of %d", i, len(f.Planes[i]), s, p.h, p.w)
		}
	}
	return nil
}
