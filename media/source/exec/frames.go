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
	warned, checkedSize := false, false
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
		if !checkedSize {
			checkedSize = true
			if w := s.sizeMismatch(data); w != "" {
				s.logger.Warn(w)
				if s.opts.Warn != nil {
					s.opts.Warn(w)
				}
			}
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

// commonWidths are the picture widths programs and cameras write, for the guess of
// sizeMismatch.
var commonWidths = []int{160, 176, 320, 352, 424, 480, 640, 720, 800, 848, 960, 1024, 1280, 1440, 1600, 1920, 2560, 3840}

// sizeMismatch looks at the first picture for signs that the program writes another size
// than the settings say (640x480 read as 1280x720 streams as a garbled mosaic): the rows
// of a picture resemble the row below them, so the luma bytes resemble those one row
// further on. When they resemble those one row of another common width on far better,
// that is the width of the pictures. It returns the warning, or "".
//
// A heuristic: a picture with a strong vertical period (stripes) may fool it; the
// warning then names a width the user can see is wrong.
func (s *Source) sizeMismatch(data []byte) string {
	bpp := 1 // bytes of luma per pixel step
	stride := s.opts.Stride
	switch s.layout {
	case picture.I420, picture.NV12:
	case picture.YUYV:
		bpp = 2
	default:
		return ""
	}
	if stride == 0 {
		stride = s.opts.Width * bpp
	}
	// The first quarter of the luma plane: within the luma of the true picture when it
	// is smaller, up to a quarter of the size.
	n := min(len(data), stride*s.opts.Height/4)
	diff := func(shift int) float64 {
		if shift <= 0 || shift >= n/2 {
			return -1
		}
		sum, count := 0, 0
		for i := 0; i+shift < n; i += 7 * bpp { // sampled: a picture is checked once
			d := int(data[i]) - int(data[i+shift])
			sum += max(d, -d)
			count++
		}
		return float64(sum) / float64(count)
	}
	own := diff(stride)
	if own <= 0 || diff(n/3/bpp*bpp) < 4 {
		return "" // a flat picture (a lens cap, a test of zeros) tells nothing
	}
	best, bestDiff := 0, own
	for _, w := range commonWidths {
		if w == s.opts.Width {
			continue
		}
		if d := diff(w * bpp); d >= 0 && d < bestDiff {
			best, bestDiff = w, d
		}
	}
	// A true row below resembles more than any other offset: a width whose "row below" is
	// clearly closer than the setting's is the picture's (for 640 read as 1280 the
	// setting's row below is two true rows down; for 1280 read as 640 it is half a row
	// to the right).
	if best == 0 || bestDiff > own*0.7 {
		return ""
	}
	return fmt.Sprintf("exec:%s pictures do not look %dx%d (CAMNODE_WIDTH x CAMNODE_HEIGHT): their rows repeat every %d pixels, so they are likely %d wide, and the stream shows a garbled mosaic; set CAMNODE_WIDTH and CAMNODE_HEIGHT to the size the program writes (or make it write %dx%d)",
		s.Name(), s.opts.Width, s.opts.Height, best, best, s.opts.Width, s.opts.Height)
}
