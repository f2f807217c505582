package httpflv_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media/danmaku/sei"
	"github.com/camnode/camnode/media/flv"
	"github.com/camnode/camnode/media/h264"
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

	msgs := []chat.Message{
		{Text: "前方高能！弹幕护体", ID: "scroll-1", Color: 0xff6699, Mode: chat.ModeScroll},
		{Text: "Hello from Twitch chat 👋", ID: "top-1", Color: 0x66ccff, Mode: chat.ModeTop},
		{Text: "<b>not markup</b> 666", ID: "scroll-2", Color: chat.DefaultColor, Mode: chat.ModeScroll},
		{Text: "下から", ID: "bottom-1", Color: 0xffff00, Mode: chat.ModeBottom},
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
	httpflv.EndStream(srv)
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

// TestPlayerParsersOnDamagedStreams feeds the page's own FLV demuxer and SEI reader
// thousands of damaged copies of a valid stream (bits flipped, bytes cut, inserted, sizes
// made huge), in the browser: they may reject a stream with their own error, but never
// throw anything else (a TypeError or RangeError would stop the player), never hang, and
// on the undamaged stream they find every chat message.
func TestPlayerParsersOnDamagedStreams(t *testing.T) {
	srv := startServer(t, httpflv.Options{})
	b := peers.StartChromium(t)
	b.Navigate(t, srv.URL())
	b.WaitJS(t, "the page", `window.camnode && window.camnode.parsers`, 60*time.Second)

	// A valid stream: header, sequence header, three pictures, two with chat in SEI (one
	// long enough for 0xFF size bytes), one slice with bytes that need emulation prevention.
	sps, pps := testSPS(t), []byte{0x68, 0xce, 0x3c, 0x80}
	record, _ := h264.AppendDecoderConfig(nil, [][]byte{sps}, [][]byte{pps})
	chat := func(text string) []byte {
		return sei.AppendNAL(nil, sei.AppendUnregistered(nil, sei.CamnodeUUID, []byte(`{"text":"`+text+`"}`)))
	}
	long := strings.Repeat("弹幕", 100)
	stream := flv.AppendFileHeader(nil, true, false)
	stream = flv.AppendTag(stream, flv.TagVideo, 0, flv.AppendSequenceHeader(nil, record))
	stream = flv.AppendTag(stream, flv.TagVideo, 0, flv.AppendVideoTag(nil, true, 0, [][]byte{sps, pps, chat(long), {0x65, 0, 0, 0, 1}}))
	stream = flv.AppendTag(stream, flv.TagVideo, 33, flv.AppendVideoTag(nil, false, 0, [][]byte{{0x41, 0, 0, 3}}))
	stream = flv.AppendTag(stream, flv.TagVideo, 66, flv.AppendVideoTag(nil, false, 0, [][]byte{chat(`666 \"✓\"`), {0x41, 7}}))

	var result struct {
		Runs, Rejected int
		Chat           []string
		Unexpected     []string
	}
	b.Eval(t, fmt.Sprintf(`(() => {
		const { FLVDemuxer, avccChat } = window.camnode.parsers;
		const valid = Uint8Array.from(atob(%q), c => c.charCodeAt(0));
		let seed = 1;
		const rand = (n) => { seed = (seed * 1103515245 + 12345) %% 2147483648; return seed %% n; };
		const parse = (bytes, chunk) => {
			const chat = [];
			const d = new FLVDemuxer((type, ts, body) => {
				if (type === 9 && body.length >= 5 && body[1] === 1) chat.push(...avccChat(body.subarray(5), 4));
			});
			for (let i = 0; i < bytes.length; i += chunk) d.push(bytes.subarray(i, i + chunk));
			return chat;
		};
		const out = { Runs: 0, Rejected: 0, Chat: parse(valid, 7).map(m => m.text), Unexpected: [] };
		const ours = /^(not an FLV stream|FLV data offset|FLV PreviousTagSize)/;
		for (let run = 0; run < 5000; run++) {
			const bytes = Array.from(valid);
			for (let k = 1 + rand(8); k > 0; k--) {
				const at = rand(bytes.length);
				switch (rand(5)) {
				case 0: bytes[at] ^= 1 << rand(8); break;
				case 1: bytes.splice(at, 1 + rand(16)); break;
				case 2: bytes.splice(at, 0, rand(256), 0xff, 0, 0, 3); break;
				case 3: bytes[at] = 0xff; break;
				case 4: bytes.length = at; break;
				}
			}
			try {
				parse(Uint8Array.from(bytes), 1 + rand(64));
			} catch (err) {
				if (err instanceof Error && err.constructor === Error && ours.test(err.message)) out.Rejected++;
				else if (out.Unexpected.length < 10) out.Unexpected.push(String(err && err.stack || err));
			}
			out.Runs++;
		}
		return out;
	})()`, base64.StdEncoding.EncodeToString(stream)), &result)
	t.Logf("%d damaged streams, %d rejected by the demuxer", result.Runs, result.Rejected)
	if want := []string{long, `666 "✓"`}; strings.Join(result.Chat, "|") != strings.Join(want, "|") {
		t.Errorf("chat read from the valid stream: %q, want %q", result.Chat, want)
	}
	if result.Runs != 5000 || len(result.Unexpected) > 0 {
		t.Errorf("%d runs; unexpected exceptions: %q", result.Runs, result.Unexpected)
	}
	if result.Rejected == 0 {
		t.Error("no damaged stream was rejected: the damage did not reach the demuxer's checks")
	}
}
