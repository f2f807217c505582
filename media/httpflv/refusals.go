package httpflv

import (
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"
)

// refusals logs refused requests and connections at a bounded rate: anyone who reaches
// the port can make them, and each line must not cost more than the request did.
// refusalBurst lines pass at once, then one per refusalEvery; a line after a pause says
// how many were left out.
type refusals struct {
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	tokens  float64
	last    time.Time
	dropped int
}

const (
	refusalBurst = 5
	refusalEvery = 10 * time.Second
	// maxLoggedPath is how much of a refused request's path a log line shows.
	maxLoggedPath = 64
)

func newRefusals(log *slog.Logger) *refusals {
	return &refusals{log: log, now: time.Now, tokens: refusalBurst}
}

// note logs msg with args at Warn, unless the rate is spent.
func (r *refusals) note(msg string, args ...any) {
	r.mu.Lock()
	now := r.now()
	if !r.last.IsZero() {
		r.tokens = min(refusalBurst, r.tokens+float64(now.Sub(r.last))/float64(refusalEvery))
	}
	r.last = now
	if r.tokens < 1 {
		r.dropped++
		r.mu.Unlock()
		return
	}
	r.tokens--
	dropped := r.dropped
	r.dropped = 0
	r.mu.Unlock()
	if dropped > 0 {
		args = append(args, "not_logged_before", dropped)
	}
	r.log.Warn(msg, args...)
}

// loggedPath is at most maxLoggedPath bytes of path, cut at a rune boundary, with "…"
// when it was cut.
func loggedPath(path string) string {
	if len(path) <= maxLoggedPath {
		return path
	}
	cut := maxLoggedPath
	for cut > 0 && !utf8.RuneStart(path[cut]) {
		cut--
	}
	return path[:cut] + "…"
}
