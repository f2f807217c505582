package render

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/camnode/camnode/media"
)

// Typical danmaku: short, mostly CJK, some Latin and digits.
var sampleTexts = []string{"666", "哈哈哈哈哈", "前方高能", "awsl", "这是什么神仙操作", "hello world", "2333333",
	"主播好厉害", "第一次来直播间", "GG", "弹幕护体", "yyds!", "泪目了", "up主加油 💪", "nice shot", "来了来了"}

// onScreen returns a renderer that has just drawn n comments, all wholly in view, on a
// 1280x720 frame.
func onScreen(b *testing.B, n int) *Renderer {
	r, err := New(Options{LaneShare: 1})
	if err != nil {
		b.Fatal(err)
	}
	f := background(media.PixelI420, 1280, 720)
	rng := rand.New(rand.NewPCG(7, 7))
	for range n {
		r.Add(Comment{Text: sampleTexts[rng.IntN(len(sampleTexts))], Color: rng.Uint32()})
	}
	for step := 0; ; step++ {
		f.Time = time.Duration(step) * time.Second / 30
		r.Draw(f)
		whole := len(r.Visible()) == n
		for _, p := range r.Visible() {
			whole = whole && p.Rect.Min.X >= 0 && p.Rect.Max.X <= 1280
		}
		if whole {
			return r
		}
		if step > 300 {
			b.Fatalf("never %d comments wholly on screen: %d drawn, stats %+v", n, len(r.Visible()), r.Stats())
		}
	}
}

// BenchmarkDraw720p is the per-frame cost of the overlay with 0, 10 and 40 comments on a
// 1280x720 frame (the comments already laid out; the time held).
func BenchmarkDraw720p(b *testing.B) {
	for _, n := range []int{0, 10, 40} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r := onScreen(b, n)
			f := background(media.PixelI420, 1280, 720)
			f.Time = r.t
			b.ReportAllocs()
			for b.Loop() {
				r.Draw(f)
			}
			b.ReportMetric(float64(len(r.Visible())), "comments")
		})
	}
}

// BenchmarkGlyphCacheCJK: 10,000 comments of 1 to 12 characters drawn from 1,000
// distinct CJK characters (commoner ones more often, as in chat) go through a cold
// default cache, then every one of the 1,000 once more. Reported: the hit rate over the
// comments, the glyphs cached, their bytes by the cache's count and by the heap's. The
// timed loop is laying out a comment with the cache warm.
func BenchmarkGlyphCacheCJK(b *testing.B) {
	requireFont(b, notoBold)
	r, err := New(Options{FontPath: notoBold})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	r.Draw(background(media.PixelI420, 1280, 720))
	rng := rand.New(rand.NewPCG(5, 5))
	zipf := rand.NewZipf(rand.New(rand.NewPCG(6, 6)), 1.1, 8, 999)
	comment := func(buf []rune) string {
		buf = buf[:0]
		for range 1 + rng.IntN(12) {
			buf = append(buf, rune(0x4e00+zipf.Uint64()))
		}
		return string(buf)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var buf []rune
	var glyphs []placedGlyph
	for range 10_000 {
		glyphs, _ = r.layout(comment(buf), glyphs[:0])
	}
	c := &r.fonts.cache
	hitRate := 100 * float64(c.hits) / float64(c.hits+c.misses)
	for i := range 1000 {
		r.fonts.glyph(rune(0x4e00 + i))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportAllocs()
	for b.Loop() {
		glyphs, _ = r.layout(comment(buf), glyphs[:0])
	}
	b.ReportMetric(hitRate, "hit%")
	b.ReportMetric(float64(len(c.byRune)), "glyphs")
	b.ReportMetric(float64(c.bytes)/1024, "cacheKiB")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1024, "heapKiB")
}

// BenchmarkFlood720p is the frame cost while a flood of comments arrives (10 per frame,
// 300/s): the lanes fill, sprites are built, the rest wait and are dropped.
func BenchmarkFlood720p(b *testing.B) {
	requireFont(b, notoBold)
	r, err := New(Options{FontPath: notoBold})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	f := background(media.PixelI420, 1280, 720)
	rng := rand.New(rand.NewPCG(7, 7))
	b.ReportAllocs()
	frame := 0
	for b.Loop() {
		for range 10 {
			r.Add(Comment{Text: sampleTexts[rng.IntN(len(sampleTexts))], Color: rng.Uint32()})
		}
		f.Time = time.Duration(frame) * time.Second / 30
		frame++
		r.Draw(f)
	}
	s := r.Stats()
	b.ReportMetric(float64(s.Dropped)/float64(s.Added)*100, "dropped%")
}
