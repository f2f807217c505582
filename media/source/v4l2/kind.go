package v4l2

import (
	"errors"
	"fmt"
	"os"

	"github.com/camnode/camnode/media/source/kind"
)

// Kind is this source for package source.
var Kind = kind.Kind{Scheme: "v4l2", Form: "v4l2:///dev/videoN", Parse: parse}

// spec is v4l2:///dev/videoN: the camera's H.264, or its raw pictures where it has no
// H.264 or where the caller draws into them.
type spec struct{ path string }

func parse(uri, _ string) (kind.Spec, error) {
	path, err := DevicePath(uri)
	if err != nil {
		return nil, err
	}
	return spec{path}, nil
}

func (s spec) Describe() string { return "v4l2:" + s.path }

func (s spec) Check(kind.Options) (string, error) {
	if !Built {
		return "", fmt.Errorf("%v: use exec:, file: or testsrc with this build", ErrNotBuilt)
	}
	if _, err := os.Stat(s.path); err != nil {
		return fmt.Sprintf("camera %s is not there now (unplugged?); streaming starts once it is: check with camnode probe", s.path), nil
	}
	return "", nil
}

func (s spec) Open(o kind.Options) (kind.Opened, error) {
	opts := Options{Width: o.Width, Height: o.Height, FPS: o.FPS, Bitrate: o.Bitrate, GOP: o.GOP,
		Logger: o.Logger, Orientation: o.Orientation}
	if o.WantRaw && o.CanEncode {
		// A camera with its own H.264 encoder and raw formats too: burn asks for the raw
		// ones, encoded here (more CPU, and USB may grant a lower rate raw).
		if frames, err := OpenFrames(s.path, opts); err == nil {
			return kind.Opened{Frames: frames, What: "source: camera, capturing raw pictures for burn-in", Attrs: []any{"device", s.path}}, nil
		}
	}
	src, err := Open(s.path, opts)
	var rawOnly *RawOnlyError
	if errors.As(err, &rawOnly) {
		return kind.Opened{Frames: rawOnly.Frames, What: "source: raw camera, encoding it",
			Attrs: []any{"device", rawOnly.Device, "formats", rawOnly.Formats}}, nil
	}
	if err != nil {
		return kind.Opened{}, err
	}
	return kind.Opened{H264: src, What: "source: H.264 camera", Attrs: []any{"device", s.path}}, nil
}
