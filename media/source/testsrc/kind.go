package testsrc

import (
	"fmt"

	"github.com/camnode/camnode/media/source/kind"
)

// Kind is this source for package source.
var Kind = kind.Kind{Scheme: "testsrc", Form: "testsrc", Parse: parse}

// spec is testsrc: the live pattern as raw frames where the caller encodes, else as H.264
// (x264 here, or the embedded clip without it).
type spec struct{}

func parse(_, rest string) (kind.Spec, error) {
	if rest != "" && rest != "//" {
		return nil, fmt.Errorf("testsrc takes no parameters, got %q", rest)
	}
	return spec{}, nil
}

func (spec) Describe() string                   { return "testsrc" }
func (spec) Check(kind.Options) (string, error) { return "", nil }

func (spec) Open(o kind.Options) (kind.Opened, error) {
	opts := Options{Width: o.Width, Height: o.Height, FPS: o.FPS, Bitrate: o.Bitrate, GOP: o.GOP, Logger: o.Logger}
	if !o.CanEncode {
		return kind.Opened{H264: New(opts), RawToo: true, What: "source: test pattern"}, nil
	}
	frames, err := NewFrameSource(opts)
	if err != nil {
		return kind.Opened{}, err
	}
	return kind.Opened{Frames: kind.Orient(frames, o.Orientation), What: "source: test pattern",
		Attrs: []any{"orientation", o.Orientation.String()}}, nil
}
