package v4l2

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// pollInterval bounds how long a wait for a frame goes without looking at the context.
const pollInterval = 100 * time.Millisecond

// counters back Stats; the capture goroutine writes them, anyone reads.
type counters struct {
	captured, delivered, dropped, bufErrors atomic.Uint64
}

func (c *counters) stats() Stats {
	return Stats{Captured: c.captured.Load(), Delivered: c.delivered.Load(),
		Dropped: c.dropped.Load(), BufferErrors: c.bufErrors.Load()}
}

// captureLoop is what the H.264 and raw sources share: poll, dequeue, account, hand the
// buffer to handle, requeue.
type captureLoop struct {
	cam   camera
	stall time.Duration
	st    *counters
	log   *slog.Logger
	// onDrop runs after frames were lost (a sequence gap or a bad buffer).
	onDrop func()
	// stale, when set, picks out buffers that hold no new frame; they are requeued
	// unseen and take no part in the sequence accounting.
	stale func(buffer) bool
	clock captureClock
}

// run handles buffers until ctx ends (nil), the camera fails, no frame comes for the
// stall timeout, or handle returns an error. handle gets the buffer and its capture time
// on the source's clock; the buffer's bytes are the driver's and valid only during the
// call.
func (l *captureLoop) run(ctx context.Context, handle func(b buffer, t time.Duration) error) error {
	var haveSeq bool
	var lastSeq uint32
	lastFrame := time.Now()
	for {
		if ctx.Err() != nil {
			return nil
		}
		b, err := l.cam.next(pollInterval)
		if err == errNoFrame {
			if waited := time.Since(lastFrame); waited >= l.stall {
				return fmt.Errorf("v4l2: %s: no frame for %s: camera stalled or lost", l.cam.path(), waited.Round(100*time.Millisecond))
			}
			continue
		}
		if err != nil {
			return err
		}
		lastFrame = time.Now()
		if l.stale != nil && l.stale(b) {
			l.log.Debug("v4l2: stale buffer skipped", "device", l.cam.path(), "sequence", b.sequence, "bytes", len(b.data))
			if err := l.cam.requeue(b.index); err != nil {
				return err
			}
			continue
		}
		if !haveSeq {
			l.log.Debug("v4l2: first frame", "device", l.cam.path(), "sequence", b.sequence, "timestamp", b.time,
				"monotonic", b.monotonic, "bytes", len(b.data), "now", monotonicNow())
		}
		// The driver numbers the frames it captures; a frame that found no free buffer
		// (the consumer was late) or was lost on the way leaves a gap. Sequence numbers
		// wrap at 2^32; a number that went back (a driver restarted its count) is no gap.
		if haveSeq {
			if gap := b.sequence - lastSeq - 1; gap > 0 && gap < 1<<31 {
				l.st.dropped.Add(uint64(gap))
				l.log.Debug("v4l2: frames lost", "device", l.cam.path(), "count", gap, "sequence", b.sequence)
				if l.onDrop != nil {
					l.onDrop()
				}
			}
		}
		haveSeq, lastSeq = true, b.sequence
		if b.bad || len(b.data) == 0 {
			if b.bad {
				l.st.bufErrors.Add(1)
				l.st.dropped.Add(1)
				l.log.Debug("v4l2: driver flagged a buffer as bad", "device", l.cam.path(), "sequence", b.sequence)
				if l.onDrop != nil {
					l.onDrop()
				}
			}
			if err := l.cam.requeue(b.index); err != nil {
				return err
			}
			continue
		}
		l.st.captured.Add(1)
		herr := handle(b, l.clock.at(b))
		if err := l.cam.requeue(b.index); err != nil && herr == nil {
			herr = err
		}
		if herr != nil {
			if ctx.Err() != nil {
				return nil
			}
			return herr
		}
	}
}

// captureClock turns driver timestamps into times from the first frame. V4L2 capture
// drivers stamp buffers on CLOCK_MONOTONIC when the frame was taken; a buffer without
// such a stamp gets its arrival time on the same clock. Times always move forward, by a
// millisecond at least.
type captureClock struct {
	started    bool
	base, last time.Duration
}

func (c *captureClock) at(b buffer) time.Duration {
	ts := b.time
	if !b.monotonic || ts <= 0 {
		ts = monotonicNow()
	}
	if !c.started {
		c.started, c.base, c.last = true, ts, 0
		return 0
	}
	// At least a millisecond after the last: FLV carries milliseconds, and two frames
	// stamped within one (a late feeder, a loaded machine) must not share a timestamp.
	t := ts - c.base
	if t < c.last+time.Millisecond {
		t = c.last + time.Millisecond
	}
	c.last = t
	return t
}

// recoverCapture turns a panic in the capture path into Run's error: a camera problem
// must never take the node down.
func recoverCapture(err *error, path string, log *slog.Logger) {
	if r := recover(); r != nil {
		log.Error("v4l2: capture panicked", "device", path, "panic", r, "stack", string(debug.Stack()))
		*err = fmt.Errorf("v4l2: %s: capture failed: %v", path, r)
	}
}

// closeCamera closes cam, logging (not returning) a failure: the session is over anyway.
func closeCamera(cam camera, log *slog.Logger) {
	if err := cam.close(); err != nil {
		log.Debug("v4l2: close", "device", cam.path(), "err", err)
	}
}

// checkCapture tells whether the node can be captured from with the single-planar API.
func checkCapture(cam camera) error {
	caps := cam.info().caps
	switch {
	case caps&capVideoCapture != 0 && caps&capStreaming != 0:
		return nil
	case caps&capVideoCapture != 0:
		return fmt.Errorf("v4l2: %s (%s) has no streaming I/O, which camnode needs", cam.path(), cam.info().card)
	case caps&capVideoCaptureMPlan != 0:
		return fmt.Errorf("v4l2: %s (%s) offers only the multi-planar capture API, which camnode does not support; "+
			"on a Raspberry Pi with the libcamera stack, enable the legacy camera stack (bcm2835-v4l2) or use "+
			"CAMNODE_SOURCE=exec:rpicam-vid ...", cam.path(), cam.info().card)
	case caps&(capVideoM2M|capVideoM2MMPlane) != 0:
		return fmt.Errorf("v4l2: %s (%s) is a memory-to-memory codec, not a camera", cam.path(), cam.info().card)
	case caps&capMetaCapture != 0:
		return fmt.Errorf("v4l2: %s (%s) is a metadata node, not a video node: try the device next to it", cam.path(), cam.info().card)
	case caps&capVideoOutput != 0:
		return fmt.Errorf("v4l2: %s (%s) is a video output; a v4l2loopback device shows as a camera once its writer has set the format",
			cam.path(), cam.info().card)
	default:
		return fmt.Errorf("v4l2: %s (%s) is not a video capture device", cam.path(), cam.info().card)
	}
}

// pickSize chooses what to ask the driver for: the size asked, when offered; else the
// smallest offered size that covers it; else the largest. 0x0 keeps the driver's.
func pickSize(sizes []FrameSize, w, h int) (int, int) {
	if w <= 0 || h <= 0 || len(sizes) == 0 {
		return w, h
	}
	var cover, largest *FrameSize
	for i := range sizes {
		s := &sizes[i]
		if s.MaxWidth > 0 { // a range: the driver scales, clamp to it and round to its steps
			return clampStep(w, s.Width, s.MaxWidth, s.StepWidth), clampStep(h, s.Height, s.MaxHeight, s.StepHeight)
		}
		if s.Width == w && s.Height == h {
			return w, h
		}
		if s.Width >= w && s.Height >= h && (cover == nil || s.Width*s.Height < cover.Width*cover.Height) {
			cover = s
		}
		if largest == nil || s.Width*s.Height > largest.Width*largest.Height {
			largest = s
		}
	}
	if cover != nil {
		return cover.Width, cover.Height
	}
	return largest.Width, largest.Height
}

func clampStep(v, lo, hi, step int) int {
	v = max(lo, min(v, hi))
	if step > 1 {
		v = lo + (v-lo)/step*step
	}
	return v
}

// maxRate is the highest frame rate on offer, 0 when the driver does not say.
func maxRate(discrete []float64, hi float64) float64 {
	for _, r := range discrete {
		hi = max(hi, r)
	}
	return hi
}

// rate turns a frame interval num/den seconds into frames per second.
func rate(num, den uint32) float64 {
	if num == 0 {
		return 0
	}
	return float64(den) / float64(num)
}

// interval is the frame interval for fps as V4L2 wants it: 1/30 for 30 fps, 1001/30000
// for 29.97 (NTSC rates), 1000/12500 for 12.5.
func interval(fps float64) (num, den uint32) {
	if fps == math.Trunc(fps) {
		return 1, uint32(fps)
	}
	if n := math.Round(fps * 1.001); math.Abs(fps*1.001-n) < 1e-3 {
		return 1001, uint32(n) * 1000
	}
	return 1000, uint32(math.Round(fps * 1000))
}
