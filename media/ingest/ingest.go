// Package ingest is a small embedded RTMP ingest that records every published stream to an FLV file.
package ingest

import (
	"cmp"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

// Options configure the ingest. The zero value records into the current directory.
type Options struct {
	// Dir receives the recordings, one file per publish named <stream>-<unixtime>.flv
	// (-2, -3... when that exists). It is created if missing; empty means ".". The file name
	// holds the stream name, which in real use is the stream key: acceptable for a local demo
	// recorder, and the reason the log shows the key only as ****.
	Dir string
	// Logger gets the ingest's log lines; nil discards them.
	Logger *slog.Logger
	// OnRecording, if set, is called when a recording ends (the publisher left or the
	// server stopped), after the file is complete. It runs on the connection's goroutine and
	// must not block: the connection's teardown, and so Serve's return, wait for it.
	OnRecording func(Recording)
	// IdleTimeout drops a connection that sends nothing, or takes nothing the server writes,
	// for this long. Zero means 30 s.
	IdleTimeout time.Duration
}

// Recording describes one publish session and the file it went to.
type Recording struct {
	Path   string // the FLV file
	App    string // the RTMP application, without a query string
	Stream string // the published stream name without a query string: the stream key, never log it

	Started time.Time
	Ended   time.Time // zero while the publisher is still on

	VideoTags, AudioTags, DataTags int // tags written; VideoTags includes sequence headers
	Bytes                          int64
	// FirstVideoKeyframe is true when the first video tag carrying a picture (not a sequence
	// header) was marked as a keyframe: what a player needs to start without garbage.
	FirstVideoKeyframe bool
	Width, Height      int // from onMetaData, if the publisher sent it
}

const (
	defaultIdleTimeout = 30 * time.Second
	// keepFinished bounds the finished recordings a long-running demo remembers.
	keepFinished = 1000
)

// Server is an RTMP ingest for `camnode demo` and quick tests, not for production: it runs on
// github.com/yutopp/go-rtmp v0.0.7's server, with a guard in front of it against input that
// would crash that library. Create it with Listen or NewServer, run it with Serve.
type Server struct {
	dir         string
	log         *slog.Logger
	onRecording func(Recording)
	ln          *listener

	mu       sync.Mutex
	served   bool
	active   map[*recorder]struct{}
	finished []Recording
}

// Listen binds addr now (e.g. "127.0.0.1:1935", or ":0" for a free port) and prepares the
// recording directory; nothing is accepted until Serve.
func Listen(addr string, opts Options) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ingest: listen on %s: %w", addr, err)
	}
	s, err := NewServer(ln, opts)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return s, nil
}

// NewServer makes an ingest that will serve on ln (from demo.Listen, say), which it owns
// from now on, and prepares the recording directory.
func NewServer(ln net.Listener, opts Options) (*Server, error) {
	dir := cmp.Or(opts.Dir, ".")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ingest: recording directory: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "rtmp-ingest")
	return &Server{
		dir:         dir,
		log:         logger,
		onRecording: opts.OnRecording,
		ln:          newListener(ln, cmp.Or(opts.IdleTimeout, defaultIdleTimeout), logger),
		active:      make(map[*recorder]struct{}),
	}, nil
}

// Addr is the address the ingest listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Recordings returns the recordings of this server, in progress and the last 1000 finished,
// in the order they started.
func (s *Server) Recordings() []Recording {
	s.mu.Lock()
	out := slices.Clone(s.finished)
	active := make([]*recorder, 0, len(s.active))
	for r := range s.active {
		active = append(active, r)
	}
	s.mu.Unlock()
	for _, r := range active {
		out = append(out, r.snapshot())
	}
	slices.SortStableFunc(out, func(a, b Recording) int { return a.Started.Compare(b.Started) })
	return out
}

// startRecording opens the file of a new publish session and registers it.
func (s *Server) startRecording(app, stream string) (*recorder, error) {
	r, err := createRecorder(s.dir, app, stream, time.Now())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.active[r] = struct{}{}
	s.mu.Unlock()
	return r, nil
}

// finishRecording completes the file, moves the recording to the finished list and tells
// OnRecording.
func (s *Server) finishRecording(r *recorder, remote string) {
	rec, err := r.finish(time.Now())
	s.mu.Lock()
	delete(s.active, r)
	if len(s.finished) == keepFinished {
		s.finished = slices.Delete(s.finished, 0, 1)
	}
	s.finished = append(s.finished, rec)
	s.mu.Unlock()
	attrs := []any{"app", rec.App, "stream", "****", "dir", s.dir, "remote", remote,
		"duration", rec.Ended.Sub(rec.Started).Round(time.Millisecond), "video_tags", rec.VideoTags,
		"audio_tags", rec.AudioTags, "bytes", rec.Bytes}
	if err != nil {
		s.log.Warn("recording ended with an error", append(attrs, "err", err)...)
	} else {
		s.log.Info("recording finished", attrs...)
	}
	if s.onRecording != nil {
		s.onRecording(rec)
	}
}
