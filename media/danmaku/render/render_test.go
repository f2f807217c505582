package render

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/sfnt"

	"github.com/camnode/camnode/media"
)

var update = flag.Bool("update", false, "rewrite the golden images in testdata")

// notoBold is the font of the CJK golden image: Debian's fonts-noto-cjk, which
// scripts/deps.sh installs.
const notoBold = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"

// symbola and unifontUpper are the emoji fonts of the chain: Debian's fonts-symbola and
// fonts-unifont, which scripts/deps.sh installs.
const (
	symbola      = "/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf"
	unifontUpper = "/usr/share/fonts/opentype/unifont/unifont_upper.otf"
)

// requireFont skips (or, in CI, fails) when the CJK font is not installed.
func requireFont(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("PEERS_REQUIRED") == "1" {
			t.Fatalf("font %s is required (install fonts-noto-cjk, fonts-symbola and fonts-unifont: scripts/deps.sh all)", path)
		}
		t.Skipf("font %s missing (install fonts-noto-cjk, fonts-symbola and fonts-unifont: scripts/deps.sh all)", path)
	}
}

// goFontOnly makes New find no system font while the test runs.
func goFontOnly(t testing.TB) {
	saved, savedEmoji := SystemFonts, EmojiFonts
	SystemFonts, EmojiFonts = nil, nil
	t.Cleanup(func() { SystemFonts, EmojiFonts = saved, savedEmoji })
}

func newRenderer(t testing.TB, opts Options) *Renderer {
	t.Helper()
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// background is a test picture: a grey ramp left to right, a white block and a black
// block on the right, chroma tinted by row — every kind of ground text must stay legible on.
func background(format media.PixelFormat, w, h int) *media.Frame {
	cw, ch := (w+1)/2, (h+1)/2
	f := &media.Frame{Format: format, Width: w, Height: h}
	f.Planes[0], f.Strides[0] = make([]byte, w*h), w
	if format == media.PixelNV12 {
		f.Planes[1], f.Strides[1] = make([]byte, 2*cw*ch), 2*cw
	} else {
		f.Planes[1], f.Planes[2] = make([]byte, cw*ch), make([]byte, cw*ch)
		f.Strides[1], f.Strides[2] = cw, cw
	}
	for y := range h {
		for x := range w {
			v := byte(16 + 219*x/w)
			switch {
			case x > w*3/4 && y < h/3:
				v = 235
			case x > w*3/4 && y > h*2/3:
				v = 16
			}
			f.Planes[0][y*w+x] = v
		}
	}
	for y := range ch {
		for x := range cw {
			u, v := byte(128), byte(128+(y*40/ch)-20)
			if format == media.PixelNV12 {
				f.Planes[1][y*2*cw+2*x], f.Planes[1][y*2*cw+2*x+1] = u, v
			} else {
				f.Planes[1][y*cw+x], f.Planes[2][y*cw+x] = u, v
			}
		}
	}
	return f
}

func cloneFrame(f *media.Frame) *media.Frame {
	c := *f
	for i := range c.Planes {
		c.Planes[i] = bytes.Clone(f.Planes[i])
	}
	return &c
}

// toImage converts limited-range BT.709 I420/NV12 to RGB, as a player shows it.
func toImage(f *media.Frame) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, f.Width, f.Height))
	for y := range f.Height {
		for x := range f.Width {
			var u, v byte
			if f.Format == media.PixelNV12 {
				u, v = f.Planes[1][y/2*f.Strides[1]+x/2*2], f.Planes[1][y/2*f.Strides[1]+x/2*2+1]
			} else {
				u, v = f.Planes[1][y/2*f.Strides[1]+x/2], f.Planes[2][y/2*f.Strides[2]+x/2]
			}
			l := (float64(f.Planes[0][y*f.Strides[0]+x]) - 16) / 219
			cb, cr := (float64(u)-128)/224, (float64(v)-128)/224
			r := l + 1.5748*cr
			b := l + 1.8556*cb
			g := (l - 0.2126*r - 0.0722*b) / 0.7152
			img.SetRGBA(x, y, color.RGBA{clamp8(r), clamp8(g), clamp8(b), 255})
		}
	}
	return img
}

func clamp8(v float64) uint8 { return uint8(math.Round(255 * min(1, max(0, v)))) }

// compareGolden checks img against testdata/name with a tolerance for rasterizer
// rounding across machines: at most 0.2% of pixels off by more than 24 in a channel,
// and a mean difference under 0.5. With -update it writes the golden image instead.
func compareGolden(t *testing.T, name string, img *image.RGBA) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to make it, then look at it)", err, t.Name())
	}
	defer f.Close()
	want, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if want.Bounds() != img.Bounds() {
		t.Fatalf("%s is %v, drawn %v", name, want.Bounds(), img.Bounds())
	}
	var off, sum, n int
	for y := range img.Rect.Dy() {
		for x := range img.Rect.Dx() {
			r0, g0, b0, _ := want.At(x, y).RGBA()
			got := img.RGBAAt(x, y)
			d := max(absDiff(int(r0>>8), int(got.R)), absDiff(int(g0>>8), int(got.G)), absDiff(int(b0>>8), int(got.B)))
			sum += d
			n++
			if d > 24 {
				off++
			}
		}
	}
	if off*500 > n || float64(sum)/float64(n) > 0.5 {
		out := filepath.Join(t.TempDir(), name)
		var buf bytes.Buffer
		png.Encode(&buf, img)
		os.WriteFile(out, buf.Bytes(), 0o644)
		t.Errorf("%s: %d of %d pixels differ by more than 24, mean difference %.3f; drawn picture in %s", name, off, n, float64(sum)/float64(n), out)
	}
}

func absDiff(a, b int) int {
	if a < b {
		return b - a
	}
	return a - b
}

// goldenComments are the messages of the golden images: every mode, colours, CJK, Latin,
// an emoji (Symbola's with the CJK font; a box with Go's font alone), black text (a light
// outline).
var goldenComments = []Comment{
	{Text: "Hello danmaku! 666", Color: White},
	{Text: "前方高能预警 弹幕护体", Color: 0xff6699},
	{Text: "置顶: 欢迎来到直播间", Color: 0x00ccff, Mode: "top"},
	{Text: "bottom 底部字幕 GG", Color: 0xffcc00, Mode: "bottom"},
	{Text: "reverse 逆向弹幕 →", Color: 0x66ff66, Mode: "reverse"},
	{Text: "emoji 😀👍🏽 ok", Color: White},
	{Text: "black 黑色", Color: 0x000000},
	{Text: "半透明? no: full", Color: 0xcc66ff, Mode: "top"},
}

func drawGolden(t *testing.T, r *Renderer, format media.PixelFormat, w, h int) *media.Frame {
	for _, c := range goldenComments {
		if !r.Add(c) {
			t.Fatalf("Add(%q) refused", c.Text)
		}
	}
	f := background(format, w, h)
	r.Draw(f) // t=0: everything placed, scrolling ones still off the right edge
	f = background(format, w, h)
	f.Time = 2500 * time.Millisecond
	if err := r.Draw(f); err != nil {
		t.Fatal(err)
	}
	if got := len(r.Visible()); got != len(goldenComments) {
		t.Fatalf("%d comments drawn, want %d: %+v", got, len(goldenComments), r.Visible())
	}
	return f
}

// TestGoldenCJK draws every kind of comment with Noto Sans CJK at 720p. Look at
// testdata/golden_cjk_720p.png after -update.
func TestGoldenCJK(t *testing.T) {
	requireFont(t, notoBold)
	requireFont(t, symbola)
	r := newRenderer(t, Options{FontPath: notoBold})
	if !r.HasCJKFont() || !strings.Contains(r.Font(), "Noto Sans CJK SC Bold") {
		t.Fatalf("font: %s", r.Font())
	}
	f := drawGolden(t, r, media.PixelI420, 1280, 720)
	compareGolden(t, "golden_cjk_720p.png", toImage(f))

	// NV12 holds exactly the same picture.
	r2 := newRenderer(t, Options{FontPath: notoBold})
	nv := drawGolden(t, r2, media.PixelNV12, 1280, 720)
	if !bytes.Equal(nv.Planes[0], f.Planes[0]) {
		t.Error("NV12 luma differs from I420")
	}
	for i := range f.Planes[1] {
		if nv.Planes[1][2*i] != f.Planes[1][i] || nv.Planes[1][2*i+1] != f.Planes[2][i] {
			t.Fatalf("NV12 chroma sample %d differs from I420", i)
		}
	}
}

// TestGoldenGoFont: with no CJK font on the system, Go's font draws the Latin text and
// CJK characters become boxes, at 480p.
func TestGoldenGoFont(t *testing.T) {
	goFontOnly(t)
	r := newRenderer(t, Options{})
	if r.HasCJKFont() || r.Font() != "Go Bold" {
		t.Fatalf("font: %s", r.Font())
	}
	f := drawGolden(t, r, media.PixelI420, 854, 480)
	compareGolden(t, "golden_gofont_480p.png", toImage(f))
}

// TestOnlyGlyphPixelsChange: every pixel that changes lies in a drawn comment's box, and
// far from every pixel of the box changes (the text, not a background plate).
func TestOnlyGlyphPixelsChange(t *testing.T) {
	goFontOnly(t)
	for _, format := range []media.PixelFormat{media.PixelI420, media.PixelNV12} {
		r := newRenderer(t, Options{})
		for _, c := range goldenComments {
			r.Add(c)
		}
		f := background(format, 640, 360)
		r.Draw(f)
		orig := background(format, 640, 360)
		orig.Time = 2 * time.Second
		f = cloneFrame(orig)
		r.Draw(f)
		boxes := r.Visible()
		if len(boxes) != len(goldenComments) {
			t.Fatalf("%d drawn", len(boxes))
		}
		in := func(x, y int) bool {
			for _, b := range boxes {
				if image.Pt(x, y).In(b.Rect) {
					return true
				}
			}
			return false
		}
		changed, area := 0, 0
		for _, b := range boxes {
			area += b.Rect.Intersect(image.Rect(0, 0, 640, 360)).Dx() * b.Rect.Intersect(image.Rect(0, 0, 640, 360)).Dy()
		}
		for y := range 360 {
			for x := range 640 {
				if f.Planes[0][y*640+x] != orig.Planes[0][y*640+x] {
					changed++
					if !in(x, y) {
						t.Fatalf("format %d: luma (%d,%d) changed outside every comment", format, x, y)
					}
				}
			}
		}
		cplanes := 2
		if format == media.PixelNV12 {
			cplanes = 1
		}
		for p := 1; p <= cplanes; p++ {
			for i := range f.Planes[p] {
				x, y := i%f.Strides[p], i/f.Strides[p]
				if format == media.PixelNV12 {
					x /= 2
				}
				if f.Planes[p][i] != orig.Planes[p][i] && !in(2*x, 2*y) && !in(2*x+1, 2*y+1) {
					t.Fatalf("format %d: chroma plane %d sample (%d,%d) changed outside every comment", format, p, x, y)
				}
			}
		}
		if changed == 0 || changed*10 > area*7 {
			t.Errorf("format %d: %d luma pixels changed in boxes of %d pixels: want text, not plates", format, changed, area)
		}
	}
}

// scratchFrames are frames for at to draw into, one per size: it looks at the
// placements only, so the pixels may pile up.
var scratchFrames = map[image.Point]*media.Frame{}

// at draws a frame at time at and returns the placements.
func at(t *testing.T, r *Renderer, w, h int, when time.Duration) []Placement {
	t.Helper()
	f := scratchFrames[image.Pt(w, h)]
	if f == nil {
		f = background(media.PixelI420, w, h)
		scratchFrames[image.Pt(w, h)] = f
	}
	f.Time = when
	if err := r.Draw(f); err != nil {
		t.Fatal(err)
	}
	return r.Visible()
}

func find(ps []Placement, text string) (Placement, bool) {
	for _, p := range ps {
		if p.Text == text {
			return p, true
		}
	}
	return Placement{}, false
}

// TestMotion: a scrolling comment crosses 1280+its width in 8 s, a reverse one the other
// way; a top comment stays put, centred, for 4 s, in the first lane no scrolling comment
// crosses; a bottom one sits on the bottom edge.
func TestMotion(t *testing.T) {
	goFontOnly(t)
	r := newRenderer(t, Options{})
	r.Add(Comment{Text: "scrolling along", Color: White})
	r.Add(Comment{Text: "the other way", Color: White, Mode: "reverse"})
	r.Add(Comment{Text: "fixed on top", Color: White, Mode: "top"})
	r.Add(Comment{Text: "fixed at the bottom", Color: White, Mode: "bottom"})
	at(t, r, 1280, 720, 0)
	var scroll, rev, top, bottom []Placement
	for s := 1; s <= 9; s++ {
		ps := at(t, r, 1280, 720, time.Duration(s)*time.Second)
		for _, c := range []struct {
			text string
			into *[]Placement
		}{{"scrolling along", &scroll}, {"the other way", &rev}, {"fixed on top", &top}, {"fixed at the bottom", &bottom}} {
			if p, ok := find(ps, c.text); ok {
				*c.into = append(*c.into, p)
			}
		}
	}
	w := scroll[0].Rect.Dx()
	speed := float64(1280+w) / 8
	if len(scroll) != 7 { // at 8 s it has just left
		t.Fatalf("scrolling comment seen at %d of seconds 1..9, want 7", len(scroll))
	}
	for i, p := range scroll {
		want := 1280 - speed*float64(i+1)
		if math.Abs(float64(p.Rect.Min.X)-want) > 2 || p.Rect.Min.Y != 0 || p.Lane != 0 || p.Mode != "scroll" {
			t.Errorf("scroll at %d s: %v lane %d, want x %.0f in lane 0", i+1, p.Rect, p.Lane, want)
		}
	}
	rw := rev[0].Rect.Dx()
	for i, p := range rev {
		want := -float64(rw) + float64(1280+rw)/8*float64(i+1)
		if math.Abs(float64(p.Rect.Min.X)-want) > 2 || p.Lane != 1 {
			t.Errorf("reverse at %d s: %v lane %d, want x %.0f in lane 1 (lane 0 has a comment going the other way)", i+1, p.Rect, p.Lane, want)
		}
	}
	if len(top) != 3 || len(bottom) != 3 { // seconds 1, 2, 3; gone at 4
		t.Fatalf("top seen %d times, bottom %d, want 3 each", len(top), len(bottom))
	}
	for _, p := range top {
		// Lanes 0 and 1 have scrolling comments that will cross the centre.
		if p.Rect != top[0].Rect || p.Lane != 2 || p.Rect.Min.Y != 2*p.Rect.Dy() || absDiff(p.Rect.Min.X, 1280-p.Rect.Max.X) > 2 {
			t.Errorf("top comment at %v lane %d, first at %v: want it still and centred in lane 2", p.Rect, p.Lane, top[0].Rect)
		}
	}
	for _, p := range bottom {
		if p.Rect != bottom[0].Rect || p.Rect.Max.Y != 720 || absDiff(p.Rect.Min.X, 1280-p.Rect.Max.X) > 2 {
			t.Errorf("bottom comment at %v: want it still and centred on the bottom edge", p.Rect)
		}
	}
	if h := scroll[0].Rect.Dy(); h < 36 || h > 36*3/2+8 {
		t.Errorf("line height %d at 720p with a 36 px font", h)
	}
}

// TestNoOverlapInLanes feeds a minute of random comments at random times and checks
// every frame: no two comments in one lane ever touch, and scrolling ones stay in the
// upper share of the frame.
func TestNoOverlapInLanes(t *testing.T) {
	goFontOnly(t)
	r := newRenderer(t, Options{LaneShare: 0.3})
	rng := rand.New(rand.NewPCG(3, 4))
	words := strings.Fields("a go 666 hello danmaku wonderful extraordinarily-long-comment-that-moves-fast x yes no maybe")
	for frame := range 60 * 30 {
		for rng.IntN(10) == 0 {
			var text []string
			for range 1 + rng.IntN(4) {
				text = append(text, words[rng.IntN(len(words))])
			}
			mode := []string{"scroll", "scroll", "scroll", "reverse", "top", "bottom"}[rng.IntN(6)]
			r.Add(Comment{Text: strings.Join(text, " "), Color: White, Mode: mode})
		}
		ps := at(t, r, 640, 360, time.Duration(frame)*time.Second/30)
		for i, a := range ps {
			if (a.Mode == "scroll" || a.Mode == "reverse") && a.Rect.Max.Y > int(0.3*360)+1 {
				t.Fatalf("frame %d: %q at %v, below the lane area", frame, a.Text, a.Rect)
			}
			for _, b := range ps[i+1:] {
				same := a.Lane == b.Lane && (a.Mode == b.Mode || a.Mode != "bottom" && b.Mode != "bottom" && a.Mode != "top" && b.Mode != "top")
				if same && a.Rect.Overlaps(b.Rect) {
					t.Fatalf("frame %d: %q %v and %q %v overlap in lane %d", frame, a.Text, a.Rect, b.Text, b.Rect, a.Lane)
				}
			}
		}
	}
	if s := r.Stats(); s.Shown < 100 {
		t.Errorf("only %d comments shown: %+v", s.Shown, s)
	}
}

// TestFlood: 500 comments at once. The queue holds MaxQueue, the rest are dropped at once;
// the queued ones get lanes or are dropped after MaxWait; every one is accounted for and
// memory stays bounded.
func TestFlood(t *testing.T) {
	goFontOnly(t)
	r := newRenderer(t, Options{})
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	queued := 0
	for i := range 500 {
		if r.Add(Comment{Text: fmt.Sprintf("flood %d 刷屏", i), Color: White}) {
			queued++
		}
	}
	if queued != 64 {
		t.Errorf("%d of 500 queued, want MaxQueue = 64", queued)
	}
	f := background(media.PixelI420, 1280, 720)
	maxOn := 0
	for frame := range 20 * 30 {
		f.Time = time.Duration(frame) * time.Second / 30
		r.Draw(f)
		s := r.Stats()
		maxOn = max(maxOn, s.OnScreen)
		if s.Waiting > 64 {
			t.Fatalf("frame %d: %d waiting", frame, s.Waiting)
		}
		if frame == 4*30 && s.Waiting != 0 {
			t.Errorf("still %d waiting after MaxWait", s.Waiting)
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	s := r.Stats()
	if s.Added != 500 || s.Shown+s.Dropped != 500 || s.Dropped < 436 || s.Shown == 0 || s.OnScreen != 0 {
		t.Errorf("stats after the flood: %+v", s)
	}
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 16<<20 {
		t.Errorf("heap grew by %d bytes", grown)
	}
	t.Logf("flood: %d shown, %d dropped, at most %d on screen at once", s.Shown, s.Dropped, maxOn)
}

func TestClearResizeAndRewind(t *testing.T) {
	goFontOnly(t)
	r := newRenderer(t, Options{})
	r.Add(Comment{Text: "one", Color: White, Mode: "top"})
	if ps := at(t, r, 640, 360, time.Second); len(ps) != 1 {
		t.Fatalf("%+v", ps)
	}
	r.Clear()
	if ps := at(t, r, 640, 360, 2*time.Second); len(ps) != 0 {
		t.Fatalf("after Clear: %+v", ps)
	}
	r.Add(Comment{Text: "two", Color: White, Mode: "top"})
	small := at(t, r, 640, 360, 3*time.Second)
	big := at(t, r, 1920, 1080, 3*time.Second) // new size: the layout starts afresh
	if len(small) != 1 || len(big) != 0 {
		t.Fatalf("small %+v, big %+v", small, big)
	}
	r.Add(Comment{Text: "three", Color: White, Mode: "top"})
	at(t, r, 1920, 1080, 10*time.Second)
	ps := at(t, r, 1920, 1080, 0) // time went back: a new stream
	if len(ps) != 0 {
		t.Fatalf("after rewind: %+v", ps)
	}
	r.Add(Comment{Text: "four", Color: White, Mode: "top"})
	ps = at(t, r, 1920, 1080, 100*time.Millisecond)
	if len(ps) != 1 || ps[0].Text != "four" || ps[0].Rect.Dy() < 54 {
		t.Fatalf("after rewind: %+v", ps)
	}
	if s := r.Stats(); s.Added != 4 || s.Shown != 4 || s.Dropped != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestShowUserAndOpacity(t *testing.T) {
	goFontOnly(t)
	r := newRenderer(t, Options{ShowUser: true, Opacity: 0.5})
	r.Add(Comment{Text: "hi", User: "alice", Color: White, Mode: "top"})
	f := background(media.PixelI420, 640, 360)
	f.Time = time.Second
	r.Draw(f)
	ps := r.Visible()
	if len(ps) != 1 || ps[0].Text != "alice: hi" {
		t.Fatalf("%+v", ps)
	}
	// Half opacity: no pixel is pure text white or pure outline black.
	orig := background(media.PixelI420, 640, 360)
	for i, v := range f.Planes[0] {
		if v != orig.Planes[0][i] && (v >= 230 || v <= 20) {
			t.Fatalf("pixel %d is %d at half opacity (ground %d)", i, v, orig.Planes[0][i])
		}
	}
}

func TestOptionsAndFrameErrors(t *testing.T) {
	for _, o := range []Options{{FontScale: 0.9}, {LaneShare: 1.5}, {Opacity: 2}, {Opacity: -1}, {ScrollTime: time.Millisecond},
		{MaxQueue: -1}, {GlyphCacheBytes: 10}, {MaxWait: -time.Second}} {
		if _, err := New(o); err == nil || !strings.HasPrefix(err.Error(), "danmaku: ") {
			t.Errorf("%+v: %v", o, err)
		}
	}
	if _, err := New(Options{FontPath: "/nonexistent/font.ttf"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/font.ttf") {
		t.Errorf("missing font: %v", err)
	}
	notFont := filepath.Join(t.TempDir(), "x.ttf")
	os.WriteFile(notFont, []byte("not a font at all, just some text"), 0o644)
	if _, err := New(Options{FontPath: notFont}); err == nil || !strings.Contains(err.Error(), notFont) {
		t.Errorf("not a font: %v", err)
	}
	goFontOnly(t)
	r := newRenderer(t, Options{})
	good := background(media.PixelI420, 64, 64)
	for name, mutate := range map[string]func(f *media.Frame){
		"format": func(f *media.Frame) { f.Format = 7 },
		"short":  func(f *media.Frame) { f.Planes[2] = f.Planes[2][:5] },
		"stride": func(f *media.Frame) { f.Strides[0] = 10 },
		"size":   func(f *media.Frame) { f.Width = 0 },
	} {
		f := cloneFrame(good)
		mutate(f)
		if err := r.Draw(f); err == nil {
			t.Errorf("%s: bad frame drawn", name)
		}
	}
}

// TestOddSizesAndEdges: odd frame sizes and tiny frames clip without a panic.
func TestOddSizesAndEdges(t *testing.T) {
	goFontOnly(t)
	r := newRenderer(t, Options{LaneShare: 1})
	for _, s := range [][2]int{{1, 1}, {3, 5}, {17, 9}, {101, 77}, {1281, 721}} {
		for _, m := range []string{"scroll", "reverse", "top", "bottom"} {
			r.Add(Comment{Text: "edge 边缘 " + m, Color: White, Mode: m})
		}
		for _, format := range []media.PixelFormat{media.PixelI420, media.PixelNV12} {
			for step := range 10 {
				f := background(format, s[0], s[1])
				f.Time = time.Duration(step) * time.Second
				if err := r.Draw(f); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// TestTextCleanup: control and invisible format characters draw nothing; a text of only
// those is an empty comment that still takes its lane and time without a panic; very
// long text stops at four frame widths.
func TestTextCleanup(t *testing.T) {
	goFontOnly(t)
	r := newRenderer(t, Options{})
	at(t, r, 640, 360, 0)
	plain, _ := r.layout("ab", nil)
	dirty, _ := r.layout("a\u200d\ufe0f\x00\x1b\u202eb", nil)
	if len(plain) != len(dirty) || plain[1].x != dirty[1].x {
		t.Errorf("invisible characters took room: %d glyphs vs %d", len(dirty), len(plain))
	}
	if g, w := r.layout("\u200b\u200d", nil); len(g) != 0 || w != 0 {
		t.Errorf("invisible-only text: %d glyphs, %d px", len(g), w)
	}
	_, w := r.layout(strings.Repeat("W", 10000), nil)
	if w > 4*640+200 {
		t.Errorf("a 10000-rune comment is %d px wide", w)
	}
	r.Add(Comment{Text: "\u200b", Mode: "top"})
	r.Add(Comment{Text: strings.Repeat("長", 1000), Color: White})
	at(t, r, 640, 360, time.Second)
	ps := at(t, r, 640, 360, 3*time.Second)
	if len(ps) != 2 || len(ps[1].Text) > 1024 || !utf8.ValidString(ps[1].Text) || !strings.HasPrefix(ps[1].Text, "長長") {
		t.Errorf("long comment kept as %d bytes (valid UTF-8: %v)", len(ps[1].Text), utf8.ValidString(ps[1].Text))
	}
}

// TestRepackMisalignedFont: a font whose tables do not start on 4-byte boundaries (as
// WenQuanYi's) is rebuilt and draws the same glyphs.
func TestRepackMisalignedFont(t *testing.T) {
	// Shift every table of Go Bold two bytes on, keeping the directory pointing at them.
	src := gobold.TTF
	n := int(binary.BigEndian.Uint16(src[4:]))
	out := bytes.Clone(src[:12+16*n])
	for k := range n {
		rec := 12 + 16*k
		off, length := binary.BigEndian.Uint32(out[rec+8:]), binary.BigEndian.Uint32(out[rec+12:])
		for len(out)%4 != 2 {
			out = append(out, 0)
		}
		binary.BigEndian.PutUint32(out[rec+8:], uint32(len(out)))
		out = append(out, src[off:off+length]...)
	}
	if _, err := sfnt.Parse(out); err == nil {
		t.Fatal("x/image/font/sfnt now parses misaligned tables: repackFace may be unnecessary")
	}
	path := filepath.Join(t.TempDir(), "misaligned.ttf")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRenderer(t, Options{FontPath: path})
	at(t, r, 640, 360, 0)
	g := r.fonts.glyph('A')
	goFontOnly(t)
	ref := newRenderer(t, Options{})
	at(t, ref, 640, 360, 0)
	if want := ref.fonts.glyph('A'); !bytes.Equal(g.mask, want.mask) || g.advance != want.advance || g.w == 0 {
		t.Errorf("repacked font draws 'A' differently (%dx%d vs %dx%d)", g.w, g.h, want.w, want.h)
	}
}

// TestSystemWenQuanYi uses Debian's WenQuanYi fonts where they are installed (they need
// the repacking).
func TestSystemWenQuanYi(t *testing.T) {
	for _, path := range []string{"/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"} {
		if _, err := os.Stat(path); err != nil {
			continue
		}
		r := newRenderer(t, Options{FontPath: path})
		at(t, r, 640, 360, 0)
		if g := r.fonts.glyph('中'); g.w < 10 || g.h < 10 || !strings.Contains(r.Font(), "WenQuanYi") {
			t.Errorf("%s: '中' is %dx%d, font %s", path, g.w, g.h, r.Font())
		}
	}
}

// TestGlyphCacheBounded: 1,000 distinct CJK characters through a 64 KiB cache keep it
// within its bound, and a character seen again is a hit.
func TestGlyphCacheBounded(t *testing.T) {
	requireFont(t, notoBold)
	r := newRenderer(t, Options{FontPath: notoBold, GlyphCacheBytes: 64 << 10})
	at(t, r, 1280, 720, 0)
	for i := range 1000 {
		r.fonts.glyph(rune(0x4e00 + i))
	}
	c := &r.fonts.cache
	if c.bytes > 64<<10 || len(c.byRune) < 10 || c.misses != 1000 {
		t.Errorf("cache: %d bytes, %d glyphs, %d misses", c.bytes, len(c.byRune), c.misses)
	}
	r.fonts.glyph(rune(0x4e00 + 999))
	if c.hits != 1 {
		t.Errorf("the last glyph again: %d hits", c.hits)
	}
}

func FuzzDraw(f *testing.F) {
	f.Add("hello", "scroll", uint32(White), uint16(320), uint16(180), false)
	f.Add("你好 😀 \u200d\ufe0f", "top", uint32(0xff0000), uint16(17), uint16(9), true)
	f.Add("\xff\xfe bad utf8 \x00", "bottom", uint32(0), uint16(1), uint16(1), false)
	f.Add("مرحبا שלום नमस्ते", "reverse", uint32(0x123456), uint16(64), uint16(480), true)
	f.Add("e\u0301\u0301\u0301\u0301", "weird", uint32(0xffffffff), uint16(2), uint16(200), false)
	saved, savedEmoji := SystemFonts, EmojiFonts
	SystemFonts, EmojiFonts = nil, nil
	r, err := New(Options{LaneShare: 1})
	SystemFonts, EmojiFonts = saved, savedEmoji
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text, mode string, color uint32, w, h uint16, nv12 bool) {
		w, h = 1+w%400, 1+h%300
		format := media.PixelI420
		if nv12 {
			format = media.PixelNV12
		}
		r.Add(Comment{Text: text, User: text, Color: color, Mode: mode})
		for step := range 3 {
			fr := background(format, int(w), int(h))
			fr.Time = time.Duration(step) * 3 * time.Second
			if err := r.Draw(fr); err != nil {
				t.Fatal(err)
			}
			for _, p := range r.Visible() {
				if p.Rect.Min.Y < 0 && p.Rect.Max.Y > int(h)+p.Rect.Dy() {
					t.Fatalf("%+v outside a %dx%d frame", p, w, h)
				}
			}
		}
		r.Clear()
	})
}
