// Package source is the registry of video sources: each kind (testsrc, file, exec, v4l2,
// rpicam, auto) is a package of its own that registers itself here with the scheme that
// names it in CAMNODE_SOURCE, and Parse is the one reader of that URI.
package source

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/picture"
)

// Options are the capture settings a source takes where it can; a source that reads
// ready-made H.264 ignores the size, bitrate and GOP.
type Options struct {
	Width, Height int
	// FPS is the capture rate, and the playback rate of a file whose SPS states none.
	FPS     float64
	Bitrate int // bits/s
	GOP     int // frames from one keyframe to the next
	// Profile is the H.264 profile asked of a source that encodes (baseline, main, high).
	Profile string
	// Format is what an exec: source writes: "h264" (or empty), or raw pictures of
	// Width x Height at FPS ("yuv420", "nv12", "yuyv", "mjpeg"). Other sources tell their own.
	Format string
	// Orientation turns the picture: a camera's controls where it has them, else the raw
	// path (a raw exec: source, a raw camera); an H.264 camera leaves the rest undone
	// (v4l2.Source.Unapplied).
	Orientation picture.Orientation
	// CanEncode says that the caller has an H.264 encoder for raw pictures: a source that
	// can give either (testsrc, rpicam) may then give raw pictures.
	CanEncode bool
	// WantRaw says that the caller draws into the pictures (burn-in): a source that can
	// give raw pictures as well as H.264 gives raw ones when CanEncode is set too.
	WantRaw bool
	// Warn, when set, is told what a running source notices that viewers would see (a
	// program writing faster than FPS, say): the pipeline's stream_warning.
	Warn   func(string)
	Logger *slog.Logger
}

// Opened is a source opened for one run: exactly one of H264 (ready-made access units)
// and Frames (raw pictures the caller encodes) is set.
type Opened struct {
	H264   media.Source
	Frames media.FrameSource
	// RawToo says that the source gives raw pictures too, to a caller that can encode them.
	RawToo bool
	// What says in a few words what was opened, for the log; Attrs are its details.
	What  string
	Attrs []any
}

// Spec is a source a URI names, parsed but not opened.
type Spec interface {
	// Describe is the URI in a form safe for state payloads and logs: no command-line
	// arguments (they may hold credentials), no query.
	Describe() string
	// Check says what this machine lacks for the source: err when it can never work (a
	// program not on PATH, a file that is not there), warning when it may come (a camera
	// unplugged now).
	Check(Options) (warning string, err error)
	// Open opens the source for one run.
	Open(Options) (Opened, error)
}

// Kind is one kind of source.
type Kind struct {
	// Scheme names it in CAMNODE_SOURCE ("rpicam" in rpicam:1); a bare word (testsrc,
	// auto, rpicam) is a scheme with nothing after it.
	Scheme string
	// Form is how to write it, for the error that lists every kind ("rpicam[:N]").
	Form string
	// Parse reads uri (whose scheme is Scheme; rest is what follows its colon) without
	// touching the machine. Its error says what is wrong and how to write it.
	Parse func(uri, rest string) (Spec, error)
}

var (
	mu    sync.RWMutex
	kinds []Kind
)

// Register adds a kind of source; each source package calls it from init.
func Register(k Kind) {
	mu.Lock()
	defer mu.Unlock()
	if slices.ContainsFunc(kinds, func(x Kind) bool { return x.Scheme == k.Scheme }) {
		panic("source: kind " + k.Scheme + " registered twice")
	}
	kinds = append(kinds, k)
}

// Forms lists how each registered kind is written, for messages.
func Forms() string {
	mu.RLock()
	defer mu.RUnlock()
	var out []string
	for _, k := range kinds {
		out = append(out, k.Form)
	}
	return strings.Join(out, ", ")
}

// Parse returns the source uri names. Its error never quotes an exec command line.
func Parse(uri string) (Spec, error) {
	scheme, rest := splitScheme(uri)
	if scheme == "" {
		return nil, fmt.Errorf("source %q has no scheme: use %s", clip(uri), Forms())
	}
	mu.RLock()
	i := slices.IndexFunc(kinds, func(k Kind) bool { return k.Scheme == scheme })
	var k Kind
	if i >= 0 {
		k = kinds[i]
	}
	mu.RUnlock()
	if i < 0 {
		return nil, fmt.Errorf("unknown source %q: use %s", scheme+":", Forms())
	}
	return k.Parse(strings.TrimSpace(uri), rest)
}

// clip shortens what an unparsable URI shows of itself.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Open opens the source uri names for a caller that takes H.264 only (no encoder of its
// own): a source that gives raw pictures only is an error.
func Open(uri string, opts Options) (media.Source, error) {
	spec, err := Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	opts.CanEncode, opts.WantRaw = false, false
	o, err := spec.Open(opts)
	if err != nil {
		return nil, err
	}
	if o.H264 == nil {
		return nil, fmt.Errorf("source: %s gives raw pictures, which need an encoder", spec.Describe())
	}
	return o.H264, nil
}

// Describe returns the short form of uri that is safe to publish (Spec.Describe), or
// of what can be told of it when it does not parse.
func Describe(uri string) string {
	if spec, err := Parse(uri); err == nil {
		return spec.Describe()
	}
	scheme, _ := splitScheme(uri)
	if scheme == "" {
		return "unknown"
	}
	return scheme + ":"
}

// splitScheme returns the lower-cased scheme of uri and what follows its colon. A bare
// word ("testsrc") is a scheme with nothing after it, or with only a query.
func splitScheme(uri string) (scheme, rest string) {
	uri = strings.TrimSpace(uri)
	i := strings.IndexAny(uri, ":?")
	if i < 0 {
		i = len(uri)
	}
	scheme = uri[:i]
	if scheme == "" {
		return "", uri
	}
	for j, c := range scheme {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", uri
		}
	}
	if i < len(uri) {
		rest = uri[i+1:]
		if uri[i] == '?' {
			rest = uri[i:] // a bare word with a query: rpicam?codec=h264
		}
	}
	return strings.ToLower(scheme), rest
}
