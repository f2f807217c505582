package file

import (
	"context"
	"time"
)

// clock is the wall clock the pacer reads; tests replace it.
type clock interface {
	Now() time.Time
	// Sleep waits d, or until ctx ends, then returning ctx's error.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{ timer *time.Timer }

func (*realClock) Now() time.Time { return time.Now() }

func (c *realClock) Sleep(ctx context.Context, d time.Duration) error {
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d)
	}
	select {
	case <-c.timer.C:
		return nil
	case <-ctx.Done():
		c.timer.Stop()
		return ctx.Err()
	}
}

// lateFrames is how far, in frame durations, delivery may fall behind the media clock
// before the pacer stops trying to catch up. A consumer that stalls for longer then gets
// frames at the normal rate from where it is, not a burst of everything it missed.
const lateFrames = 4

// pacer releases each frame when the wall clock reaches its media time, measured from an
// anchor: the first frame, or the frame at which delivery last fell too far behind. The
// anchor is a point on the monotonic clock, so rounding never accumulates into drift.
type pacer struct {
	clock       clock
	started     bool
	anchorWall  time.Time
	anchorMedia time.Duration
}

func (p *pacer) wait(ctx context.Context, t, frame time.Duration) error {
	now := p.clock.Now()
	if !p.started {
		p.started = true
		p.anchorWall, p.anchorMedia = now, t
		return ctx.Err()
	}
	due := p.anchorWall.Add(t - p.anchorMedia)
	if d := due.Sub(now); d > 0 {
		return p.clock.Sleep(ctx, d)
	}
	if now.Sub(due) > lateFrames*frame {
		p.anchorWall, p.anchorMedia = now, t
	}
	return ctx.Err()
}
