package file

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"

	"github.com/camnode/camnode/media/source/kind"
)

// Kind is this source for package source.
var Kind = kind.Kind{Scheme: "file", Form: "file:///path.h264 (or file:relative/path.h264)", Parse: parse}

// spec is a file: URI: file:///abs/clip.h264 or file:relative/clip.h264, with ?pace=0
// (as fast as consumed) and ?loop=0 (play once).
type spec struct {
	path string
	opts Options
}

func parse(uri, _ string) (kind.Spec, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("file: URI: %w", err)
	}
	path := u.Path
	if u.Opaque != "" { // file:relative/path
		if path, err = url.PathUnescape(u.Opaque); err != nil {
			return nil, fmt.Errorf("file: URI: %w", err)
		}
	}
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("file: URI %q names host %q: write file:///absolute/path.h264 or file:relative/path.h264", uri, u.Host)
	}
	if path == "" {
		return nil, errors.New("file: needs a path, e.g. file:///home/pi/clip.h264")
	}
	s := &spec{path: path}
	for k, v := range u.Query() {
		var flag *bool // set when the parameter is 0
		switch k {
		case "pace":
			flag = &s.opts.Unpaced
		case "loop":
			flag = &s.opts.Once
		default:
			return nil, fmt.Errorf("file: unknown parameter %q in URI (want pace, loop)", k)
		}
		on, err := strconv.ParseBool(v[len(v)-1])
		if err != nil {
			return nil, fmt.Errorf("file: %s=%q in URI is not 0 or 1", k, v[len(v)-1])
		}
		*flag = !on
	}
	return s, nil
}

func (s *spec) Describe() string { return "file:" + s.path }

func (s *spec) Check(kind.Options) (string, error) {
	st, err := os.Stat(s.path)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %v", s.path, errors.Unwrap(err))
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", s.path)
	}
	return "", nil
}

func (s *spec) Open(o kind.Options) (kind.Opened, error) {
	opts := s.opts
	opts.FPS, opts.Logger = o.FPS, o.Logger
	src, err := Open(s.path, opts)
	if err != nil {
		return kind.Opened{}, err
	}
	return kind.Opened{H264: src, What: "source: H.264 file", Attrs: []any{"path", s.path}}, nil
}
