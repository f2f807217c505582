package node

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/config"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/pipeline"
)

// Causes of the burn carrier's drops, for chat_rejected events.
const (
	// causeNoLane: the renderer had no room on screen (every lane busy for its longest
	// wait, or its queue full).
	causeNoLane chat.Cause = "no free lane"
	// causeBurnSkipped: sent by the other carriers, but not drawn (no free lane).
	causeBurnSkipped chat.Cause = "not drawn"
)

// burnState is what the burn carrier does in the running pipeline.
type burnState int32

const (
	burnIdle    burnState = iota // no pipeline
	burnPending                  // a pipeline runs, its source is not open yet: chat waits in the renderer
	burnDrawing                  // the source's frames go through the renderer
	burnOff                      // this pipeline cannot draw (why says why)
)

// burner is the burn carrier: one renderer for the node's life, fed by the chat intake
// (add) and drawing into each raw frame of the running source before it is encoded (draw).
//
// When burn is the only carrier the renderer decides each message's fate: one it gives a
// lane counts in chat_shown, one it has no room for in chat_dropped. With other carriers
// those decide, and a message not drawn only raises a chat_rejected event (as captions
// that fall behind do). Either way the renderer's drops are chat_burn_dropped.
type burner struct {
	c     *chatIntake
	opts  pipeline.BurnOptions
	alone bool // no sei, cc or amf
	// auto: CAMNODE_DANMAKU=auto draws only where camnode encodes anyway; a stream that
	// passes the H.264 through goes out by the other carriers, and that is no news.
	auto bool
	log  *slog.Logger // the node's, from pipelineStarted

	loadOnce sync.Once
	r        *pipeline.BurnIn // nil until loaded, and when the font failed
	loadErr  error

	state    atomic.Int32 // a burnState
	clearReq atomic.Bool  // danmaku/set OFF: clear the screen before the next frame

	mu        sync.Mutex // add, and settling the renderer's counters into the intake's
	why       string     // burnOff: the reason, for chat rejected because of it
	announced bool       // burn_unavailable was published for this pipeline
	seenShown uint64     // renderer counters already accounted for
	seenDrop  uint64
	discarded uint64 // comments the renderer forgot in Clear, already accounted for
}

// newBurner returns the burn carrier when CAMNODE_DANMAKU names burn or is auto, else
// nil. The font is loaded when the first stream starts.
func newBurner(cfg *config.Config, c *chatIntake) *burner {
	if !cfg.Danmaku.May(config.CarrierBurn) {
		return nil
	}
	cs := cfg.Danmaku
	return &burner{
		c: c,
		opts: pipeline.BurnOptions{
			FontPath:  strings.Join(cfg.DanmakuFonts(), ":"),
			FontScale: cfg.DanmakuSize,
			LaneShare: cfg.DanmakuArea,
			Opacity:   cfg.DanmakuOpacity,
		},
		alone: !cs.May(config.CarrierSEI) && !cs.May(config.CarrierCC) && !cs.May(config.CarrierAMF),
		auto:  cs.Auto(),
	}
}

// renderer loads the font once and returns the renderer, or why it cannot be had. What
// the font chain lacks (a CJK or emoji font) is logged and published once, as a
// stream_warning: the stream runs, and some characters show as boxes.
func (b *burner) renderer(log *slog.Logger) (*pipeline.BurnIn, error) {
	b.loadOnce.Do(func() {
		r, err := pipeline.NewBurnIn(b.opts)
		if err != nil {
			b.loadErr = fmt.Errorf("cannot load the danmaku font: %w", err)
			return
		}
		b.mu.Lock()
		b.r = r
		b.mu.Unlock()
		cjk := "yes"
		if !r.HasCJKFont() {
			cjk = "no (install fonts-noto-cjk, or set CAMNODE_DANMAKU_FONT): non-Latin text shows as boxes"
		}
		log.Info("burn-in danmaku", "font", r.Font(), "cjk", cjk)
		warnings := r.FontWarnings()
		for _, w := range warnings {
			log.Warn("burn-in danmaku font", "warning", w)
		}
		if len(warnings) > 0 && !(b.auto && !r.HasCJKFont()) { // auto does not burn then
			b.c.rep.publish(EventStreamWarning, "burn-in: "+strings.Join(warnings, "; "))
		}
	})
	return b.r, b.loadErr
}

// accepting tells the chat intake whether burn takes messages in this pipeline, and if
// not, why. A nil burner takes none.
func (b *burner) accepting() (bool, string) {
	if b == nil {
		return false, ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch burnState(b.state.Load()) {
	case burnPending, burnDrawing:
		return true, ""
	case burnOff:
		return false, b.why
	}
	return false, "the stream is off"
}

// add queues an accepted message for the picture; the renderer's counters say later
// whether it was drawn.
func (b *burner) add(m *chat.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := burnState(b.state.Load())
	if b.r == nil || (st != burnPending && st != burnDrawing) {
		return
	}
	b.r.Add(m)
}

// draw is the overlay of the running source: it draws the comments in view into f.
// It runs on the source's goroutine.
func (b *burner) draw(f *media.Frame) error {
	if b.clearReq.Swap(false) {
		b.mu.Lock()
		b.discardLocked(chat.CauseHidden, "danmaku hidden (danmaku/set OFF)")
		b.mu.Unlock()
	}
	if err := b.r.Draw(f); err != nil {
		return fmt.Errorf("burn-in: %w", err)
	}
	b.mu.Lock()
	b.settleLocked()
	b.mu.Unlock()
	return nil
}

// pipelineStarted readies the carrier for a new stream (loading the font the first
// time): chat is taken, and waits, until the source opens and says whether it can be
// drawn into.
func (b *burner) pipelineStarted(log *slog.Logger) {
	if b == nil {
		return
	}
	r, err := b.renderer(log)
	if err == nil && b.auto && !r.HasCJKFont() {
		// Danmaku are often Chinese or Japanese: auto burns in only what it can draw.
		err = errors.New("no CJK font to draw chat with (install fonts-noto-cjk)")
	}
	b.mu.Lock()
	b.log = log
	b.state.Store(int32(burnPending))
	b.why, b.announced = "", false
	b.mu.Unlock()
	if err != nil {
		b.off(err.Error())
	}
}

// usable tells whether the source about to open should draw into its frames: false
// once off was called for this stream.
func (b *burner) usable() bool {
	return b != nil && burnState(b.state.Load()) != burnOff
}

// drawing records that the source just opened runs its frames through draw.
func (b *burner) drawing() {
	b.mu.Lock()
	b.state.Store(int32(burnDrawing))
	b.why = ""
	b.mu.Unlock()
}

// off records that the source just opened cannot be drawn into, publishes why (once a
// stream), and drops what waits for the picture. It must not run while draw does.
func (b *burner) off(why string) {
	b.mu.Lock()
	b.state.Store(int32(burnOff))
	b.why = why
	announce := !b.announced
	b.announced = true
	b.discardLocked(chat.CauseNoCarrier, why)
	b.mu.Unlock()
	if !announce {
		return
	}
	if b.auto {
		if b.log != nil {
			b.log.Info("CAMNODE_DANMAKU=auto: chat goes by sei, amf and cc, not burnt in", "why", why)
		}
		return
	}
	instead := "chat is rejected: no other carrier in CAMNODE_DANMAKU"
	if !b.alone {
		instead = "chat goes out by the other carriers only"
	}
	b.c.rep.publish(EventBurnUnavailable, "burn-in off for this stream: "+why+"; "+instead)
}

// hide clears the picture of every comment (danmaku/set OFF), before the next frame.
func (b *burner) hide() {
	if b != nil {
		b.clearReq.Store(true)
	}
}

// pipelineStopped accounts for what the renderer still holds and empties it. The
// pipeline's goroutines have ended.
func (b *burner) pipelineStopped() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clearReq.Store(false)
	b.discardLocked(chat.CauseStopped, "the stream stopped")
	b.state.Store(int32(burnIdle))
}

// dropped is chat_burn_dropped: the comments the renderer had no room for.
func (b *burner) dropped() *uint64 {
	if b == nil {
		return nil
	}
	var n uint64
	b.mu.Lock()
	if b.r != nil {
		n = b.r.Stats().Dropped
	}
	b.mu.Unlock()
	return &n
}

// settleLocked moves what the renderer did since the last call into the intake's counters.
func (b *burner) settleLocked() {
	if b.r == nil {
		return
	}
	st := b.r.Stats()
	if k := st.Shown - b.seenShown; k > 0 {
		b.seenShown = st.Shown
		if b.alone {
			b.c.shown.Add(k)
		}
	}
	if k := st.Dropped - b.seenDrop; k > 0 {
		b.seenDrop = st.Dropped
		if b.alone {
			b.c.drop("chat", int(k), &chat.Rejection{Cause: causeNoLane,
				Reason: fmt.Sprintf("%d message(s) not drawn: no free lane on screen in time (burn)", k)})
		} else {
			b.c.rep.report("chat", int(k), &chat.Rejection{Cause: causeBurnSkipped,
				Reason: fmt.Sprintf("%d message(s) sent without burn-in: no free lane on screen in time", k)})
		}
	}
}

// discardLocked clears the renderer (screen and queue) and, when burn is the only carrier,
// counts what was still waiting for a lane as dropped, for cause.
func (b *burner) discardLocked(cause chat.Cause, why string) {
	if b.r == nil {
		return
	}
	b.settleLocked()
	st := b.r.Stats()
	waiting := st.Added - st.Shown - st.Dropped - b.discarded
	b.discarded += waiting
	b.r.Clear()
	if waiting > 0 && b.alone {
		b.c.drop("chat", int(waiting), &chat.Rejection{Cause: cause,
			Reason: fmt.Sprintf("%d message(s) not drawn: %s", waiting, why)})
	}
}

// The burner is the pipeline's Overlay.
var _ pipeline.Overlay = (*burner)(nil)

// Enabled is usable, for the pipeline; with auto it draws only into pictures that are raw
// anyway.
func (b *burner) Enabled() (draw, wantRaw bool) { return b.usable(), !b.auto }

// burntIn tells whether the running source's pictures show the chat.
func (b *burner) burntIn() bool {
	return b != nil && burnState(b.state.Load()) == burnDrawing
}

// Drawing is drawing, for the pipeline.
func (b *burner) Drawing() { b.drawing() }

// Unavailable is off, for the pipeline.
func (b *burner) Unavailable(why string) { b.off(why) }

// Draw is draw, for the pipeline.
func (b *burner) Draw(f *media.Frame) error { return b.draw(f) }
