package pipeline

import (
	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/danmaku/render"
)

// BurnOptions configure the burned-in chat (CAMNODE_DANMAKU's burn): the fonts (a
// ':'-separated list heading the font chain; empty for the system's), the font size and
// the share of the picture the scrolling lanes take, both of the picture height, and the
// opacity.
type BurnOptions struct {
	FontPath                      string
	FontScale, LaneShare, Opacity float64
}

// BurnIn draws chat into raw pictures before they are encoded: the lanes, the fonts and
// the drawing (media/danmaku/render). Its owner decides what it is given and counts what
// became of it (Stats); Draw runs on the source's goroutine as the pipeline's Overlay.
type BurnIn struct{ r *render.Renderer }

// BurnStats count comments since the BurnIn was made: given to Add, given a lane on
// screen, dropped (its queue full, or no lane in time).
type BurnStats struct{ Added, Shown, Dropped uint64 }

// NewBurnIn loads the fonts.
func NewBurnIn(o BurnOptions) (*BurnIn, error) {
	r, err := render.New(render.Options{FontPath: o.FontPath, FontScale: o.FontScale, LaneShare: o.LaneShare, Opacity: o.Opacity})
	if err != nil {
		return nil, err
	}
	return &BurnIn{r}, nil
}

// Font names the font that heads the chain; HasCJKFont says whether the chain draws CJK
// text; FontWarnings say what it lacks (CJK, emoji).
func (b *BurnIn) Font() string           { return b.r.Font() }
func (b *BurnIn) HasCJKFont() bool       { return b.r.HasCJKFont() }
func (b *BurnIn) FontWarnings() []string { return b.r.FontWarnings() }

// Add queues a message to be drawn when a lane is free.
func (b *BurnIn) Add(m *chat.Message) {
	b.r.Add(render.Comment{Text: m.Text, User: m.User, Color: uint32(m.Color), Mode: m.Mode.String()})
}

// Draw draws the comments in view into f.
func (b *BurnIn) Draw(f *media.Frame) error { return b.r.Draw(f) }

// Clear takes every comment off the screen and out of the queue.
func (b *BurnIn) Clear() { b.r.Clear() }

// Stats returns the counters.
func (b *BurnIn) Stats() BurnStats {
	st := b.r.Stats()
	return BurnStats{Added: st.Added, Shown: st.Shown, Dropped: st.Dropped}
}

// OnScreen is the number of comments drawn into the last picture.
func (b *BurnIn) OnScreen() int { return len(b.r.Visible()) }
