package platform

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/camnode/camnode/chat"
)

// Session is one connection to a platform's chat: it connects, calls up once it reads the
// room, delivers messages, and returns when the connection fails or ctx ends. It returns
// only when every goroutine it started has ended.
type Session func(ctx context.Context, up func(), deliver func(chat.Message)) error

// Status is what a Supervisor reports of its room.
type Status struct {
	Room      Room
	Connected bool
	Err       error // why the connection failed; nil when Connected
	Retry     time.Duration
}

// Supervisor is a Reader that keeps a Session up: after each failure it waits a jittered,
// doubling delay from Min to Max, and starts over from Min after a connection that read
// the room for a while.
type Supervisor struct {
	Room    Room
	Session Session
	// Min and Max bound the delay between attempts; 0 means 1 s and 30 s.
	Min, Max time.Duration
	// OnStatus hears of every connect and every failure (from Run's goroutine).
	OnStatus func(Status)
}

// healthy is how long a connection must have read the room for the next failure to start
// the backoff from Min again.
const healthy = 30 * time.Second

// Run keeps the session up until ctx ends, then returns nil.
func (s *Supervisor) Run(ctx context.Context, deliver func(chat.Message)) error {
	lo, hi := s.Min, s.Max
	if lo <= 0 {
		lo = time.Second
	}
	if hi < lo {
		hi = max(lo, 30*time.Second)
	}
	backoff := lo
	for ctx.Err() == nil {
		var upAt time.Time
		err := s.Session(ctx, func() {
			upAt = time.Now()
			s.report(Status{Room: s.Room, Connected: true})
		}, deliver)
		if ctx.Err() != nil {
			return nil
		}
		if !upAt.IsZero() && time.Since(upAt) >= healthy {
			backoff = lo
		}
		if err == nil {
			err = errors.New("connection closed")
		}
		wait := Jitter(backoff)
		s.report(Status{Room: s.Room, Err: err, Retry: wait})
		backoff = min(2*backoff, hi)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	return nil
}

func (s *Supervisor) report(st Status) {
	if s.OnStatus != nil {
		s.OnStatus(st)
	}
}

// Jitter spreads d over [0.75d, 1.25d) so that a fleet does not reconnect in lockstep.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d*3/4 + rand.N(d/2+1)
}

// Heartbeat calls beat every period (the first time at once when now is set) on a
// goroutine wg joins, until ctx ends or beat fails: a failed write leaves the broken
// connection to the session's reader, which sees it.
func Heartbeat(ctx context.Context, wg *sync.WaitGroup, period time.Duration, now bool, beat func() error) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		if now && beat() != nil {
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if beat() != nil {
					return
				}
			}
		}
	}()
}
