package render

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/media"
)

// floodText is a chat message of 1 to 100 runes: CJK, Latin, digits and emoji mixed.
func floodText(rng *rand.Rand) string {
	pieces := []string{"前方高能", "弹幕护体", "哈哈哈", "666", "awsl", "gg", "主播好厉害", "泪目", "草", "！", "？", "…",
		"😂", "❤️", "👍🏽", "🥰", "🎉", "🤦‍♂️", "🔥", "✨", "Hello", "nice", "wwww", "こんにちは", "화이팅", " "}
	n := 1 + rng.IntN(100)
	if rng.IntN(3) > 0 {
		n = 1 + rng.IntN(16) // most chat is short
	}
	var b strings.Builder
	for runes := 0; runes < n; {
		p := []rune(pieces[rng.IntN(len(pieces))])
		p = p[:min(len(p), n-runes)]
		b.WriteString(string(p))
		runes += len(p)
	}
	return b.String()
}

// seen is what the flood test saw of one comment.
type seen struct {
	added        time.Duration
	mode         string
	since        time.Duration
	first, last  time.Duration // frame times it was drawn
	frames       int
	rect         image.Rectangle // the first
	lastRect     image.Rectangle
	lastSeenStep int
}

// TestFloodNoOverlap lays out a minute of chat at 720p and 30 fps: bursts and calm, every
// mode, 1 to 100 runes of CJK, Latin and emoji. Every frame: no two comment boxes
// intersect, whatever their modes; scrolling ones stay in their area. Every comment:
// scrolling ones move at exactly (width of frame + their width) / 8 s from the right
// edge (left edge for reverse), fixed ones stay still and centred for exactly 4 s, each
// without a gap; none waited longer than MaxWait; each is shown, dropped or still
// waiting at the end, once.
func TestFloodNoOverlap(t *testing.T) {
	const W, H, fps = 1280, 720, 30
	r := newRenderer(t, Options{})
	r.layoutOnly = true // the sprites are built, not blended: minutes under -race otherwise
	t.Logf("fonts: %s", r.Font())
	rng := rand.New(rand.NewPCG(15, 60))
	modes := []string{"scroll", "scroll", "scroll", "scroll", "reverse", "top", "bottom"}
	comments := map[string]*seen{}
	f := background(media.PixelI420, W, H)
	id := 0
	maxOn, overlapChecks := 0, 0
	for step := range 60 * fps {
		now := time.Duration(step) * time.Second / fps
		// About 3 comments a second, with a burst of 40 every 10 s.
		burst := 0
		if step%(10*fps) == 5*fps {
			burst = 40
		}
		for k := 0; k < burst || rng.IntN(10) == 0; k++ {
			id++
			text := fmt.Sprintf("#%d %s", id, floodText(rng))
			mode := modes[rng.IntN(len(modes))]
			comments[text] = &seen{added: now, mode: mode, lastSeenStep: -1}
			r.Add(Comment{Text: text, Color: rng.Uint32(), Mode: mode})
			if k >= burst {
				break
			}
		}
		f.Time = now
		if err := r.Draw(f); err != nil {
			t.Fatal(err)
		}
		ps := r.Visible()
		maxOn = max(maxOn, len(ps))
		for i, a := range ps {
			for _, b := range ps[i+1:] {
				overlapChecks++
				if a.Rect.Overlaps(b.Rect) {
					t.Fatalf("%v: %s %q %v and %s %q %v intersect", now, a.Mode, a.Text, a.Rect, b.Mode, b.Text, b.Rect)
				}
			}
			c := comments[a.Text]
			if c == nil {
				t.Fatalf("%v: %q drawn, never added", now, a.Text)
			}
			if c.frames == 0 {
				c.first, c.since, c.rect = now, a.Since, a.Rect
			} else if c.lastSeenStep != step-1 {
				t.Fatalf("%v: %q back on screen after a gap", now, a.Text)
			}
			c.frames++
			c.last, c.lastRect, c.lastSeenStep = now, a.Rect, step
			if a.Mode != c.mode || a.Since != c.since {
				t.Fatalf("%v: %q drawn as %s since %v, added as %s, first since %v", now, a.Text, a.Mode, a.Since, c.mode, c.since)
			}
			w := float64(a.Rect.Dx())
			el := (now - a.Since).Seconds()
			switch a.Mode {
			case "scroll", "reverse":
				if a.Rect.Min.Y < 0 || a.Rect.Max.Y > int(0.5*H)+1 {
					t.Fatalf("%v: scrolling %q at %v, outside the upper half", now, a.Text, a.Rect)
				}
				want := W - (W+w)*el/8
				if a.Mode == "reverse" {
					want = -w + (W+w)*el/8
				}
				if math.Abs(float64(a.Rect.Min.X)-want) > 2 {
					t.Fatalf("%v: %s %q at x %d, %.2f s after it entered: want %.1f (speed (W+w)/8 s)", now, a.Mode, a.Text, a.Rect.Min.X, el, want)
				}
			case "top", "bottom":
				if a.Rect != c.rect || absDiff(a.Rect.Min.X, W-a.Rect.Max.X) > 2 {
					t.Fatalf("%v: %s %q moved to %v from %v, or not centred", now, a.Mode, a.Text, a.Rect, c.rect)
				}
				if a.Mode == "bottom" && a.Rect.Max.Y != H-a.Lane*a.Rect.Dy() || a.Mode == "top" && a.Rect.Min.Y != a.Lane*a.Rect.Dy() {
					t.Fatalf("%v: %s %q in lane %d at %v", now, a.Mode, a.Text, a.Lane, a.Rect)
				}
			}
		}
	}
	s := r.Stats()
	shown := 0
	for text, c := range comments {
		if c.frames == 0 {
			continue
		}
		shown++
		if wait := c.since - c.added; wait < 0 || wait > 3*time.Second {
			t.Errorf("%q waited %v for a lane", text, wait)
		}
		frameTime := time.Second / fps
		// Seen from the frame after it entered (scrolling: it starts off the right
		// edge) or the frame it entered (fixed) until its time is up.
		var span time.Duration
		if c.mode == "top" || c.mode == "bottom" {
			span = 4 * time.Second
		} else {
			span = 8 * time.Second
		}
		if c.since+span > 60*time.Second-frameTime {
			continue // still on screen at the end
		}
		if end := c.since + span; c.last >= end || c.last < end-2*frameTime {
			t.Errorf("%s %q on screen from %v to %v, entered at %v: want until %v", c.mode, text, c.first, c.last, c.since, end)
		}
		if (c.mode == "top" || c.mode == "bottom") && c.first != c.since {
			t.Errorf("%s %q entered at %v, first drawn at %v", c.mode, text, c.since, c.first)
		}
	}
	if s.Added != uint64(id) || s.Shown+s.Dropped+uint64(s.Waiting) != s.Added || uint64(shown) > s.Shown || s.Shown-uint64(shown) > uint64(s.OnScreen) {
		t.Errorf("%d comments added, %d drawn; stats %+v", id, shown, s)
	}
	if s.Dropped == 0 || shown < 150 {
		t.Errorf("the flood should fill every lane and drop some: %d shown, stats %+v", shown, s)
	}
	t.Logf("%d comments: %d drawn, %d dropped; at most %d on screen; %d pairs of boxes checked", id, shown, s.Dropped, maxOn, overlapChecks)
}

// TestScrollAvoidsFixed: a scrolling comment takes a lane where no fixed comment is
// showing while there is one; with none, it waits until it can pass the fixed comment
// without touching it, or is dropped after MaxWait, never drawn over it.
func TestScrollAvoidsFixed(t *testing.T) {
	goFontOnly(t)
	r := newRenderer(t, Options{})
	r.Add(Comment{Text: "pinned on top", Color: White, Mode: "top"})
	at(t, r, 1280, 720, 0)
	r.Add(Comment{Text: "scrolling past", Color: White})
	ps := at(t, r, 1280, 720, time.Second/30)
	at(t, r, 1280, 720, time.Second)
	ps = at(t, r, 1280, 720, 2*time.Second)
	top, _ := find(ps, "pinned on top")
	sc, ok := find(ps, "scrolling past")
	if !ok || top.Lane != 0 || sc.Lane != 1 || sc.Since != time.Second/30 {
		t.Fatalf("top %+v, scrolling %+v: want the scrolling one in lane 1 at once", top, sc)
	}

	// One lane only: it waits for the fixed comment, then passes under nothing.
	for _, maxWait := range []time.Duration{3 * time.Second, 300 * time.Millisecond} {
		r := newRenderer(t, Options{LaneShare: 0.07, MaxWait: maxWait}) // one scrolling lane at 720p
		r.Add(Comment{Text: "pinned on top", Color: White, Mode: "top"})
		at(t, r, 1280, 720, 0)
		r.Add(Comment{Text: "must wait", Color: White})
		var since time.Duration = -1
		for step := 1; step < 10*30; step++ {
			ps := at(t, r, 1280, 720, time.Duration(step)*time.Second/30)
			if r.lanes != 1 {
				t.Fatalf("%d scrolling lanes", r.lanes)
			}
			for i, a := range ps {
				if a.Text == "must wait" {
					since = a.Since
				}
				for _, b := range ps[i+1:] {
					if a.Rect.Overlaps(b.Rect) {
						t.Fatalf("step %d: %+v over %+v", step, a, b)
					}
				}
			}
		}
		s := r.Stats()
		switch maxWait {
		case 3 * time.Second:
			// The fixed comment leaves at 4 s; a comment entering at t reaches its
			// right edge about 3 s later at 720p: it waits about a second.
			if since < 500*time.Millisecond || since > 2*time.Second || s.Shown != 2 {
				t.Errorf("waited until %v; stats %+v", since, s)
			}
		default:
			if since != -1 || s.Dropped != 1 || s.Shown != 1 {
				t.Errorf("with MaxWait %v: shown at %v; stats %+v", maxWait, since, s)
			}
		}
	}
}

// TestFixedAvoidsScroll: a top comment takes the first lane no scrolling comment is
// crossing; a bottom one likewise from the bottom up; with every lane crossed, it waits.
func TestFixedAvoidsScroll(t *testing.T) {
	goFontOnly(t)
	r := newRenderer(t, Options{LaneShare: 1})
	for i := range 3 {
		r.Add(Comment{Text: fmt.Sprintf("scrolling %d", i), Color: White})
	}
	at(t, r, 1280, 720, 0)
	r.Add(Comment{Text: "Hello from Twitch chat", Color: White, Mode: "top"})
	r.Add(Comment{Text: "at the bottom", Color: White, Mode: "bottom"})
	ps := at(t, r, 1280, 720, time.Second)
	top, _ := find(ps, "Hello from Twitch chat")
	bottom, _ := find(ps, "at the bottom")
	if top.Lane != 3 || bottom.Lane != 0 || bottom.Rect.Max.Y != 720 {
		t.Fatalf("top %+v, bottom %+v: want top in lane 3 (0-2 crossed), bottom on the bottom edge", top, bottom)
	}

	// Every lane of a 2-lane frame crossed by a scrolling comment: the top one waits
	// until a scrolling one has passed the centre (about 5 s at this size and speed).
	r = newRenderer(t, Options{LaneShare: 1, FontScale: 0.35, MaxWait: 10 * time.Second})
	r.Add(Comment{Text: "one", Color: White})
	r.Add(Comment{Text: "two", Color: White})
	at(t, r, 320, 100, 0)
	r.Add(Comment{Text: "top", Color: White, Mode: "top"})
	var since time.Duration = -1
	for step := 1; step < 8*30; step++ {
		ps := at(t, r, 320, 100, time.Duration(step)*time.Second/30)
		if r.fixedLanes != 2 {
			t.Fatalf("%d lanes", r.fixedLanes)
		}
		for i, a := range ps {
			if a.Text == "top" && since < 0 {
				since = a.Since
			}
			for _, b := range ps[i+1:] {
				if a.Rect.Overlaps(b.Rect) {
					t.Fatalf("step %d: %+v over %+v", step, a, b)
				}
			}
		}
	}
	t.Logf("the top comment got its lane at %v", since)
	if since < time.Second || since > 8*time.Second {
		t.Errorf("top comment got a lane at %v: want it to wait until a scrolling one is past", since)
	}
}

// TestFontScale: the size is a share of the picture height (CAMNODE_DANMAKU_SIZE): the
// default draws 36 px text at 720p, twice the share twice the line, and the lanes follow.
func TestFontScale(t *testing.T) {
	goFontOnly(t)
	height := func(scale float64, h int) (line, lanes int) {
		r := newRenderer(t, Options{FontScale: scale})
		r.Add(Comment{Text: "size 大小", Color: White, Mode: "top"})
		ps := at(t, r, h*16/9, h, time.Second)
		if len(ps) != 1 {
			t.Fatalf("scale %v: %+v", scale, ps)
		}
		return ps[0].Rect.Dy(), r.lanes
	}
	def, defLanes := height(0, 720)
	if same, _ := height(DefaultFontScale, 720); same != def || not36px(def) {
		t.Errorf("default line %d px, DefaultFontScale %d px", def, same)
	}
	big, bigLanes := height(2*DefaultFontScale, 720)
	if absDiff(big, 2*def) > 4 || bigLanes >= defLanes {
		t.Errorf("twice the share: line %d px (default %d), lanes %d (default %d)", big, def, bigLanes, defLanes)
	}
	small, _ := height(DefaultFontScale, 360)
	if absDiff(2*small, def) > 4 {
		t.Errorf("at 360p: line %d px, at 720p %d", small, def)
	}
	if _, err := New(Options{FontScale: 0.6}); err == nil || !strings.Contains(err.Error(), "font scale 0.6") {
		t.Errorf("scale 0.6: %v", err)
	}
}

// not36px tells whether a line height is not that of 36 px text (the text, its outline and padding).
func not36px(line int) bool { return line < 36 || line > 36*3/2+8 }
