package audio

import (
	"context"
	"sync"
	"time"
)

// Clock is the video's clock as the audio track sees it: the time that the video's
// media.AccessUnit.Time counts. Audio frame times come from the sample count anchored to
// it, and the audio sources wait on it so that they never run ahead of the video.
type Clock interface {
	// Now is the current time on the video's clock.
	Now() time.Duration
	// Wait blocks until Now() >= t; it returns ctx's error if ctx ends first.
	Wait(ctx context.Context, t time.Duration) error
}

// WallClock is the clock of live video: the monotonic time since epoch, the instant that
// the video's time zero stands for (the pipeline's start).
func WallClock(epoch time.Time) Clock { return wallClock{epoch} }

type wallClock struct{ epoch time.Time }

func (c wallClock) Now() time.Duration { return time.Since(c.epoch) }

func (c wallClock) Wait(ctx context.Context, t time.Duration) error {
	d := t - time.Since(c.epoch)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// VideoClock is the clock of video that is not paced in real time (a file played as fast as
// the ingest takes it, a benchmark): it stands at the time of the latest video frame, which
// the video's producer reports with Advance. The zero value stands at 0.
type VideoClock struct {
	mu      sync.Mutex
	now     time.Duration
	changed chan struct{} // closed and replaced on every Advance
}

// Advance moves the clock to t; a t before the current time is ignored.
func (c *VideoClock) Advance(t time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t <= c.now {
		return
	}
	c.now = t
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// Now is the time of the latest video frame.
func (c *VideoClock) Now() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Wait blocks until the video reaches t.
func (c *VideoClock) Wait(ctx context.Context, t time.Duration) error {
	for {
		c.mu.Lock()
		if c.now >= t {
			c.mu.Unlock()
			return ctx.Err()
		}
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
