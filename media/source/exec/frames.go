package exec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/camnode/camnode/internal/rawio"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/picture"
)

// readFrames reads raw pictures until the output ends (nil; Run then reports how the
// command ended), ctx ends (nil), or a picture is cut short, does not convert or deliver
// fails (that error).
func (s *Source) readFrames(ctx context.Context, stdout *os.File, start time.Time, deliver func(*media.Frame) error) error {
	clock := newFrameClock(s.opts.FPS)
	var (
		turned []byte
		conv   = picture.NewConverter(s.layout, s.opts.Width, s.opts.Height, s.opts.Stride)
	)
	pace := newPacer(s.opts.FPS)
	warned := false
	emit := func(data []byte) error {
		at := time.Since(start)
		if hold := pace.hold(at); hold > 0 {
			// Ahead of the rate: the picture waits, and the program, its pipe full, with it.
			if !warned && float64(pace.early) >= s.opts.FPS && s.opts.Warn != nil {
				warned = true
				s.opts.Warn(fmt.Sprintf("exec:%s writes pictures faster than CAMNODE_FPS=%v: camnode takes them at %v a second and the program waits; make it write %v fps (ffmpeg: -re, or -r/-framerate) or set CAMNODE_FPS to its rate",
					s.Name(), s.opts.FPS, s.opts.FPS, s.opts.FPS))
			}
			t := time.NewTimer(hold)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
			at = time.Since(start)
		}
		f, err := conv.Convert(data)
		if err != nil {
			return fmt.Errorf("exec source: %s output: %w", s.Name(), err)
		}
		f.Time = clock.next(at)
		if !s.opts.Orientation.IsIdentity() {
			var out media.Frame
			if out, turned, err = s.opts.Orientation.Apply(turned, f); err != nil {
				return fmt.Errorf("exec source: %w", err)
			}
			f = &out
		}
		return deliver(f)
	}
	ended := func(err error) bool {
		return errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded)
	}
	if s.layout == picture.MJPEG {
		return s.readJPEG(ctx, stdout, emit, ended)
	}
	size := s.FrameSize()
	buf := make([]byte, size)
	rc, err := stdout.SyscallConn()
	if err != nil {
		return fmt.Errorf("exec source: read %s output: %w", s.Name(), err)
	}
	// Raw read(2) calls (package rawio): a picture comes in several reads, each after an
	// idle wait, and through the runtime's system-call bookkeeping they cost about 8 % of
	// camnode's CPU in bench/rawburn.
	rd := rawio.NewReader(rc)
	for n := 0; ; n++ {
		got, err := io.ReadFull(rd, buf)
		if err == nil {
			if err := emit(buf); err != nil {
				return err
			}
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		if got == 0 && ended(err) {
			return nil
		}
		if got > 0 && (ended(err) || errors.Is(err, io.ErrUnexpectedEOF)) {
			return fmt.Errorf("exec source: %s output ended inside picture %d: %d of %d bytes (%s)", s.Name(), n+1, got, size, s.describe())
		}
		return fmt.Errorf("exec source: read %s output: %w", s.Name(), err)
	}
}

// describe names the picture format and size the source expects.
func (s *Source) describe() string {
	d := fmt.Sprintf("%s %dx%d", s.opts.Format, s.opts.Width, s.opts.Height)
	if s.opts.Stride > picture.MinStride(s.layout, s.opts.Width) {
		d += fmt.Sprintf(" with rows of %d bytes", s.opts.Stride)
	}
	return d + fmt.Sprintf(" is %d bytes a picture: the output does not divide into pictures of that size", s.FrameSize())
}

// readJPEG cuts the output into JPEG pictures (picture.CutJPEG) and emits each.
func (s *Source) readJPEG(ctx context.Context, stdout *os.File, emit func([]byte) error, ended func(error) bool) error {
	buf := make([]byte, 0, 1<<20)
	chunk := make([]byte, 64<<10)
	pictures := 0
	for {
		n, err := stdout.Read(chunk)
		buf = append(buf, chunk[:n]...)
		off := 0
		for {
			size, cerr := picture.CutJPEG(buf[off:])
			if cerr != nil {
				return fmt.Errorf("exec source: %s output after %d pictures: %w", s.Name(), pictures, cerr)
			}
			if size == 0 {
				break
			}
			pictures++
			if err := emit(buf[off : off+size]); err != nil {
				return err
			}
			off += size
		}
		buf = buf[:copy(buf, buf[off:])]
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		if ended(err) {
			if len(buf) > 0 {
				return fmt.Errorf("exec source: %s output ended inside JPEG picture %d (%d bytes without its end marker FFD9)", s.Name(), pictures+1, len(buf))
			}
			return nil
		}
		return fmt.Errorf("exec source: read %s output: %w", s.Name(), err)
	}
}

// frameClock turns arrival times into regular timestamps. A program writes pictures at a
// steady rate, but the pipe and the scheduler jitter their arrival; the stream wants
// evenly spaced timestamps. Each timestamp is the previous one plus the frame period,
// pulled an eighth of the way towards the arrival time: jitter is damped eightfold, a
// rate that differs from the one configured is followed (with a constant lag), and a
// stall of more than a second (the program paused) restarts from the arrival time.
// Timestamps always increase.
type frameClock struct {
	period time.Duration
	last   time.Duration
	n      int
}

func newFrameClock(fps float64) *frameClock {
	return &frameClock{period: time.Duration(float64(time.Second) / fps)}
}

func (c *frameClock) next(arrival time.Duration) time.Duration {
	defer func() { c.n++ }()
	if c.n == 0 {
		c.last = arrival
		return arrival
	}
	predicted := c.last + c.period
	diff := arrival - predicted
	t := predicted + diff/8
	if diff > time.Second || diff < -time.Second {
		t = arrival
	}
	t = max(t, c.last+time.Millisecond)
	c.last = t
	return t
}

// pacer holds the pictures of a program that writes faster than its frame rate back to
// that rate, before they cost a conversion and an encoding (a program writing 300 fps
// was encoded at 300 fps). A picture is due a period after the one before; one that
// arrives more than half a period early waits. Pictures that arrive together after a stall
// of the reader (the pipe held them) are behind their due times and go at once; after a
// pause of more than a second the due time starts again from the arrival.
type pacer struct {
	period  time.Duration
	due     time.Duration
	started bool
	early   int // pictures held back
}

func newPacer(fps float64) *pacer {
	return &pacer{period: time.Duration(float64(time.Second) / fps)}
}

// hold says how long the picture arriving at arrival waits; it is then taken.
func (p *pacer) hold(arrival time.Duration) time.Duration {
	var wait time.Duration
	switch {
	case !p.started || arrival-p.due > time.Second:
		p.due = arrival
	case arrival < p.due-p.period/2:
		p.early++
		wait = p.due - arrival
	}
	p.started = true
	p.due += p.period
	return wait
}
