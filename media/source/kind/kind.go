// Package kind is what a kind of video source is to package source: the capture options it
// takes, the Spec a URI parses into, and what opening it gives (raw pictures or H.264). Each
// source package (testsrc, file, exec, v4l2, rpicam, auto) exports a Kind; package source
// lists them and is the one parser of CAMNODE_SOURCE.
package kind

import (
	"log/slog"

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

// Kind is one kind of source: what package source needs to know of it.
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
