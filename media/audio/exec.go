package audio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/camnode/camnode/internal/backoff"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/source/exec"
)

// Status is a change of the audio program's state, for the node's events.
type Status struct {
	// Failed is true when the program failed, stalled or wrote something camnode cannot
	// carry: silence takes its place (event audio_failed) until a restart of it works.
	// False after a failure: the program's audio is back.
	Failed bool
	// Err says why; it names the program, never its arguments (they may hold secrets).
	Err error
}

// ExecSource is a media.AudioSource that runs a program writing ADTS AAC-LC to its standard
// output (`ffmpeg -f alsa -i hw:1,0 -c:a aac -b:a 96k -f adts -`), without a shell and in a
// process group of its own as the exec video source does. It never fails and never stops
// the video: when the program fails, stalls or writes what camnode cannot carry, silence
// of the same configuration takes its place at once, the program is restarted with capped
// backoff, and OnStatus hears of it.
//
// Frame n is stamped anchor + n*1024/rate (anchor: the Clock's time at the program's first
// frame), whichever of program and silence fills it, so the track never drifts from the
// video. Frames are delivered when the Clock reaches their time, so a program that writes
// faster than real time is held back by its pipe. One that runs slow (a microphone whose
// clock is behind) is caught up with a silent frame whenever it lags by MaxLag.
type ExecSource struct {
	// Clock is the video's clock; nil means the wall clock from the start of RunAudio.
	Clock Clock
	// SampleRate and Channels are the format of the silence before the program's first
	// frame, and the format the program must write; zero: whatever the program's first
	// frame says, 48000 Hz mono if it never writes one.
	SampleRate, Channels int
	// StallTimeout is how long the program may write nothing before it counts as stalled
	// (it is then stopped and restarted); 0 means 2 s.
	StallTimeout time.Duration
	// MaxLag is how far the program's frames may lag the clock before a silent frame is
	// put in to catch up; 0 means 250 ms.
	MaxLag time.Duration
	// RestartMin and RestartMax bound the backoff between restarts; 0 means 1 s and 30 s.
	RestartMin, RestartMax time.Duration
	// OnStatus is called from RunAudio's goroutine on every failure and recovery; it must
	// not block for long.
	OnStatus func(Status)
	// Logger receives the program's standard error at debug level and the restarts.
	Logger *slog.Logger

	command string
	name    string
}

var _ media.AudioSource = (*ExecSource)(nil)

// Exec returns the source of the command line (split like the exec video source's: no
// shell unless it starts with `sh -c`). It fails only when the line cannot be split.
func Exec(commandLine string) (*ExecSource, error) {
	prog, err := exec.New(commandLine, exec.Options{})
	if err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	return &ExecSource{command: commandLine, name: prog.Name()}, nil
}

// Name is the program the source runs, without directory or arguments.
func (s *ExecSource) Name() string { return s.name }

// Config is the track's configuration when SampleRate and Channels declare it, else nil
// (the program's first frame will tell).
func (s *ExecSource) Config() (*media.AudioConfig, error) {
	if s.SampleRate == 0 && s.Channels == 0 {
		return nil, nil
	}
	h, err := LC(s.SampleRate, s.Channels)
	if err != nil {
		return nil, err
	}
	return h.Config(), nil
}

// firstFrameTimeout is how long a program of undeclared format may take to write its first
// frame before silence (48000 Hz mono) stands in.
const firstFrameTimeout = 10 * time.Second

// programFrame is one frame the program wrote, copied out of the reader's buffer.
type programFrame struct {
	data   []byte
	config *media.AudioConfig
}

// programRun is one run of the program: a goroutine that reads its frames.
type programRun struct {
	frames chan programFrame
	done   chan error // the run's end, once; frames is not written after it
	stop   context.CancelFunc
}

// start runs the program once; the run ends when the program ends or stop is called.
func (s *ExecSource) start(ctx context.Context) *programRun {
	ctx, stop := context.WithCancel(ctx)
	r := &programRun{frames: make(chan programFrame, 8), done: make(chan error, 1), stop: stop}
	prog, err := exec.New(s.command, exec.Options{Logger: s.Logger})
	if err != nil { // checked by Exec
		r.done <- err
		return r
	}
	go func() {
		r.done <- prog.RunOutput(ctx, func(stdout io.Reader, _ time.Time) error {
			ar := NewADTSReader(stdout)
			for {
				data, cfg, err := ar.Next()
				if err != nil {
					if ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) {
						return nil
					}
					return fmt.Errorf("%s output: %w", prog.Name(), err)
				}
				select {
				case r.frames <- programFrame{data: append([]byte(nil), data...), config: cfg}:
				case <-ctx.Done():
					return nil
				}
			}
		})
	}()
	return r
}

// end stops the run and waits for it.
func (r *programRun) end() {
	r.stop()
	<-r.done
}

// RunAudio runs the program, restarting it as needed, and delivers its frames or silence
// until ctx ends (then it returns nil) or deliver fails.
func (s *ExecSource) RunAudio(ctx context.Context, deliver func(*media.AudioFrame) error) error {
	stall := cmp(s.StallTimeout, 2*time.Second)
	maxLag := cmp(s.MaxLag, 250*time.Millisecond)
	restartMin := cmp(s.RestartMin, time.Second)
	restartMax := max(cmp(s.RestartMax, 30*time.Second), restartMin)
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	onStatus := s.OnStatus
	if onStatus == nil {
		onStatus = func(Status) {}
	}
	clock := s.Clock
	if clock == nil {
		clock = WallClock(time.Now())
	}
	want, err := s.Config()
	if err != nil {
		return err
	}

	var (
		cfg      = want // the track's configuration, once known
		anchored bool
		anchor   time.Duration
		n        int64 // the next frame's index
		frame    media.AudioFrame
		failed   bool
		retry    = backoff.Backoff{Min: restartMin, Max: restartMax}
		restart  time.Time // when to start the program again (run == nil)
		lastOut  = time.Now()
		run      = s.start(ctx)
		tick     = time.NewTicker(20 * time.Millisecond)
	)
	defer tick.Stop()
	defer func() {
		if run != nil {
			run.end()
		}
	}()
	anchorNow := func() {
		if !anchored {
			anchored, anchor = true, clock.Now()
		}
	}
	emit := func(data []byte) error {
		frame = media.AudioFrame{Data: data, Time: anchor + frameTime(n, cfg.SampleRate), Config: cfg}
		n++
		return deliver(&frame)
	}
	// silenceUntil fills the frames that start up to t with silence.
	silenceUntil := func(t time.Duration) error {
		for anchor+frameTime(n, cfg.SampleRate) <= t {
			if err := emit(silentFrame(cfg.Channels)); err != nil {
				return err
			}
		}
		return nil
	}
	fail := func(err error) {
		if run != nil {
			run.end()
			run = nil
		}
		restart = time.Now().Add(retry.Next())
		log.Warn("audio program failed; silence until it restarts", "program", s.name, "err", err, "restart_in", time.Until(restart).Round(time.Millisecond))
		if cfg == nil {
			h, _ := LC(48000, 1)
			cfg = h.Config()
		}
		anchorNow()
		// Frames that are long due (the program stalled) would reach the publisher after
		// video it has sent: leave them out rather than send audio out of order.
		for anchor+frameTime(n, cfg.SampleRate) < clock.Now()-maxLag {
			n++
		}
		failed = true
		onStatus(Status{Failed: true, Err: err})
	}

	// onFrame delivers one frame of the program's, when the clock gets to it.
	onFrame := func(f programFrame) error {
		lastOut = time.Now()
		if cfg == nil {
			cfg = f.config
		}
		if f.config.SampleRate != cfg.SampleRate || f.config.Channels != cfg.Channels {
			fail(fmt.Errorf("audio: %s writes %s, the track is %s", s.name, describeConfig(f.config), describeConfig(cfg)))
			return nil
		}
		anchorNow()
		if failed {
			failed = false
			retry.Reset()
			log.Info("audio program is back", "program", s.name)
			onStatus(Status{})
		}
		// A program slower than the clock: catch up with silence.
		if err := silenceUntil(clock.Now() - maxLag); err != nil {
			return err
		}
		if err := clock.Wait(ctx, anchor+frameTime(n, cfg.SampleRate)); err != nil {
			return err
		}
		return emit(f.data)
	}

	for {
		var frames <-chan programFrame
		var done <-chan error
		if run != nil {
			frames, done = run.frames, run.done
		}
		select {
		case <-ctx.Done():
			return nil
		case f := <-frames:
			if err := onFrame(f); err != nil {
				return ignoreCancel(ctx, err)
			}
		case err := <-done:
			// The run sent its last frames before it ended: they go first.
			for drained := false; !drained && run != nil; {
				select {
				case f := <-run.frames:
					if err := onFrame(f); err != nil {
						return ignoreCancel(ctx, err)
					}
				default:
					drained = true
				}
			}
			if run == nil { // onFrame failed it
				continue
			}
			run.stop()
			run = nil
			if ctx.Err() != nil {
				return nil
			}
			if err == nil { // the output ended while the program goes on
				err = fmt.Errorf("%s closed its output", s.name)
			}
			fail(fmt.Errorf("audio: %w", err))
		case <-tick.C:
			// The first frame may take a while: a program such as ffmpeg starts slowly on a
			// small board, and the track's format waits for what it says.
			wait := stall
			if !anchored && cfg == nil {
				wait = max(stall, firstFrameTimeout)
			}
			switch {
			case run != nil && time.Since(lastOut) > wait:
				fail(fmt.Errorf("audio: %s wrote no audio for %v", s.name, wait))
			case run == nil && !time.Now().Before(restart):
				log.Info("audio program restarting", "program", s.name)
				run, lastOut = s.start(ctx), time.Now()
			}
			if failed {
				if err := silenceUntil(clock.Now()); err != nil {
					return err
				}
			}
		}
	}
}

func describeConfig(c *media.AudioConfig) string {
	ch := "mono"
	if c.Channels == 2 {
		ch = "stereo"
	}
	return fmt.Sprintf("%d Hz %s", c.SampleRate, ch)
}

// ignoreCancel is nil when err is only ctx ending: RunAudio returns nil then.
func ignoreCancel(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// cmp is d, or def when d is zero or negative.
func cmp(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
