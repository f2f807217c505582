// Package backoff is the delay between attempts of something that keeps failing: doubling
// from Min to Max, each delay spread by ±25 % so that a fleet does not retry in lockstep.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is the delay before the next attempt. Set Min and Max (Max >= Min > 0); the zero
// value of the rest is ready. It is not safe for concurrent use: one retry loop owns it.
type Backoff struct {
	Min, Max time.Duration
	// Exact turns the ±25 % spread off (a local accept loop has no fleet to spread).
	Exact bool
	next  time.Duration
}

// Next is the delay to wait now; the one after it is twice as long, up to Max.
func (b *Backoff) Next() time.Duration {
	if b.next < b.Min {
		b.next = b.Min
	}
	d := b.next
	b.next = min(2*b.next, b.Max)
	if b.Exact {
		return d
	}
	return time.Duration(float64(d) * (0.75 + 0.5*rand.Float64()))
}

// Reset starts over from Min: the attempt succeeded, or ran long enough to count as healthy.
func (b *Backoff) Reset() { b.next = b.Min }

// Longest returns the longest delay, Max (spread unless Exact), and keeps it for the next
// call: for a failure that retrying soon will not mend (an ingest that refuses the key).
func (b *Backoff) Longest() time.Duration {
	b.next = b.Max
	return b.Next()
}

// Wait waits Next; false when ctx ended first.
func (b *Backoff) Wait(ctx context.Context) bool {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
