// Package source opens the video source a CAMNODE_SOURCE URI names.
package source

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/picture"
	"github.com/camnode/camnode/media/source/exec"
	"github.com/camnode/camnode/media/source/file"
	"github.com/camnode/camnode/media/source/testsrc"
	"github.com/camnode/camnode/media/source/v4l2"
)

// Options are the capture settings a source takes where it can; a source that reads
// ready-made H.264 ignores the size, bitrate and GOP.
type Options struct {
	Width, Height int
	// FPS is the capture rate, and the playback rate of a file whose SPS states none.
	FPS     float64
	Bitrate int // bits/s
	GOP     int // frames from one keyframe to the next
	// Format is what an exec: source writes (exec.Formats): "h264" (or empty), or raw
	// pictures of Width x Height at FPS ("yuv420", "nv12", "yuyv", "mjpeg"), which the
	// returned *exec.Source delivers through RunFrames. Other sources tell their own.
	Format string
	// Orientation turns the picture: a camera's controls where it has them, else the raw
	// path (a raw exec: source, a raw camera); an H.264 camera leaves the rest undone
	// (v4l2.Source.Unapplied).
	Orientation picture.Orientation
	Logger      *slog.Logger
}

// Open returns the source uri names:
//
//	file:///path/clip.h264[?pace=0][&loop=0]   Annex-B file, looped in real time; pace=0
//	file:relative/clip.h264                    plays as fast as consumed, loop=0 plays once
//	exec:<command line>                        a command writing Annex-B to stdout, or
//	                                           raw pictures (Options.Format): then an
//	                                           *exec.Source whose Raw() is true
//	testsrc                                    live test pattern at the size and rate of opts
//	v4l2:///dev/videoN                         a V4L2 camera with H.264; for a camera with
//	                                           raw formats only the error is a
//	                                           *v4l2.RawOnlyError carrying its FrameSource
//
// Errors never quote an exec command line, which may hold credentials.
func Open(uri string, opts Options) (media.Source, error) {
	scheme, rest := splitScheme(uri)
	switch scheme {
	case "testsrc":
		if rest != "" && rest != "//" {
			return nil, fmt.Errorf("source: testsrc takes no parameters, got %q", rest)
		}
		return testsrc.New(testsrc.Options{Width: opts.Width, Height: opts.Height, FPS: opts.FPS,
			Bitrate: opts.Bitrate, GOP: opts.GOP, Logger: opts.Logger}), nil
	case "file":
		return openFile(uri, opts)
	case "exec":
		s, err := exec.New(rest, exec.Options{Logger: opts.Logger, Format: opts.Format,
			Width: opts.Width, Height: opts.Height, FPS: opts.FPS, Orientation: opts.Orientation})
		if err != nil {
			return nil, err
		}
		return s, nil
	case "v4l2":
		return openV4L2(uri, opts)
	case "":
		return nil, errors.New("source: URI has no scheme (want file:, exec:, testsrc or v4l2:)")
	default:
		return nil, fmt.Errorf("source: unknown URI scheme %q (want file, exec, testsrc or v4l2)", scheme)
	}
}

// splitScheme returns the lower-cased scheme of uri and what follows its colon. A bare
// word ("testsrc") is a scheme with nothing after it.
func splitScheme(uri string) (scheme, rest string) {
	uri = strings.TrimSpace(uri)
	i := strings.IndexByte(uri, ':')
	if i < 0 {
		i = len(uri)
	}
	scheme = uri[:i]
	for j, c := range scheme {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", uri
		}
	}
	if i < len(uri) {
		rest = uri[i+1:]
	}
	return strings.ToLower(scheme), rest
}

func openV4L2(uri string, opts Options) (media.Source, error) {
	path, err := v4l2.DevicePath(uri)
	if err != nil {
		return nil, err
	}
	s, err := v4l2.Open(path, v4l2.Options{Width: opts.Width, Height: opts.Height, FPS: opts.FPS,
		Bitrate: opts.Bitrate, GOP: opts.GOP, Logger: opts.Logger, Orientation: opts.Orientation})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func openFile(uri string, opts Options) (media.Source, error) {
	path, q, err := FilePath(uri)
	if err != nil {
		return nil, err
	}
	fo := file.Options{FPS: opts.FPS, Logger: opts.Logger}
	for k, v := range q {
		var flag *bool // set when the parameter is 0
		switch k {
		case "pace":
			flag = &fo.Unpaced
		case "loop":
			flag = &fo.Once
		default:
			return nil, fmt.Errorf("source: unknown parameter %q in file URI (want pace, loop)", k)
		}
		on, err := strconv.ParseBool(v[len(v)-1])
		if err != nil {
			return nil, fmt.Errorf("source: %s=%q in file URI is not 0 or 1", k, v[len(v)-1])
		}
		*flag = !on
	}
	s, err := file.Open(path, fo)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// FilePath returns the path and the query of a file: source URI (file:///abs/clip.h264,
// file:relative/clip.h264, with ?pace=&loop=): the one parser of that form.
func FilePath(uri string) (string, url.Values, error) {
	u, err := url.Parse(strings.TrimSpace(uri))
	if err != nil {
		return "", nil, fmt.Errorf("source: file URI: %w", err)
	}
	path := u.Path
	if u.Opaque != "" { // file:relative/path
		if path, err = url.PathUnescape(u.Opaque); err != nil {
			return "", nil, fmt.Errorf("source: file URI: %w", err)
		}
	}
	if u.Host != "" && u.Host != "localhost" {
		return "", nil, fmt.Errorf("source: file URI %q names host %q: write file:///absolute/path.h264 or file:relative/path.h264", uri, u.Host)
	}
	if path == "" {
		return "", nil, fmt.Errorf("source: file URI %q has no path", uri)
	}
	return path, u.Query(), nil
}

// Describe returns a short form of uri that is safe to publish in state payloads and logs:
// an exec source shows only its program name, since the arguments may hold credentials,
// and no source shows its query.
func Describe(uri string) string {
	scheme, rest := splitScheme(uri)
	switch scheme {
	case "testsrc":
		return "testsrc"
	case "file":
		if path, _, err := FilePath(uri); err == nil {
			return "file:" + path
		}
		return "file"
	case "exec":
		if argv, err := exec.Argv(rest); err == nil {
			return "exec:" + filepath.Base(argv[0])
		}
		return "exec"
	case "v4l2":
		if u, err := url.Parse(strings.TrimSpace(uri)); err == nil && u.Path != "" {
			return "v4l2:" + u.Path
		}
		return "v4l2"
	case "":
		return "unknown"
	default:
		return scheme + ":"
	}
}
