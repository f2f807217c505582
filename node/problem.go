package node

import "time"

// noLiveProblem is how long the stream may be wanted without any live destination before
// the state says "problem": a destination that keeps refusing shows only in Last error
// otherwise, while the State says "reconnecting".
const noLiveProblem = 60 * time.Second

// noLiveWatch times how long a wanted stream has had no live destination. Run's goroutine
// owns it: update calls check, and Run calls update again when C fires.
type noLiveWatch struct {
	after time.Duration // noLiveProblem when 0 (tests shorten it)
	since time.Time     // when the wanted stream last had no live destination; zero while live or off
	timer *time.Timer
}

// check notes state st at now and reports whether the stream has been without a live
// destination for the whole of noLiveProblem while wanted.
func (w *noLiveWatch) check(st State, now time.Time) bool {
	after := w.after
	if after <= 0 {
		after = noLiveProblem
	}
	if st == StateLive || st == StateIdle {
		w.since = time.Time{}
		if w.timer != nil {
			w.timer.Stop()
		}
		return false
	}
	if w.since.IsZero() {
		w.since = now
		if w.timer == nil {
			w.timer = time.NewTimer(after)
		} else {
			w.timer.Reset(after)
		}
	}
	return now.Sub(w.since) >= after
}

// C fires when noLiveProblem has passed since the stream lost its last live destination;
// nil before the first loss.
func (w *noLiveWatch) C() <-chan time.Time {
	if w.timer == nil {
		return nil
	}
	return w.timer.C
}
