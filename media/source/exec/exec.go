// Package exec is a source that runs a command and reads its standard output: Annex-B
// H.264 (a media.Source), or raw pictures (a media.FrameSource): I420, NV12, YUYV or MJPEG.
package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/picture"
)

// Timings of the shutdown. Vars so that tests can shorten them.
var (
	// killDelay is how long the command has after SIGTERM before its group gets SIGKILL.
	killDelay = 2 * time.Second
	// drainGrace is how long, after the command exits, Run keeps reading output that a
	// process outside its group may still hold open.
	drainGrace = 2 * time.Second
)

// Options tune an exec source.
type Options struct {
	// Logger receives the command's standard error, line by line, at debug level.
	Logger *slog.Logger
	// Format is what the command writes (see Formats): "h264" (the default), or raw
	// pictures of Width x Height: "yuv420", "nv12", "yuyv", "mjpeg".
	Format string
	// Width and Height are the size of raw pictures (required for all raw formats but
	// mjpeg, whose pictures carry their size).
	Width, Height int
	// FPS is the rate the command writes raw pictures at (default 30): the timestamps
	// are smoothed towards it.
	FPS float64
	// Stride is the length in bytes of a luma row of yuv420 and nv12 pictures (of a pixel
	// row of yuyv), for programs that pad rows; 0 means Width, except for rpicam-vid and
	// libcamera-vid writing yuv420, whose rows are padded to a multiple of 64 bytes (see
	// RPiCamStride).
	Stride int
	// Orientation turns raw pictures before they are delivered.
	Orientation picture.Orientation
	// Warn, when set, is told what viewers would notice: pictures arriving faster than FPS
	// (dropped to the rate).
	Warn func(string)
	// ErrorLines is how many of the last lines of the command's standard error the error
	// of a failed command quotes: 0 for none, for programs whose errors may print the
	// credentials of their arguments. Hint, when set, adds what to do about those lines.
	ErrorLines int
	Hint       func(lastLines string) string
}

// Formats are the values of Options.Format.
var Formats = []string{"h264", "yuv420", "nv12", "yuyv", "mjpeg"}

var rawLayouts = map[string]picture.Layout{"yuv420": picture.I420, "nv12": picture.NV12, "yuyv": picture.YUYV, "mjpeg": picture.MJPEG}

// RPiCamStride is the row length of the pictures rpicam-vid --codec yuv420 writes for a
// width: rpicam-vid hands its "null encoder" the camera's whole YUV420 buffer as libcamera
// laid it out (RPiCamEncoder::EncodeBuffer passes the mapped span of all three planes;
// NullEncoder writes it unchanged), and the Raspberry Pi ISP's buffers have luma rows
// aligned to 64 bytes (chroma rows to half that). At widths that are a multiple of 64
// (640, 1280, 1920) there is no padding.
func RPiCamStride(width int) int { return (width + 63) &^ 63 }

// Source runs a command, without a shell unless the command line asks for one (see Argv),
// in a process group of its own, and splits its standard output into access units.
//
// The Time of an access unit is when the first piece of it arrived from the pipe, measured
// on the monotonic clock from the start of the command. That is the closest camnode gets
// to a capture time: encoders such as ffmpeg or rpicam-vid write each frame as soon as it
// is coded. A command that writes faster than real time (cat of a file) yields times that
// crowd together; use the file source to play files.
type Source struct {
	argv   []string
	logger *slog.Logger
	opts   Options
	layout picture.Layout // 0 for h264
}

var (
	_ media.Source      = (*Source)(nil)
	_ media.FrameSource = (*Source)(nil)
)

// New returns a source for the command line. It fails when the line cannot be split or
// the options do not describe a format it reads.
func New(commandLine string, opts Options) (*Source, error) {
	argv, err := Argv(commandLine)
	if err != nil {
		return nil, fmt.Errorf("exec source: %w", err)
	}
	return NewArgv(argv, opts)
}

// NewArgv is New for a command already cut into its words (argv[0] the program).
func NewArgv(argv []string, opts Options) (*Source, error) {
	if len(argv) == 0 {
		return nil, errors.New("exec source: no program")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Source{argv: argv, logger: opts.Logger}
	if opts.Format == "" {
		opts.Format = "h264"
	}
	if opts.FPS == 0 {
		opts.FPS = 30
	}
	if opts.Format != "h264" {
		l, ok := rawLayouts[opts.Format]
		if !ok {
			return nil, fmt.Errorf("exec source: format %q: want one of %s", opts.Format, strings.Join(Formats, ", "))
		}
		s.layout = l
		if l != picture.MJPEG && (opts.Width <= 0 || opts.Height <= 0 || opts.Width%2 != 0 || opts.Height%2 != 0 || opts.Width > 8192 || opts.Height > 8192) {
			return nil, fmt.Errorf("exec source: %s pictures of %dx%d: want even sides from 2 to 8192", opts.Format, opts.Width, opts.Height)
		}
		if !(opts.FPS > 0 && opts.FPS <= 240) {
			return nil, fmt.Errorf("exec source: frame rate %v: want more than 0 and at most 240", opts.FPS)
		}
		if opts.Stride == 0 && l == picture.I420 && isRPiCam(argv[0]) {
			opts.Stride = RPiCamStride(opts.Width)
		}
		if opts.Stride != 0 && opts.Stride < picture.MinStride(l, opts.Width) {
			return nil, fmt.Errorf("exec source: stride %d is shorter than a row of %d pixels", opts.Stride, opts.Width)
		}
	}
	s.opts = opts
	return s, nil
}

// isRPiCam tells whether the program is Raspberry Pi's camera app (or its old name).
func isRPiCam(program string) bool {
	switch filepath.Base(program) {
	case "rpicam-vid", "libcamera-vid":
		return true
	}
	return false
}

// Raw tells whether the source writes raw pictures (use RunFrames) rather than H.264.
func (s *Source) Raw() bool { return s.layout != 0 }

// FrameSize is the number of bytes of one raw picture, or 0 for h264 and mjpeg.
func (s *Source) FrameSize() int {
	if s.layout == 0 {
		return 0
	}
	return picture.FrameSize(s.layout, s.opts.Width, s.opts.Height, s.opts.Stride)
}

// Name is the program the source runs, without its directory or arguments, safe to show:
// arguments may hold credentials (an RTSP URL, say), so errors and logs name only this.
func (s *Source) Name() string { return filepath.Base(s.argv[0]) }

// Run starts the command and delivers its access units. When ctx ends, deliver fails or
// the output cannot be split, the command's whole process group gets SIGTERM, then SIGKILL
// after two seconds, and is reaped before Run returns. When the command ends by itself
// Run returns an error with its exit status (wrapping io.EOF for status 0).
func (s *Source) Run(ctx context.Context, deliver func(*media.AccessUnit) error) error {
	if s.Raw() {
		return fmt.Errorf("exec source: %s writes %s pictures, which need an encoder (RunFrames), not H.264", s.Name(), s.opts.Format)
	}
	return s.run(ctx, func(stdout *os.File, start time.Time) error { return s.read(ctx, stdout, start, deliver) })
}

// RunFrames starts the command and delivers its raw pictures, as I420 or NV12 frames
// timed on arrival and smoothed to the frame rate (see frameClock), with the same process
// handling as Run. Output that ends inside a picture is an error that names the picture
// size expected.
func (s *Source) RunFrames(ctx context.Context, deliver func(*media.Frame) error) error {
	if !s.Raw() {
		return fmt.Errorf("exec source: %s writes H.264, not raw pictures (set the format to one of %s)", s.Name(), strings.Join(Formats[1:], ", "))
	}
	return s.run(ctx, func(stdout *os.File, start time.Time) error { return s.readFrames(ctx, stdout, start, deliver) })
}

// RunOutput runs the command as Run does (no shell, own process group, stopped and reaped
// the same way) but hands its standard output to read, for formats other than video (the
// audio track's ADTS). read returns nil at the end of the output (io.EOF, or
// os.ErrDeadlineExceeded once the command exited and its output was drained) or when ctx
// ends; start is when the command started.
func (s *Source) RunOutput(ctx context.Context, read func(stdout io.Reader, start time.Time) error) error {
	return s.run(ctx, func(stdout *os.File, start time.Time) error { return read(stdout, start) })
}

// run starts the command, has read consume its output, and stops and reaps it.
func (s *Source) run(ctx context.Context, read func(stdout *os.File, start time.Time) error) error {
	name := s.Name()
	cmd := osexec.Command(s.argv[0], s.argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("exec source: %s: stdout pipe: %w", name, err)
	}
	defer stdout.Close()
	if size := s.FrameSize(); size > 0 {
		growPipe(stdout, size)
	}
	cmd.Stdout = w
	stderr := &lineLogger{logger: s.logger, program: name, keep: s.opts.ErrorLines}
	cmd.Stderr = stderr
	// Bounds Wait when a process the group leader left behind keeps stderr open.
	cmd.WaitDelay = time.Second
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("exec source: start %s: %w", name, err)
	}
	start := time.Now()
	s.logger.Info("exec source started", "program", name, "pid", cmd.Process.Pid)

	stop := make(chan struct{})
	exited := make(chan error, 1)
	go func() { exited <- s.supervise(ctx, cmd, stdout, stderr, stop) }()

	runErr := read(stdout, start)
	var exitErr error
	exitedByItself := false
	if runErr == nil && ctx.Err() == nil {
		// The output ended: the command is exiting (coreutils close stdout just before),
		// or it closed stdout and goes on; the latter gets stopped after a while.
		t := time.NewTimer(drainGrace)
		select {
		case exitErr = <-exited:
			exitedByItself = true
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	if !exitedByItself {
		close(stop)
		exitErr = <-exited
	}
	switch {
	case ctx.Err() != nil:
		return nil
	case runErr != nil:
		return runErr
	case !exitedByItself:
		return fmt.Errorf("exec source: %s closed its output but did not exit", name)
	case exitErr == nil:
		return fmt.Errorf("exec source: %s ended with exit status 0: %w", name, io.EOF)
	default:
		return fmt.Errorf("exec source: %s ended: %w%s", name, exitErr, s.lastWords(stderr))
	}
}

// lastWords is what the command last wrote to standard error, when Options.ErrorLines
// asks for it, and the hint about it: ` ("ERROR: *** no cameras available ***"; check ...)`.
func (s *Source) lastWords(stderr *lineLogger) string {
	last := stderr.last()
	if last == "" {
		return ""
	}
	// Where the program marks its errors, those lines say it; the info lines before
	// them (libcamera's version, say) only crowd them.
	var errs []string
	for _, l := range strings.Split(last, " / ") {
		if strings.Contains(l, "ERROR") || strings.Contains(l, "error:") {
			errs = append(errs, l)
		}
	}
	if len(errs) > 0 {
		last = strings.Join(errs, " / ")
	}
	out := fmt.Sprintf(": %q", last)
	if s.opts.Hint != nil {
		if h := s.opts.Hint(last); h != "" {
			out += ": " + h
		}
	}
	return out
}

// supervise waits for the command to exit or for Run to stop it, then makes sure no process
// of its group survives and unblocks the reader. It returns the command's exit error.
func (s *Source) supervise(ctx context.Context, cmd *osexec.Cmd, stdout *os.File, stderr *lineLogger, stop <-chan struct{}) error {
	pgid := cmd.Process.Pid
	wait := make(chan error, 1)
	go func() { wait <- cmd.Wait() }()
	var err error
	exitedByItself := false
	select {
	case err = <-wait:
		exitedByItself = true
		// Give the reader time to drain what the command wrote, then unblock it even if
		// something outside the group holds the pipe.
		time.AfterFunc(drainGrace, func() { stdout.SetReadDeadline(time.Now()) })
	case <-ctx.Done():
	case <-stop:
	}
	var tree []int
	if !exitedByItself {
		// Every descendant, found while the command still holds them: one that called
		// setsid() (a daemon, `setsid x &` in a script) left the group, and would survive
		// a signal to it, holding the camera or the pipe.
		tree = descendants(pgid)
		signalAll(pgid, tree, syscall.SIGTERM)
		t := time.NewTimer(killDelay)
		select {
		case err = <-wait:
			t.Stop()
		case <-t.C:
			s.logger.Warn("exec source: command ignores SIGTERM, killing it", "program", s.Name())
			signalAll(pgid, tree, syscall.SIGKILL)
			err = <-wait
		}
		stdout.SetReadDeadline(time.Now())
	}
	// Whatever the leader left behind goes too.
	signalAll(pgid, tree, syscall.SIGKILL)
	stderr.flush()
	return err
}

// signalAll signals the process group pgid and every process of tree.
func signalAll(pgid int, tree []int, sig syscall.Signal) {
	syscall.Kill(-pgid, sig)
	for _, pid := range tree {
		syscall.Kill(pid, sig)
	}
}

// sniffSize bytes of output without an Annex-B start code are no H.264: a program that
// writes raw pictures without CAMNODE_SOURCE_FORMAT saying so.
const sniffSize = 64 << 10

// notH264 is the error of output that is not H.264, saying what it looks like and which
// setting to change.
func (s *Source) notH264(head []byte) error {
	what := "raw pictures"
	format := "yuv420, nv12 or yuyv as the program writes"
	if bytes.HasPrefix(head, []byte{0xff, 0xd8, 0xff}) {
		what, format = "JPEG pictures", "mjpeg"
	}
	return fmt.Errorf("exec source: %s output is not H.264 (no start code in its first %d bytes): it looks like %s; set CAMNODE_SOURCE_FORMAT=%s, with CAMNODE_WIDTH and CAMNODE_HEIGHT its picture size",
		s.Name(), len(head), what, format)
}

// chunk records when the pipe delivered the stream bytes up to end.
type chunk struct {
	end int64
	at  time.Duration
}

func (s *Source) read(ctx context.Context, stdout io.Reader, start time.Time, deliver func(*media.AccessUnit) error) error {
	var (
		sp       h264.Splitter
		chunks   []chunk
		received int64
		au       media.AccessUnit
		last     time.Duration
		delivErr error
	)
	emit := func(nalus [][]byte) error {
		off := sp.Offset()
		i := 0
		for i < len(chunks)-1 && chunks[i].end <= off {
			i++
		}
		at := max(chunks[i].at, last)
		chunks = slices.Delete(chunks, 0, i)
		last = at
		au = media.AccessUnit{NALUs: nalus, Time: at, Keyframe: h264.IsKeyframe(nalus)}
		if err := deliver(&au); err != nil {
			delivErr = err
			return err
		}
		return nil
	}
	buf := make([]byte, 64<<10)
	var head []byte // the first bytes, until a start code shows the output is H.264
	sniffed := false
	for {
		n, err := stdout.Read(buf)
		if n > 0 && !sniffed {
			head = append(head, buf[:min(n, sniffSize-len(head))]...)
			if sniffed = bytes.Contains(head, []byte{0, 0, 1}); !sniffed && len(head) >= sniffSize {
				return s.notH264(head)
			}
		}
		if n > 0 {
			received += int64(n)
			chunks = append(chunks, chunk{received, time.Since(start)})
			if perr := sp.Push(buf[:n], emit); perr != nil {
				if delivErr != nil {
					return delivErr // unchanged, as media.Source promises
				}
				return fmt.Errorf("exec source: %s output: %w", s.Name(), perr)
			}
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) {
			if !sniffed && len(head) > 0 {
				return s.notH264(head)
			}
			return sp.Flush(emit)
		}
		return fmt.Errorf("exec source: read %s output: %w", s.Name(), err)
	}
}
