// Package file is a media.Source that plays an Annex-B H.264 file in a loop, paced at its frame rate.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/h264"
)

// DefaultFPS is the frame rate of a stream whose SPS carries no VUI timing info when
// Options.FPS is zero.
const DefaultFPS = 30

// ErrPlayedOnce is wrapped by the error Run returns at the end of a stream played with
// Options.Once: the source did its job, nothing failed. It wraps io.EOF.
var ErrPlayedOnce = fmt.Errorf("played once: %w", io.EOF)

// Options tune a file source. The zero value plays forever in real time.
type Options struct {
	// FPS is the frame rate for a stream whose SPS states none; 0 means DefaultFPS.
	FPS float64
	// Unpaced delivers access units as fast as the consumer takes them (benchmarks).
	Unpaced bool
	// Once plays the stream a single time; Run then returns an error wrapping ErrPlayedOnce.
	Once   bool
	Logger *slog.Logger
}

// Source plays an H.264 elementary stream. Each pass reads it afresh from the start;
// access unit times continue across passes, one frame duration apart, with no jump.
type Source struct {
	name  string
	open  func() (io.ReadCloser, error)
	opts  Options
	clock clock // nil: the real clock
}

// Open returns a source for the Annex-B file at path, which must be readable now.
func Open(path string, opts Options) (*Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("file source: %w", err)
	}
	st, err := f.Stat()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("file source: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("file source: %s is not a regular file", path)
	}
	return New(path, func() (io.ReadCloser, error) { return os.Open(path) }, opts), nil
}

// New returns a source that plays the stream open returns, calling open again for every
// pass. name appears in errors and logs.
func New(name string, open func() (io.ReadCloser, error), opts Options) *Source {
	if opts.FPS <= 0 {
		opts.FPS = DefaultFPS
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Source{name: name, open: open, opts: opts}
}

// Run delivers the access units of the stream, pass after pass, until ctx ends (nil), the
// stream fails, holds no picture, or ends with Options.Once (an error wrapping ErrPlayedOnce).
func (s *Source) Run(ctx context.Context, deliver func(*media.AccessUnit) error) error {
	p := player{src: s, deliver: deliver, fps: s.opts.FPS, pacer: pacer{clock: s.clock}}
	if p.pacer.clock == nil {
		p.pacer.clock = &realClock{}
	}
	for pass := 0; ; pass++ {
		frames, err := p.playOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if frames == 0 {
			return fmt.Errorf("file source: %s holds no H.264 picture", s.name)
		}
		if s.opts.Once {
			return fmt.Errorf("file source: %s (%d frames): %w", s.name, frames, ErrPlayedOnce)
		}
		s.opts.Logger.Debug("file source looping", "file", s.name, "pass", pass+1, "frames", frames)
	}
}

// player holds the state of one Run: the media clock runs across passes.
type player struct {
	src      *Source
	deliver  func(*media.AccessUnit) error
	splitter h264.Splitter
	pacer    pacer
	au       media.AccessUnit

	buf       []byte
	fps       float64       // current frame rate
	segStart  time.Duration // media time where the current frame rate took over
	segFrames int64         // frames delivered since then
	logged    bool
}

var errStopped = errors.New("stopped")

func (p *player) playOnce(ctx context.Context) (frames int, err error) {
	r, err := p.src.open()
	if err != nil {
		return 0, fmt.Errorf("file source: %w", err)
	}
	defer r.Close()
	p.splitter.Reset()
	emit := func(nalus [][]byte) error {
		if err := p.frame(ctx, nalus); err != nil {
			return err
		}
		frames++
		return nil
	}
	if p.buf == nil {
		p.buf = make([]byte, 1<<20)
	}
	for {
		n, rerr := r.Read(p.buf)
		if n > 0 {
			if err := p.splitter.Push(p.buf[:n], emit); err != nil {
				return frames, p.wrap(err)
			}
		}
		if rerr == io.EOF {
			return frames, p.wrap(p.splitter.Flush(emit))
		}
		if rerr != nil {
			return frames, fmt.Errorf("file source: read %s: %w", p.src.name, rerr)
		}
	}
}

// wrap passes deliver's errors through unchanged and names the file in the splitter's.
func (p *player) wrap(err error) error {
	if err == nil || errors.Is(err, errStopped) {
		return nil
	}
	var de deliverError
	if errors.As(err, &de) {
		return de.err
	}
	return fmt.Errorf("file source: %s: %w", p.src.name, err)
}

type deliverError struct{ err error }

func (e deliverError) Error() string { return e.err.Error() }

func (p *player) frame(ctx context.Context, nalus [][]byte) error {
	for _, n := range nalus {
		if h264.NALType(n) == h264.TypeSPS {
			p.sps(n)
			break
		}
	}
	t := p.segStart + time.Duration(float64(p.segFrames)*float64(time.Second)/p.fps)
	if !p.src.opts.Unpaced {
		if err := p.pacer.wait(ctx, t, time.Duration(float64(time.Second)/p.fps)); err != nil {
			return errStopped
		}
	} else if ctx.Err() != nil {
		return errStopped
	}
	p.au = media.AccessUnit{NALUs: nalus, Time: t, Keyframe: h264.IsKeyframe(nalus)}
	if err := p.deliver(&p.au); err != nil {
		return deliverError{err}
	}
	p.segFrames++
	return nil
}

// sps takes the frame rate from an SPS; a change starts a new segment of the media clock
// at the next frame's time so that time stays continuous.
func (p *player) sps(nalu []byte) {
	sps, err := h264.ParseSPS(nalu)
	if err != nil {
		p.src.opts.Logger.Warn("file source: unreadable SPS", "file", p.src.name, "err", err)
		return
	}
	fps, fromSPS := sps.FrameRate(), true
	if fps <= 0 || fps > 1000 {
		fps, fromSPS = p.src.opts.FPS, false
	}
	if !p.logged {
		p.logged = true
		p.src.opts.Logger.Info("file source", "file", p.src.name, "width", sps.Width, "height", sps.Height,
			"fps", fps, "fps_from_stream", fromSPS)
	}
	if fps != p.fps {
		p.segStart += time.Duration(float64(p.segFrames) * float64(time.Second) / p.fps)
		p.segFrames = 0
		p.fps = fps
	}
}
