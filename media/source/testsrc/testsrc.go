// Package testsrc is a media.Source that needs no camera: a 2 s 720p30 H.264 test pattern, looped.
package testsrc

import (
	"bytes"
	"io"
	"log/slog"

	_ "embed"

	"github.com/camnode/camnode/media/source/file"
)

// clip is 1280x720, 30 fps (stated in its VUI), 60 frames, constrained baseline, yuv420p,
// an IDR frame every 30 frames (1 s), about 470 kbit/s, no audio.
//
//go:generate ffmpeg -v error -y -f lavfi -i testsrc2=size=1280x720:rate=30 -t 2 -c:v libx264 -preset veryfast -profile:v baseline -pix_fmt yuv420p -g 30 -keyint_min 30 -sc_threshold 0 -b:v 400k -maxrate 400k -bufsize 800k -f h264 clip.h264
//go:embed clip.h264
var clip []byte

// Clip facts, for tests elsewhere that feed the clip through the pipeline.
const (
	Width          = 1280
	Height         = 720
	FPS            = 30
	Frames         = 60 // per pass
	KeyframePeriod = 30 // frames from one IDR to the next
)

// Options tune the test source.
type Options struct {
	// Unpaced delivers frames as fast as the consumer takes them instead of at 30 fps.
	Unpaced bool
	Logger  *slog.Logger
}

// New returns a source that loops the clip forever, paced like the file source.
func New(opts Options) *file.Source {
	return file.New("testsrc", func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(clip)), nil
	}, file.Options{Unpaced: opts.Unpaced, Logger: opts.Logger})
}

// Clip returns the Annex-B bytes of the clip. They are shared: do not modify them.
func Clip() []byte { return clip }
