package httpflv_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media/danmaku"
	"github.com/camnode/camnode/media/httpflv"
	"github.com/camnode/camnode/media/source/testsrc"
)

// shownEntry is what the page notes of a danmaku it showed (window.camnode.shown).
type shownEntry struct {
	Text    string  `json:"text"`
	ID      string  `json:"id"`
	Mode    string  `json:"mode"`
	Color   string  `json:"color"`
	Lane    int     `json:"lane"`
	FrameTs float64 `json:"frameTs"` // µs, timestamp of the picture that carried it
	ShownAt float64 `json:"shownAt"` // ms since 1970
	DrawnAt float64 `json:"drawnAt"`
}

func shown(t testing.TB, b *peers.Chromium, id string) (shownEntry, bool) {
	t.Helper()
	var e []shownEntry
	b.Eval(t, fmt.Sprintf(`window.camnode.shown.filter(e => e.id === %q)`, id), &e)
	if len(e) == 0 {
		return shownEntry{}, false
	}
	return e[0], true
}

// TestPlayerInChromium: the page in a real browser says the stream is not live, then
// plays it once it is: WebCodecs decodes >= 50 frames of the live test pattern onto the
// canvas, and chat put into the stream by the SEI carrier shows in the danmaku layer, in
// its colour and mode, with the picture that carried it, at most a second of stream time
// after it was put in. Fixed and scrolling comments do not overlap. When the stream ends
// the page says so, and it plays the next stream by itself.
func TestPlayerInChromium(t *testing.T) {
	srv := startServer(t, httpflv.Options{})
	b := peers.StartChromium(t)
	b.Navigate(t, srv.URL())
	b.WaitJS(t, "the page to say the stream is not live", `document.body.dataset.state === "offline" && document.getElementById("status").textContent.includes("not live")`, 60*time.Second)

	f := startFeeder(t, srv, testsrc.Options{})
	b.WaitJS(t, "50 decoded frames", `window.camnode.frames >= 50`, 120*time.Second)
	var codec string
	b.Eval(t, `window.camnode.codec`, &codec)
	t.Logf("the page decodes %s", codec)

	msgs := []danmaku.ChatMessage{
		{Text: "前方高能！弹幕护体", ID: "scroll-1", Color: 0xff6699, Mode: danmaku.ModeScroll},
		{Text: "Hello from Twitch chat 👋", ID: "top-1", Color: 0x66ccff, Mode: danmaku.ModeTop},
		{Text: "<b>not markup</b> 666", ID: "scroll-2", Color: danmaku.DefaultColor, Mode: danmaku.ModeScroll},
		{Text: "下から", ID: "bottom-1", Color: 0xffff00, Mode: danmaku.ModeBottom},
	}
	pushedWall := map[string]time.Time{}
	for _, m := range msgs {
		pushedWall[m.ID] = time.Now()
		f.push(t, m)
	}
	for _, m := range msgs {
		b.WaitJS(t, "danmaku "+m.ID+" in the layer", fmt.Sprintf(`document.querySelector('#danmaku .dm[data-id=%q]')`, m.ID), 60*time.Second)
	}
	var boxes []struct {
		ID, Text, Mode, Color, HTML string
		X, Y, W, H                  float64
	}
	b.Eval(t, `[...document.querySelectorAll('#danmaku .dm')].map(el => { const r = el.getBoundingClientRect();
		return {ID: el.dataset.id, Text: el.textContent, Mode: el.dataset.mode, Color: el.dataset.color, HTML: el.innerHTML,
			X: r.x, Y: r.y, W: r.width, H: r.height} })`, &boxes)
	byID := map[string]int{}
	for i, bx := range boxes {
		byID[bx.ID] = i
	}
	for _, m := range msgs {
		i, ok := byID[m.ID]
		if !ok {
			t.Fatalf("danmaku %s left the layer already: %+v", m.ID, boxes)
		}
		bx := boxes[i]
		if bx.Text != m.Text || bx.Mode != m.Mode.String() || bx.Color != m.Color.String() || bx.W <= 0 || bx.H <= 0 {
			t.Errorf("danmaku %s shows as %+v, want %q %s %s", m.ID, bx, m.Text, m.Mode, m.Color)
		}
		if strings.Contains(bx.HTML, "<b>") {
			t.Errorf("danmaku %s was taken as markup: %q", m.ID, bx.HTML)
		}
	}
	for i := range boxes {
		for j := i + 1; j < len(boxes); j++ {
			p, q := boxes[i], boxes[j]
			if p.X < q.X+q.W && q.X < p.X+p.W && p.Y < q.Y+q.H && q.Y < p.Y+p.H {
				t.Errorf("danmaku overlap: %+v and %+v", p, q)
			}
		}
	}

	// Each comment is shown with the picture whose SEI carried it: the page's picture
	// timestamps (ms from its first keyframe) differ by what the capture times differ.
	var first shownEntry
	var firstCarried time.Duration
	for i, m := range msgs {
		e, ok := shown(t, b, m.ID)
		if !ok {
			t.Fatalf("the page did not note danmaku %s", m.ID)
		}
		carried, ok := f.carriedBy(m.ID)
		if !ok {
			t.Fatalf("no access unit carried %s", m.ID)
		}
		f.mu.Lock()
		pushedAt := f.pushed[m.ID]
		f.mu.Unlock()
		if lag := carried - pushedAt; lag > time.Second {
			t.Errorf("danmaku %s put in at stream time %v went out with the picture at %v", m.ID, pushedAt, carried)
		}
		if i == 0 {
			first, firstCarried = e, carried
		} else {
			want := float64((carried - firstCarried).Milliseconds())
			if got := (e.FrameTs - first.FrameTs) / 1000; got < want-1 || got > want+1 {
				t.Errorf("danmaku %s shown with the picture %.0f ms after %s's, but carried %.0f ms after it", m.ID, got, first.ID, want)
			}
		}
		t.Logf("danmaku %s: carried %v after it was put in; drawn in the page %.0f ms after it was put in (wall clock)",
			m.ID, carried-pushedAt, e.DrawnAt-float64(pushedWall[m.ID].UnixNano())/1e6)
	}

	// The picture is on the canvas: the test pattern is far from one flat colour.
	var spread float64
	b.Eval(t, `(() => { const c = document.getElementById('video'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		let min = 255, max = 0; for (let i = 0; i < d.length; i += 4 * 997) { const y = (d[i] + d[i+1] + d[i+2]) / 3; min = Math.min(min, y); max = Math.max(max, y); }
		return max - min; })()`, &spread)
	if spread < 100 {
		t.Errorf("the canvas is nearly flat (luma spread %.0f): no picture drawn", spread)
	}

	// The screenshot once the scrolling comments are all in view.
	b.WaitJS(t, "the comments to scroll into view", `[...document.querySelectorAll('#danmaku .dm')].every(el =>
		el.getBoundingClientRect().right < document.getElementById('danmaku').getBoundingClientRect().right - 20)`, 60*time.Second)
	shot := b.Screenshot(t)
	out := filepath.Join("..", "..", "bench", "out", "player.png")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err == nil {
		if err := os.WriteFile(out, shot, 0o644); err != nil {
			t.Errorf("screenshot: %v", err)
		}
		t.Logf("screenshot: %s", out)
	}

	// The stream ends: the page says so; the next stream plays without a reload.
	f.close()
	srv.End()
	b.WaitJS(t, "the page to say the stream ended", `document.body.dataset.state === "offline"`, 60*time.Second)
	var before int
	b.Eval(t, `window.camnode.frames`, &before)
	startFeeder(t, srv, testsrc.Options{})
	b.WaitJS(t, "the next stream to play", fmt.Sprintf(`document.body.dataset.state === "live" && window.camnode.frames >= %d`, before+30), 120*time.Second)
	var errs []string
	b.Eval(t, `window.camnode.errors`, &errs)
	if len(errs) > 0 {
		t.Errorf("the page noted errors: %q", errs)
	}
}
