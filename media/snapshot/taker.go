package snapshot

import (
	"bytes"
	"context"
	"image/jpeg"
	"sync/atomic"
	"time"

	"github.com/camnode/camnode/media"
)

// Taker makes the node's snapshots off the frame path: the stream's goroutine offers each
// frame (or keyframe) and goes on at once; only when a snapshot is due (every interval, or
// asked for) is the frame copied and handed to Run's goroutine, which encodes or decodes
// it and publishes. A snapshot still being made when the next is due makes that one wait
// for a later frame: a snapshot never delays a frame of the stream.
type Taker struct {
	// Decoder decodes the keyframes of an H.264-only source; set it before Run.
	Decoder Decoder

	interval  time.Duration
	publish   func(jpeg []byte, info Info)
	requested atomic.Bool
	next      atomic.Int64 // UnixNano when the next periodic snapshot is due; 0: now
	busy      atomic.Bool  // a snapshot is handed over and not yet made
	work      chan job     // holds at most the one busy job
}

type job struct {
	frame *media.Frame
	au    [][]byte
	err   error // the frame could not be taken
}

// NewTaker makes a Taker that publishes a snapshot every interval (0: only on Request)
// through publish, which Run calls from its own goroutine: the JPEG, and its Info; on
// failure a nil JPEG and an Info whose Error says why.
func NewTaker(interval time.Duration, publish func(jpeg []byte, info Info)) *Taker {
	return &Taker{interval: interval, publish: publish, work: make(chan job, 1)}
}

// Request asks for a snapshot of the next frame offered (the Home Assistant button).
func (t *Taker) Request() { t.requested.Store(true) }

// Due reports whether the next frame offered would be taken: cheap enough for every frame.
func (t *Taker) Due() bool {
	if t.requested.Load() {
		return true
	}
	return t.interval > 0 && time.Now().UnixNano() >= t.next.Load()
}

// OfferFrame takes a copy of f when a snapshot is due and Run is free, and returns at once.
func (t *Taker) OfferFrame(f *media.Frame) {
	if !t.Due() || t.busy.Load() {
		return
	}
	c, err := Clone(f)
	if err != nil {
		t.hand(job{err: err})
		return
	}
	t.hand(job{frame: c})
}

// OfferKeyframe takes a copy of an H.264 keyframe access unit (it must hold its SPS and
// PPS) when a snapshot is due and Run is free; other access units are ignored.
func (t *Taker) OfferKeyframe(au *media.AccessUnit) {
	if !au.Keyframe || !t.Due() || t.busy.Load() {
		return
	}
	nalus := make([][]byte, len(au.NALUs))
	for i, n := range au.NALUs {
		nalus[i] = append([]byte(nil), n...)
	}
	t.hand(job{au: nalus})
}

func (t *Taker) hand(j job) {
	if !t.busy.CompareAndSwap(false, true) {
		return // Run is still busy with the last one
	}
	t.requested.Store(false)
	t.next.Store(time.Now().Add(t.interval).UnixNano())
	t.work <- j // never blocks: the slot is free while not busy
}

// Run makes and publishes the snapshots handed over until ctx ends.
func (t *Taker) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-t.work:
			var (
				b   []byte
				err error
			)
			switch {
			case j.err != nil:
				err = j.err
			case j.frame != nil:
				b, err = FromFrame(j.frame, 0)
			default:
				b, err = t.Decoder.FromKeyframe(ctx, j.au)
			}
			t.busy.Store(false) // publishing may block; the next frame can be taken meanwhile
			info := Info{TS: stamp(time.Now())}
			if err != nil {
				info.Error = err.Error()
				t.publish(nil, info)
				continue
			}
			if cfg, err := jpeg.DecodeConfig(bytes.NewReader(b)); err == nil {
				info.Width, info.Height = cfg.Width, cfg.Height
			}
			info.Bytes = len(b)
			t.publish(b, info)
		}
	}
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }
