// Package v4l2 is the camera source: H.264 or raw capture from a V4L2 device through go4vl, and the camera probe.
package v4l2

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/picture"
)

// Defaults for the zero fields of Options.
const (
	DefaultBuffers      = 4
	DefaultStallTimeout = 5 * time.Second
)

// Options are the capture settings. The zero value of a field leaves that setting to the
// driver (size, rate, bitrate, GOP) or takes the default (buffers, stall timeout).
type Options struct {
	Width, Height int     // wanted picture size; the driver grants the nearest it has
	FPS           float64 // wanted frame rate; the driver grants the nearest it has
	Bitrate       int     // bits/s, for a camera with an H.264 encoder
	GOP           int     // frames from one IDR to the next, for a camera with an H.264 encoder
	// Format is the raw FourCC OpenFrames captures ("YUYV", "MJPG", "NV12", "YU12",
	// "YV12", "UYVY", "JPEG"); empty chooses the best the camera offers. Open (H.264)
	// ignores it.
	Format string
	// Buffers is the number of driver buffers; DefaultBuffers when 0.
	Buffers int
	// StallTimeout is how long Run waits for a frame before it gives the camera up as
	// lost; DefaultStallTimeout when 0.
	StallTimeout time.Duration
	Logger       *slog.Logger
	// Orientation turns the picture: through the camera's rotate, horizontal_flip and
	// vertical_flip controls where it has them; what they cannot do is done on raw frames
	// (OpenFrames), and left undone for H.264 (Open; see Source.Unapplied).
	Orientation picture.Orientation
}

func (o Options) withDefaults() Options {
	if o.Buffers <= 0 {
		o.Buffers = DefaultBuffers
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Format = strings.ToUpper(strings.TrimSpace(o.Format))
	return o
}

// Stats count what a source captured since it was opened. Safe to read from any goroutine.
type Stats struct {
	Captured  uint64 // buffers the driver filled and handed over
	Delivered uint64 // access units or frames passed to deliver
	// Dropped counts frames lost before delivery: gaps in the driver's sequence numbers
	// (the camera produced a frame nobody took in time) and buffers flagged as bad.
	Dropped      uint64
	BufferErrors uint64 // buffers the driver flagged V4L2_BUF_FLAG_ERROR (counted in Dropped too)
}

// Format is what the driver granted: read back after setting, not what was asked for.
type Format struct {
	FourCC        string
	Width, Height int
	FPS           float64 // 0 when the driver does not say
	BytesPerLine  int
	SizeImage     int
}

func (f Format) String() string {
	s := fmt.Sprintf("%s %dx%d", f.FourCC, f.Width, f.Height)
	if f.FPS > 0 {
		s += fmt.Sprintf(" at %s fps", formatFPS(f.FPS))
	}
	return s
}

// ErrNotBuilt is wrapped by every error of a camnode built without V4L2 support (not
// Linux, or CGO_ENABLED=0: go4vl needs cgo).
var ErrNotBuilt = errors.New("V4L2 camera support not built into this camnode (needs Linux and cgo)")

// ErrNeedsEncoder is matched (errors.Is) by the error for a camera that offers only raw
// formats, which camnode must encode to H.264 itself.
var ErrNeedsEncoder = errors.New("camera needs an H.264 encoder")

// RawOnlyError is the error of Open for a camera without H.264: it names the raw formats
// the camera offers and carries the raw source, ready to run through an encoder.
type RawOnlyError struct {
	Device  string
	Formats []string // FourCCs the camera offers
	Frames  *FrameSource
}

func (e *RawOnlyError) Error() string {
	return fmt.Sprintf("camera %s offers only raw formats (%s); camnode needs an H.264 encoder for it",
		e.Device, strings.Join(e.Formats, ", "))
}

// Is makes errors.Is(err, ErrNeedsEncoder) true.
func (e *RawOnlyError) Is(target error) bool { return target == ErrNeedsEncoder }

// NeedsEncoderError returns the error to report when fs, a raw source, has no encoder to
// feed: for a V4L2 FrameSource it names the device and its formats.
func NeedsEncoderError(fs media.FrameSource) error {
	if f, ok := fs.(*FrameSource); ok && f != nil {
		return &RawOnlyError{Device: f.path, Formats: f.offered, Frames: f}
	}
	return fmt.Errorf("the source delivers raw frames; camnode needs an H.264 encoder for it: %w", ErrNeedsEncoder)
}

// formatFPS prints 25, 29.97 or 12.5, not 25.000000.
func formatFPS(fps float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", fps), "0"), ".")
}

// fourccString turns a V4L2 pixel format code into its four letters ("YUYV"); the code
// holds them little-endian, first letter in the low byte. Trailing spaces are trimmed.
func fourccString(code uint32) string {
	b := []byte{byte(code), byte(code >> 8), byte(code >> 16), byte(code >> 24)}
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return strings.TrimRight(string(b), " ")
}

// fourccCode is the inverse of fourccString; short names are padded with spaces (as
// "Y16 "), and ok is false for more than four letters.
func fourccCode(s string) (uint32, bool) {
	if s == "" || len(s) > 4 {
		return 0, false
	}
	s = (s + "    ")[:4]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24, true
}

// FourCC codes camnode handles.
var (
	fccH264  = mustFourCC("H264")
	fccYUYV  = mustFourCC("YUYV")
	fccUYVY  = mustFourCC("UYVY")
	fccNV12  = mustFourCC("NV12")
	fccYU12  = mustFourCC("YU12")
	fccYV12  = mustFourCC("YV12")
	fccMJPEG = mustFourCC("MJPG")
	fccJPEG  = mustFourCC("JPEG")
)

func mustFourCC(s string) uint32 {
	c, ok := fourccCode(s)
	if !ok {
		panic("v4l2: bad FourCC " + s)
	}
	return c
}

// rawPreference lists the raw formats camnode can turn into media.Frames, best first:
// the planar 4:2:0 ones go through without a copy, the packed 4:2:2 ones cost a cheap
// conversion, and (M)JPEG costs a decode.
var rawPreference = []uint32{fccNV12, fccYU12, fccYV12, fccYUYV, fccUYVY, fccMJPEG, fccJPEG}

func isRawSupported(code uint32) bool {
	for _, c := range rawPreference {
		if c == code {
			return true
		}
	}
	return false
}
