// Package render draws Bilibili-style danmaku (scrolling, top and bottom comments) into raw I420/NV12 frames.
package render

import (
	"fmt"
	"image"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/camnode/camnode/media"
)

// Comment is one chat message to show.
type Comment struct {
	Text string
	User string // drawn as "user: text" when Options.ShowUser is set
	// Color is 0xRRGGBB (Bilibili's integer colours are this). The zero value is black,
	// drawn with a light outline; Bilibili's default is White.
	Color uint32
	// Mode is "scroll" (right to left; also "" and anything unknown), "reverse" (left
	// to right), "top" or "bottom" (fixed, centred).
	Mode string
}

// DefaultFontScale is the font size as a share of the frame height when
// Options.FontScale is zero: 36 px at 720p, 24 px at 480p, 54 px at 1080p.
const DefaultFontScale = 0.05

// White is the usual danmaku colour.
const White = 0xffffff

// Options tune the renderer. The zero value of each field means its default.
type Options struct {
	// FontPath names the fonts that head the font chain (.ttf, .otf, .ttc, .otc files),
	// separated by ':' (see SplitFontPath). Empty: the first of SystemFonts found. The
	// EmojiFonts found follow, then Go's font; each character is drawn by the first
	// font that has it, and as a hollow box when none has.
	FontPath string
	// FontScale is the font size as a share of the frame height (CAMNODE_DANMAKU_SIZE);
	// default DefaultFontScale.
	FontScale float64
	// LaneShare is the share of the frame height, from the top, that scrolling comments
	// use; default 0.5. Top comments may take lanes over the whole height from the top,
	// bottom comments from the bottom, wherever no other comment will cross them.
	LaneShare float64
	// ScrollTime is how long a scrolling comment takes to cross the frame, whatever its
	// length; default 8 s. FixedTime is how long a top or bottom comment stays; 4 s.
	ScrollTime, FixedTime time.Duration
	// Opacity of the comments, above 0 and at most 1; default 1.
	Opacity float64
	// MaxWait is how long a comment waits for a free lane before it is dropped; default
	// 3 s. MaxQueue bounds the comments waiting; beyond it, Add drops; default 64.
	MaxWait  time.Duration
	MaxQueue int
	// GlyphCacheBytes bounds the rasterized glyphs kept; default 8 MiB.
	GlyphCacheBytes int
	// ShowUser draws "user: text" instead of the text alone.
	ShowUser bool
}

func (o Options) withDefaults() (Options, error) {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.FontScale, DefaultFontScale)
	def(&o.LaneShare, 0.5)
	def(&o.Opacity, 1)
	for _, d := range []struct {
		v *time.Duration
		d time.Duration
	}{{&o.ScrollTime, 8 * time.Second}, {&o.FixedTime, 4 * time.Second}, {&o.MaxWait, 3 * time.Second}} {
		if *d.v == 0 {
			*d.v = d.d
		}
	}
	if o.MaxQueue == 0 {
		o.MaxQueue = 64
	}
	if o.GlyphCacheBytes == 0 {
		o.GlyphCacheBytes = 8 << 20
	}
	switch {
	case !(o.FontScale >= 0.01 && o.FontScale <= 0.5):
		return o, fmt.Errorf("danmaku: font scale %v: want 0.01 to 0.5 of the frame height", o.FontScale)
	case !(o.LaneShare > 0 && o.LaneShare <= 1):
		return o, fmt.Errorf("danmaku: lane share %v: want more than 0 and at most 1", o.LaneShare)
	case !(o.Opacity > 0 && o.Opacity <= 1):
		return o, fmt.Errorf("danmaku: opacity %v: want more than 0 and at most 1", o.Opacity)
	case o.ScrollTime < 500*time.Millisecond || o.FixedTime < 500*time.Millisecond:
		return o, fmt.Errorf("danmaku: scroll time %v and fixed time %v: want at least 0.5 s", o.ScrollTime, o.FixedTime)
	case o.MaxWait < 0 || o.MaxQueue < 1 || o.GlyphCacheBytes < 64<<10:
		return o, fmt.Errorf("danmaku: max wait %v, max queue %d, glyph cache %d bytes: want >= 0, >= 1, >= 64 KiB",
			o.MaxWait, o.MaxQueue, o.GlyphCacheBytes)
	}
	return o, nil
}

// Stats are the renderer's counters since New.
type Stats struct {
	Added   uint64 // comments passed to Add
	Shown   uint64 // comments that got a lane
	Dropped uint64 // comments dropped: queue full, or no lane within MaxWait
	// Waiting and OnScreen are as of the last Draw.
	Waiting, OnScreen int
	// Glyph cache: lookups that found the glyph rasterized, lookups that had to
	// rasterize it, glyphs and bytes held.
	GlyphHits, GlyphMisses uint64
	Glyphs, GlyphBytes     int
	// SpriteBytes is the memory of the comments on screen, rasterized.
	SpriteBytes int
}

// Placement is where a comment was drawn in the last frame.
type Placement struct {
	Text string
	Mode string // scroll, reverse, top or bottom
	Lane int    // counted from the top (scroll, reverse, top) or the bottom (bottom)
	// Rect is the comment's box with its outline, in frame pixels; it may reach past
	// the frame's edges, where it is clipped.
	Rect image.Rectangle
	// Since is the frame time the comment got its lane: it is on screen from then for
	// Options.ScrollTime (scrolling) or Options.FixedTime (top, bottom).
	Since time.Duration
}

// Renderer lays comments out in lanes and draws them into frames. Add may be called from
// any goroutine; Draw, Visible and Clear from one goroutine at a time.
type Renderer struct {
	opts  Options
	fonts *fontSet

	mu      sync.Mutex
	inbox   []Comment
	waiting int   // comments waiting as of the last Draw
	last    Stats // the gauges as of the last Draw
	stats   struct{ added, shown, dropped atomic.Uint64 }
	cleared atomic.Bool

	// Draw's state, for frames of w x h.
	w, h       int
	style      spriteStyle
	lanes      int // for scrolling comments, from the top
	fixedLanes int // for top comments from the top, and bottom ones from the bottom
	gap        int // pixels kept between any two comments
	pending    []*pendingComment
	active     []*activeComment
	t          time.Duration // the last frame's time
	started    bool
	placed     []Placement
	// layoutOnly leaves the frames' pixels alone: for tests of the layout over long
	// floods, where blending is most of the time (other tests check the pixels).
	layoutOnly bool
	maxRunes   int
	maxPixels  int
}

type mode uint8

const (
	modeScroll mode = iota
	modeReverse
	modeTop
	modeBottom
)

var modeNames = [...]string{"scroll", "reverse", "top", "bottom"}

func parseMode(s string) mode {
	switch strings.ToLower(s) {
	case "reverse":
		return modeReverse
	case "top":
		return modeTop
	case "bottom":
		return modeBottom
	}
	return modeScroll
}

type pendingComment struct {
	text    string
	mode    mode
	color   uint32
	glyphs  []placedGlyph
	width   int // pen advance, pixels
	arrival float64
}

// activeComment is a comment on screen (or entering it): a box of w x h pixels whose
// top edge is y and whose left edge moves from x0 at start at v pixels a second.
type activeComment struct {
	text   string
	mode   mode
	lane   int
	sprite *sprite
	since  time.Duration // the frame time it entered
	until  time.Duration // since + its time on screen: gone from that frame on
	start  float64       // since, seconds
	stop   float64       // until, seconds
	dur    float64
	y      int
	w, h   int
	x0, v  float64
}

func (a *activeComment) end() float64 { return a.stop }

// x is the exact left edge at t; position rounds it for drawing.
func (a *activeComment) x(t float64) float64 { return a.x0 + a.v*(t-a.start) }

func (a *activeComment) scrolling() bool { return a.mode == modeScroll || a.mode == modeReverse }

// New loads the font and returns a renderer. Frame sizes are learnt from the frames.
func New(opts Options) (*Renderer, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	fonts, err := loadFonts(opts.FontPath, opts.GlyphCacheBytes)
	if err != nil {
		return nil, err
	}
	return &Renderer{opts: opts, fonts: fonts, maxRunes: 256}, nil
}

// Font names the font chain, in order, for the log.
func (r *Renderer) Font() string {
	var names []string
	for _, tf := range r.fonts.faces {
		names = append(names, tf.name)
	}
	return strings.Join(names, ", then ")
}

// HasCJKFont tells whether the font chain draws Chinese characters.
func (r *Renderer) HasCJKFont() bool { return r.fonts.has(cjkProbe) }

// HasEmojiFont tells whether the font chain draws emoji.
func (r *Renderer) HasEmojiFont() bool { return r.fonts.has('😀') }

// FontWarnings says what the font chain lacks (no CJK font, no emoji font, an emoji
// font that could not be used) and which Debian package brings it, one sentence each;
// none when nothing is missing. They do not change while the renderer lives: log them
// once, when it is made.
func (r *Renderer) FontWarnings() []string { return slices.Clone(r.fonts.warnings) }

// Close releases the font files.
func (r *Renderer) Close() error { return r.fonts.Close() }

// Add queues a comment for the next frames. It never blocks: when MaxQueue comments are
// already waiting, the comment is dropped and counted. It reports whether it was queued.
func (r *Renderer) Add(c Comment) bool {
	r.stats.added.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.inbox)+r.waiting >= r.opts.MaxQueue {
		r.stats.dropped.Add(1)
		return false
	}
	r.inbox = append(r.inbox, c)
	return true
}

// Clear removes every comment on screen and waiting (for example when danmaku are
// switched off). They are not counted as dropped.
func (r *Renderer) Clear() {
	r.mu.Lock()
	r.inbox = r.inbox[:0]
	r.mu.Unlock()
	r.cleared.Store(true)
}

// Stats returns the counters; safe from any goroutine.
func (r *Renderer) Stats() Stats {
	r.mu.Lock()
	s := r.last
	r.mu.Unlock()
	s.Added, s.Shown, s.Dropped = r.stats.added.Load(), r.stats.shown.Load(), r.stats.dropped.Load()
	return s
}

// Visible returns where each comment was drawn in the last frame.
func (r *Renderer) Visible() []Placement { return append([]Placement(nil), r.placed...) }

// Draw lays out the comments waiting and draws every comment in view at the frame's
// time, f.Time, into f (I420 or NV12, any size; a new size starts the layout afresh, as
// does a time earlier than the last frame's). It changes only the pixels of the text
// and its outline.
func (r *Renderer) Draw(f *media.Frame) error {
	if err := checkFrame(f); err != nil {
		return err
	}
	now := f.Time.Seconds()
	if f.Width != r.w || f.Height != r.h {
		if err := r.resize(f.Width, f.Height); err != nil {
			return err
		}
	}
	if r.cleared.Swap(false) {
		r.pending = r.pending[:0]
		r.reset()
	}
	if r.started && f.Time < r.t {
		r.reset() // a new stream: times start again
		for _, p := range r.pending {
			p.arrival = now
		}
	}
	r.t, r.started = f.Time, true

	r.mu.Lock()
	inbox := r.inbox
	r.inbox = nil
	r.mu.Unlock()
	for _, c := range inbox {
		r.pending = append(r.pending, r.prepare(c, now))
	}
	r.schedule(now)

	// Expire, then draw what is in view.
	keep := r.active[:0]
	for _, a := range r.active {
		if f.Time < a.until {
			keep = append(keep, a)
		}
	}
	clear(r.active[len(keep):])
	r.active = keep
	r.placed = r.placed[:0]
	spriteBytes := 0
	for _, a := range r.active {
		x, y := r.position(a, now)
		s := a.sprite
		spriteBytes += s.bytes()
		if x >= r.w || x+s.w <= 0 {
			continue
		}
		if !r.layoutOnly {
			s.blit(f, x, y)
		}
		r.placed = append(r.placed, Placement{Text: a.text, Mode: modeNames[a.mode], Lane: a.lane,
			Rect: image.Rect(x, y, x+s.w, y+s.h), Since: a.since})
	}
	c := &r.fonts.cache
	r.mu.Lock()
	r.waiting = len(r.pending)
	r.last = Stats{Waiting: len(r.pending), OnScreen: len(r.active), GlyphHits: c.hits, GlyphMisses: c.misses,
		Glyphs: len(c.byRune), GlyphBytes: c.bytes, SpriteBytes: spriteBytes}
	r.mu.Unlock()
	return nil
}

// resize sets the font size and lanes for w x h frames and forgets the comments on
// screen (their sprites are of the old size).
func (r *Renderer) resize(w, h int) error {
	px := max(8, int(math.Round(float64(h)*r.opts.FontScale)))
	if err := r.fonts.setSize(px); err != nil {
		return err
	}
	r.w, r.h = w, h
	radius := max(1, px/16)
	pad := radius + 1
	height := (r.fonts.height + 2*pad + 1) &^ 1
	r.style = spriteStyle{opacity: int(math.Round(r.opts.Opacity * 255)), radius: radius, pad: pad, height: height, ascent: r.fonts.ascent}
	r.fixedLanes = max(1, h/height)
	r.lanes = min(max(1, int(float64(h)*r.opts.LaneShare)/height), r.fixedLanes)
	r.gap = px / 2
	r.maxPixels = 4 * w
	r.reset()
	// Glyphs measured at the old size are stale.
	for _, p := range r.pending {
		p.glyphs, p.width = r.layout(p.text, p.glyphs[:0])
	}
	return nil
}

// reset empties the screen and frees every lane.
func (r *Renderer) reset() {
	clear(r.active)
	r.active = r.active[:0]
	r.placed = r.placed[:0]
}

// prepare turns a comment into a pending one with its glyphs laid out.
func (r *Renderer) prepare(c Comment, now float64) *pendingComment {
	text := c.Text
	if r.opts.ShowUser && c.User != "" {
		text = c.User + ": " + c.Text
	}
	if limit := 4 * r.maxRunes; len(text) > limit { // more than layout can use
		for limit > 0 && !utf8.RuneStart(text[limit]) {
			limit--
		}
		text = text[:limit]
	}
	p := &pendingComment{text: text, mode: parseMode(c.Mode), color: c.Color & 0xffffff, arrival: now}
	p.glyphs, p.width = r.layout(text, nil)
	return p
}

// The emoji skin tone modifiers (Fitzpatrick types 1-2 to 6).
const skinToneFirst, skinToneLast = '\U0001F3FB', '\U0001F3FF'

// layout places the glyphs of text along a line: control characters become spaces or
// vanish, invisible format characters (zero width joiners, variation selectors, tags)
// and skin tones after another character vanish, so that an emoji sequence draws as
// the emoji it joins, and the line stops at maxRunes runes or maxPixels pixels.
func (r *Renderer) layout(text string, dst []placedGlyph) ([]placedGlyph, int) {
	var pen fixedPen
	n := 0
	for _, c := range text {
		if n == r.maxRunes || pen.px() > r.maxPixels {
			break
		}
		switch {
		case c == '\t' || c == '\n' || c == '\r':
			c = ' '
		case unicode.IsControl(c), unicode.Is(unicode.Cf, c), unicode.Is(unicode.Variation_Selector, c):
			continue
		case c >= skinToneFirst && c <= skinToneLast && n > 0:
			// A skin tone after an emoji colours it; outline fonts have one colour.
			continue
		}
		g := r.fonts.glyph(c)
		dst = append(dst, placedGlyph{g: g, x: pen.px()})
		pen.add(g)
		n++
	}
	return dst, pen.px()
}

// fixedPen accumulates glyph advances in 1/64 pixels.
type fixedPen struct{ x int64 }

func (p *fixedPen) add(g *glyph) { p.x += int64(g.advance) }
func (p *fixedPen) px() int      { return int((p.x + 32) >> 6) }

// schedule gives lanes to the comments waiting, oldest first, and drops those that
// waited longer than MaxWait.
func (r *Renderer) schedule(now float64) {
	maxWait := r.opts.MaxWait.Seconds()
	keep := r.pending[:0]
	for _, p := range r.pending {
		if now-p.arrival > maxWait {
			r.stats.dropped.Add(1)
			continue
		}
		if !r.place(p, now) {
			keep = append(keep, p)
			continue
		}
		r.stats.shown.Add(1)
	}
	clear(r.pending[len(keep):])
	r.pending = keep
}

// place finds p a lane at now where it will never touch another comment and puts it
// on screen. A scrolling comment takes the highest such lane of the scrolling area,
// one where no top or bottom comment is showing if there is one; a top (bottom) comment
// the highest (lowest) such lane, one that no scrolling comment is crossing if there is
// one. Without a lane, p waits.
func (r *Renderer) place(p *pendingComment, now float64) bool {
	w := r.spriteWidth(p)
	a := &activeComment{text: p.text, mode: p.mode, start: now, since: r.t, w: w, h: r.style.height, lane: -1}
	W := float64(r.w)
	lanes := r.fixedLanes
	switch p.mode {
	case modeScroll:
		a.dur, lanes = r.opts.ScrollTime.Seconds(), r.lanes
		a.x0, a.v = W, -(W+float64(w))/a.dur
	case modeReverse:
		a.dur, lanes = r.opts.ScrollTime.Seconds(), r.lanes
		a.x0, a.v = -float64(w), (W+float64(w))/a.dur
	default:
		a.dur = r.opts.FixedTime.Seconds()
		a.x0 = float64((r.w - w) / 2 &^ 1)
	}
	a.until = a.since + time.Duration(a.dur*float64(time.Second))
	a.stop = a.until.Seconds()
	for pass := range 2 {
		for lane := range lanes {
			a.lane, a.y = lane, r.laneY(p.mode, lane)
			if r.fits(a, now, pass == 0) {
				a.sprite = buildSprite(p.glyphs, p.width, r.styleFor(p.color))
				r.active = append(r.active, a)
				return true
			}
		}
	}
	return false
}

// laneY is the top edge of a lane of mode m.
func (r *Renderer) laneY(m mode, lane int) int {
	if m == modeBottom {
		return (r.h - (lane+1)*r.style.height) &^ 1
	}
	return lane * r.style.height
}

// fits tells whether the new comment a can have its lane: no comment on screen comes
// within the gap of it, in either direction, at any time while both are on screen.
// With picky, neither may a comment of the other kind (fixed for a scrolling a, and
// the other way round) be in the lane at now.
func (r *Renderer) fits(a *activeComment, now float64, picky bool) bool {
	gap := float64(r.gap)
	for _, b := range r.active {
		if b.y >= a.y+a.h || a.y >= b.y+b.h || b.end() <= now {
			continue
		}
		if picky && a.scrolling() != b.scrolling() {
			return false
		}
		// The boxes keep apart while a's left edge stays at least gap beyond b's right
		// edge, or a's right edge at least gap before b's left edge. a.x - b.x is
		// linear in t, so its extremes over the span both are on screen are at the ends.
		t0, t1 := now, min(a.end(), b.end())
		d0, d1 := a.x(t0)-b.x(t0), a.x(t1)-b.x(t1)
		if max(d0, d1) > -float64(a.w)-gap && min(d0, d1) < float64(b.w)+gap {
			return false
		}
	}
	return true
}

// spriteWidth is the width a comment's sprite will have, for the lane checks.
func (r *Renderer) spriteWidth(p *pendingComment) int {
	left, right := 0, p.width
	for _, pg := range p.glyphs {
		left = min(left, pg.x+pg.g.x)
		right = max(right, pg.x+pg.g.x+pg.g.w)
	}
	return (right - left + 2*r.style.pad + 1) &^ 1
}

// position is the top-left corner of a at time now, with an even x and y.
func (r *Renderer) position(a *activeComment, now float64) (x, y int) {
	return int(math.Round(a.x(now))) &^ 1, a.y
}

// styleFor is the sprite style of a comment of colour rgb: the colour over a dark
// outline, or a light one for dark colours.
func (r *Renderer) styleFor(rgb uint32) spriteStyle {
	st := r.style
	y, u, v := yuv709(rgb)
	st.fill = [3]byte{y, u, v}
	if y < 60 {
		st.outline = [3]byte{200, 128, 128}
	} else {
		st.outline = [3]byte{16, 128, 128}
	}
	return st
}

// checkFrame returns an error unless f is I420 or NV12 with planes that hold every row
// their strides say.
func checkFrame(f *media.Frame) error {
	w, h := f.Width, f.Height
	if w <= 0 || h <= 0 || w > 16384 || h > 16384 {
		return fmt.Errorf("danmaku: frame size %dx%d", w, h)
	}
	cw, ch := (w+1)/2, (h+1)/2
	rows := [3][2]int{{w, h}, {cw, ch}, {cw, ch}}
	n := 3
	switch f.Format {
	case media.PixelI420:
	case media.PixelNV12:
		rows[1][0], n = 2*cw, 2
	default:
		return fmt.Errorf("danmaku: frame pixel format %d: want I420 or NV12", f.Format)
	}
	for i := range n {
		pw, ph, s := rows[i][0], rows[i][1], f.Strides[i]
		if s < pw || len(f.Planes[i]) < s*(ph-1)+pw {
			return fmt.Errorf("danmaku: frame plane %d: %d bytes with stride %d, want %d rows of %d", i, len(f.Planes[i]), s, ph, pw)
		}
	}
	return nil
}

// yuv709 converts 0xRRGGBB to limited-range BT.709 Y'CbCr, the colour space the encoder
// flags in the stream.
func yuv709(rgb uint32) (y, u, v byte) {
	r, g, b := float64(rgb>>16&0xff)/255, float64(rgb>>8&0xff)/255, float64(rgb&0xff)/255
	l := 0.2126*r + 0.7152*g + 0.0722*b
	return byte(16 + 219*l + 0.5), byte(128 + 224*(b-l)/1.8556 + 0.5), byte(128 + 224*(r-l)/1.5748 + 0.5)
}
