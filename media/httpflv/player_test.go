package httpflv_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/png"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/audio"
	"github.com/camnode/camnode/media/httpflv"
	"github.com/camnode/camnode/media/source/testsrc"
)

// startTone feeds dst a 440 Hz AAC tone made by ffmpeg (the node's exec audio source), on
// the wall clock from now: the clock of a testsrc started at the same moment.
func startTone(t testing.TB, dst media.Output) {
	t.Helper()
	peers.Require(t, "ffmpeg")
	src, err := audio.Exec("ffmpeg -nostdin -v error -f lavfi -i sine=frequency=440:sample_rate=48000 -c:a aac -b:a 64k -f adts -")
	if err != nil {
		t.Fatal(err)
	}
	src.SampleRate, src.Channels = 48000, 1
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- src.RunAudio(ctx, func(f *media.AudioFrame) error { return dst.WriteAudio(ctx, f) })
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// warnLog is a logger that keeps what is logged at WARN and above.
type warnLog struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	slog *slog.Logger
}

func newWarnLog() *warnLog {
	w := &warnLog{}
	w.slog = slog.New(slog.NewTextHandler(lockedWriter{w}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return w
}

type lockedWriter struct{ w *warnLog }

func (l lockedWriter) Write(p []byte) (int, error) {
	l.w.mu.Lock()
	defer l.w.mu.Unlock()
	return l.w.buf.Write(p)
}

func (w *warnLog) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// lanChromium is headless Chromium that resolves camnode.lan and dash.lan to loopback: a
// page opened under those names is not a secure context, as on a home network.
func lanChromium(t testing.TB) *peers.Chromium {
	return peers.StartChromium(t, chromedp.Flag("host-resolver-rules", "MAP camnode.lan 127.0.0.1, MAP dash.lan 127.0.0.1"))
}

func port(srv *httpflv.Server) int { return srv.Addr().(*net.TCPAddr).Port }

// browser is what the tests ask of a browser's page: *peers.Chromium, *peers.Firefox.
type browser interface {
	Eval(t testing.TB, expr string, out any)
	Screenshot(t testing.TB) []byte
}

// screenshot decodes a PNG of the window.
func screenshot(t testing.TB, b browser) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b.Screenshot(t)))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// rect is a box of the page in CSS pixels (the screenshots are 1:1).
type rect struct{ X, Y, W, H float64 }

func (r rect) image() image.Rectangle {
	return image.Rect(int(r.X), int(r.Y), int(r.X+r.W), int(r.Y+r.H))
}

func stageRect(t testing.TB, b browser) rect {
	var r rect
	b.Eval(t, `(() => { const r = document.getElementById('stage').getBoundingClientRect(); return {X: r.x, Y: r.y, W: r.width, H: r.height}; })()`, &r)
	return r
}

// changed is the share of pixels of r that differ by more than 24 in a channel.
func changed(a, b image.Image, r image.Rectangle) float64 {
	var n, diff int
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			d := max(absDiff(r1, r2), absDiff(g1, g2), absDiff(b1, b2)) >> 8
			if d > 24 {
				diff++
			}
			n++
		}
	}
	return float64(diff) / float64(max(n, 1))
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// green counts the pure green pixels (the comment's colour) in r.
func green(img image.Image, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if cg>>8 > 200 && cr>>8 < 90 && cb>>8 < 90 {
				n++
			}
		}
	}
	return n
}

// checkPlays is what a viewer sees of a playing page, whichever path it plays by: the
// picture moves, the sound plays once unmuted, and a green bottom comment sent through
// the stream's SEI shows in the bottom band of the picture with the picture that carried
// it (shown while that picture, or the next, is on screen).
func checkPlays(t *testing.T, b *peers.Chromium, f *feeder, path string) {
	t.Helper()
	b.WaitJS(t, "30 pictures shown", `window.camnode.frames >= 30`, 120*time.Second)
	var got struct {
		Path   string
		Secure bool
		Codec  string
	}
	b.Eval(t, `({Path: window.camnode.path, Secure: window.isSecureContext, Codec: window.camnode.codec})`, &got)
	if got.Path != path || document(t, b, `document.body.dataset.path`) != path {
		t.Fatalf("the page plays through %q, want %q", got.Path, path)
	}
	t.Logf("%s, secure context %v, %s", got.Path, got.Secure, got.Codec)

	// The picture moves: the test pattern's bars scroll.
	stage := stageRect(t, b)
	one := screenshot(t, b)
	b.WaitJS(t, "15 more pictures", `window.camnode.frames >= 45`, 60*time.Second)
	two := screenshot(t, b)
	if c := changed(one, two, stage.image()); c < 0.05 {
		t.Errorf("the picture did not move: %.1f%% of its pixels changed between two screenshots", 100*c)
	}

	// Sound: muted at first, plays once the viewer unmutes.
	var muted bool
	b.Eval(t, `document.getElementById('sound').getAttribute('aria-pressed') === 'false'`, &muted)
	if !muted {
		t.Error("the page starts with its sound on: autoplay rules refuse that")
	}
	unmute(t, b)
	b.WaitJS(t, "the tone to reach the speakers", `window.camnode.audioLevel() > 0.05`, 60*time.Second)
	var sound struct {
		Frames  int
		Decoded int
		Muted   bool
		Level   float64
	}
	b.Eval(t, `(() => { const v = document.getElementById('mse');
		return {Frames: window.camnode.audioFrames, Decoded: v.webkitAudioDecodedByteCount || 0, Muted: v.muted, Level: window.camnode.audioLevel()}; })()`, &sound)
	t.Logf("sound: %d AAC frames, %d bytes decoded by the video element, level %.3f", sound.Frames, sound.Decoded, sound.Level)
	if sound.Frames == 0 || (path == "mse" && (sound.Decoded == 0 || sound.Muted)) {
		t.Errorf("no sound decoded: %+v", sound)
	}

	// A green bottom comment, in the bottom band of the picture, in step with its picture.
	b.WaitJS(t, "the controls to hide", `document.body.dataset.controls === 'hidden'`, 30*time.Second)
	for i, id := range []string{"green-1", "green-2"} {
		f.push(t, chat.Message{Text: "GREEN ████████ " + fmt.Sprint(i), ID: id, Color: 0x00ff00, Mode: chat.ModeBottom})
		b.WaitJS(t, "the comment "+id, fmt.Sprintf(`document.querySelector('#danmaku .dm[data-id=%q]')`, id), 60*time.Second)
		if i == 0 {
			time.Sleep(200 * time.Millisecond) // the two are carried by different pictures
		}
	}
	shot := screenshot(t, b)
	saveShot(t, b, "player-"+path+".png")
	band := stage.image()
	band.Min.Y = band.Max.Y - band.Dy()/6
	top := stage.image()
	top.Max.Y = top.Min.Y + top.Dy()/2
	if n := green(shot, band); n < 200 {
		t.Errorf("%d green pixels in the bottom sixth of the picture, want the comment's hundreds", n)
	}
	var entries []struct {
		ID        string  `json:"id"`
		FrameTs   float64 `json:"frameTs"`
		ShownWith float64 `json:"shownWith"`
	}
	b.Eval(t, `window.camnode.shown.filter(e => e.id && e.id.startsWith('green-'))`, &entries)
	if len(entries) != 2 {
		t.Fatalf("the page noted %+v", entries)
	}
	c1, _ := f.carriedBy("green-1")
	c2, _ := f.carriedBy("green-2")
	if got, want := (entries[1].FrameTs-entries[0].FrameTs)/1000, float64((c2 - c1).Milliseconds()); got < want-1 || got > want+1 {
		t.Errorf("the comments went with pictures %.0f ms apart, but were carried %.0f ms apart", got, want)
	}
	for _, e := range entries {
		// Shown when its picture (or, for one that waited for a lane, a later one) was on screen.
		if lag := (e.ShownWith - e.FrameTs) / 1000; lag < 0 || lag > 100 {
			t.Errorf("comment %s (picture at %.0f µs) was shown with the picture at %.0f µs", e.ID, e.FrameTs, e.ShownWith)
		}
	}
	var errs []string
	b.Eval(t, `window.camnode.errors`, &errs)
	if len(errs) > 0 {
		t.Errorf("the page noted errors: %q", errs)
	}
}

// unmute does what a viewer does: a tap on the picture shows the controls (they hide after
// 3 s), then a click on Unmute.
func unmute(t testing.TB, b *peers.Chromium) {
	t.Helper()
	b.Click(t, "#info")
	b.WaitJS(t, "the controls", `document.body.dataset.controls === 'shown'`, 10*time.Second)
	b.Click(t, "#sound")
}

func document(t testing.TB, b *peers.Chromium, expr string) string {
	var s string
	b.Eval(t, expr, &s)
	return s
}

// TestPlayerOnTheLAN: the page opened as http://camnode.lan:PORT/?token=… (no secure
// context, so no WebCodecs) plays through MSE: the picture moves, the tone plays once
// unmuted, a green bottom comment shows in the bottom band with its picture; the page
// stays at the live edge and comes back to it after a 2 s stall; ffmpeg reads the fMP4 the
// page makes. Then a dashboard on another origin (http://dash.lan:PORT2/)
// embeds it in an iframe, as Home Assistant does, and it plays there with the token in
// its URL. No WARN is logged, a browser's favicon.ico request included.
func TestPlayerOnTheLAN(t *testing.T) {
	const token = "lan-token-0123456789"
	logs := newWarnLog()
	srv := startServer(t, httpflv.Options{Token: token, Logger: logs.slog})
	f := startFeeder(t, srv, testsrc.Options{})
	startTone(t, srv)
	waitLive(t, srv)
	b := lanChromium(t)
	page := fmt.Sprintf("http://camnode.lan:%d/?token=%s", port(srv), token)
	b.Navigate(t, page)
	var ctx struct {
		Secure, WebCodecs, MSE bool
	}
	b.Eval(t, `({Secure: window.isSecureContext, WebCodecs: typeof VideoDecoder !== 'undefined', MSE: typeof MediaSource !== 'undefined'})`, &ctx)
	if ctx.Secure || ctx.WebCodecs || !ctx.MSE {
		t.Fatalf("http://camnode.lan: %+v, want no secure context, no WebCodecs, MSE", ctx)
	}
	checkPlays(t, b, f, "mse")

	// At the live edge: the buffer ahead of the picture shown stays short.
	time.Sleep(2 * time.Second)
	var edge struct {
		Buffered float64
		Jumps    int
		Delay    float64
		Line     string
	}
	b.Eval(t, `({Buffered: window.camnode.buffered, Jumps: window.camnode.jumps, Delay: window.camnode.delay, Line: window.camnode.line})`, &edge)
	t.Logf("live edge: %.0f ms buffered, %d jumps, %.0f ms from bytes to picture; status line %q", edge.Buffered*1000, edge.Jumps, edge.Delay, edge.Line)
	if edge.Buffered > 0.6 {
		t.Errorf("%.0f ms buffered ahead of the picture shown: not at the live edge", edge.Buffered*1000)
	}
	if !strings.HasPrefix(edge.Line, "live · 640×360 · ") {
		t.Errorf("status line %q", edge.Line)
	}

	// A stall: the page's main thread is busy for 2 s (a slow phone), the stream's bytes
	// pile up; once free the page is back at the live edge within seconds.
	var jumps int
	b.Eval(t, `window.camnode.jumps`, &jumps)
	b.Eval(t, `(() => { setTimeout(() => { const t = performance.now(); while (performance.now() - t < 2000) {} }, 0); return true; })()`, new(bool))
	b.WaitJS(t, "the page to be behind", fmt.Sprintf(`window.camnode.jumps > %d || window.camnode.buffered > 1`, jumps), 30*time.Second)
	b.WaitJS(t, "the page to be back at the live edge", `window.camnode.buffered < 0.4`, 30*time.Second)
	b.Eval(t, `window.camnode.jumps`, &edge.Jumps)
	t.Logf("after a 2 s stall: %d jumps to the live edge", edge.Jumps-jumps)

	// What the page gives MSE is standard fragmented MP4: ffmpeg decodes 3 s of it.
	checkMP4(t, b)

	// The page in an iframe of a dashboard on another origin.
	dash := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `<!doctype html><title>dashboard</title><body style="margin:0;background:#333">
<iframe id="cam" src="%s" allow="autoplay; fullscreen" style="position:absolute;left:40px;top:40px;width:640px;height:360px;border:0"></iframe>`, page)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go dash.Serve(ln)
	t.Cleanup(func() { dash.Close() })
	joined := srv.Stats().Joined
	b.Navigate(t, fmt.Sprintf("http://dash.lan:%d/", ln.Addr().(*net.TCPAddr).Port))
	waitFor(t, "the iframe's page to stream", 60*time.Second, func() bool { st := srv.Stats(); return st.Joined > joined && st.Readers == 1 })
	frame := image.Rect(40, 40, 680, 400)
	var one, two image.Image
	waitFor(t, "the picture in the iframe to move", 60*time.Second, func() bool {
		one = screenshot(t, b)
		time.Sleep(500 * time.Millisecond)
		two = screenshot(t, b)
		return changed(one, two, frame) > 0.05
	})
	if warns := logs.String(); warns != "" {
		t.Errorf("WARN logged:\n%s", warns)
	}
}

// TestPlayerWebCodecs: on loopback (a secure context) the page plays through WebCodecs:
// the picture moves, the tone plays through AudioDecoder and an AudioContext once unmuted,
// and the green bottom comment shows in the bottom band with its picture.
func TestPlayerWebCodecs(t *testing.T) {
	srv := startServer(t, httpflv.Options{})
	f := startFeeder(t, srv, testsrc.Options{})
	startTone(t, srv)
	waitLive(t, srv)
	b := peers.StartChromium(t)
	b.Navigate(t, srv.URL())
	checkPlays(t, b, f, "webcodecs")
}

// TestPlayerChatBurntIn: when the node burns the chat into the picture, /status says so and
// the page does not draw the SEI danmaku a second time.
func TestPlayerChatBurntIn(t *testing.T) {
	srv := startServer(t, httpflv.Options{ChatBurntIn: func() bool { return true }})
	f := startFeeder(t, srv, testsrc.Options{})
	waitLive(t, srv)
	b := peers.StartChromium(t)
	b.Navigate(t, srv.URL())
	b.WaitJS(t, "the page to play", `window.camnode.frames >= 10 && window.camnode.burntIn`, 120*time.Second)
	f.push(t, chat.Message{Text: "burnt in already", ID: "burnt-1", Color: chat.DefaultColor})
	b.WaitJS(t, "the comment to be left undrawn", `window.camnode.notDrawn >= 1`, 60*time.Second)
	var n int
	b.Eval(t, `document.querySelectorAll('#danmaku .dm').length + window.camnode.shown.length`, &n)
	if n != 0 {
		t.Errorf("the page drew %d comments that are burnt into the picture", n)
	}
}

// TestFavicon: a browser's GET /favicon.ico, which comes without the page's token, gets
// 204 and logs nothing at WARN.
func TestFavicon(t *testing.T) {
	logs := newWarnLog()
	srv := startServer(t, httpflv.Options{Token: "fav-token", Logger: logs.slog})
	resp, err := http.Get("http://" + srv.Addr().String() + "/favicon.ico")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("GET /favicon.ico: %s, want 204", resp.Status)
	}
	resp, err = http.Get("http://" + srv.Addr().String() + "/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /status without the token: %s, want 401", resp.Status)
	}
	if w := logs.String(); strings.Count(w, "level=WARN") != 1 || !strings.Contains(w, "path=/status") {
		t.Errorf("WARN log:\n%s\nwant one line, for /status", w)
	}
}

// TestPlayerControlsOnAPhone: a portrait stream (as CAMNODE_ROTATE=90 makes it) on a phone
// (390x844 CSS pixels, touch, the page over plain HTTP on the LAN): the picture stands in its
// own aspect across the width, the controls fit the width and are big enough for a finger,
// a tap unmutes, and the keys f, m and d do what their buttons do.
func TestPlayerControlsOnAPhone(t *testing.T) {
	// A LAN name is served only with a token (a loopback listener without one answers its
	// own address and localhost only: DNS rebinding).
	srv := startServer(t, httpflv.Options{Token: "phone-token"})
	startFeeder(t, srv, testsrc.Options{Width: 360, Height: 640})
	startTone(t, srv)
	waitLive(t, srv)
	b := lanChromium(t)
	peers.RunAction(t, b, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
	b.Navigate(t, fmt.Sprintf("http://camnode.lan:%d/?token=phone-token", port(srv)))
	b.WaitJS(t, "the portrait stream to play", `window.camnode.frames >= 10 && window.camnode.height === 640`, 120*time.Second)

	stage := stageRect(t, b)
	if ar := stage.W / stage.H; stage.W < 385 || ar < 0.55 || ar > 0.575 {
		t.Errorf("the portrait picture takes %+v on a 390x844 screen, want the width at 360:640", stage)
	}
	var layout struct {
		Overflow bool
		Buttons  []rect
	}
	b.Eval(t, `(() => { const c = document.getElementById('controls');
		return {Overflow: c.scrollWidth > c.clientWidth + 1,
			Buttons: [...c.querySelectorAll('button, input')].map(e => { const r = e.getBoundingClientRect(); return {X: r.x, Y: r.y, W: r.width, H: r.height}; })}; })()`, &layout)
	if layout.Overflow || len(layout.Buttons) != 4 {
		t.Errorf("the controls overflow the phone's width: %+v", layout)
	}
	for _, r := range layout.Buttons {
		if r.X < 0 || r.X+r.W > 390 || r.Y+r.H > stage.Y+stage.H+1 {
			t.Errorf("a control lies outside the picture: %+v (picture %+v)", r, stage)
		}
		if r.H < 20 {
			t.Errorf("a control %+v is too small for a finger", r)
		}
	}

	// A tap shows the controls, a tap on Unmute turns the sound on.
	peers.RunAction(t, b, chromedp.Tap(chromedp.CSS("#stage")))
	b.WaitJS(t, "the controls", `document.body.dataset.controls === 'shown'`, 10*time.Second)
	peers.RunAction(t, b, chromedp.Tap(chromedp.CSS("#sound")))
	b.WaitJS(t, "the sound on", `!document.getElementById('mse').muted && window.camnode.audioLevel() > 0.05`, 60*time.Second)

	saveShot(t, b, "player-phone.png")

	// The keys.
	b.Key(t, "d")
	b.WaitJS(t, "d to hide the danmaku", `document.getElementById('danmaku').hidden && document.getElementById('dm').getAttribute('aria-pressed') === 'false'`, 10*time.Second)
	b.Key(t, "d")
	b.WaitJS(t, "d to show them again", `!document.getElementById('danmaku').hidden`, 10*time.Second)
	b.Key(t, "m")
	b.WaitJS(t, "m to mute", `document.getElementById('mse').muted && document.getElementById('sound').getAttribute('aria-pressed') === 'false'`, 10*time.Second)
	b.Key(t, "f")
	b.WaitJS(t, "f to go full screen", `document.fullscreenElement === document.getElementById('stage')`, 10*time.Second)
	b.Key(t, "f")
	b.WaitJS(t, "f to leave full screen", `!document.fullscreenElement`, 10*time.Second)

	// The opacity slider.
	b.Eval(t, `(() => { const o = document.getElementById('opacity'); o.value = '0.5'; o.dispatchEvent(new Event('input')); return true; })()`, new(bool))
	var opacity string
	b.Eval(t, `document.getElementById('danmaku').style.opacity`, &opacity)
	if opacity != "0.5" {
		t.Errorf("the danmaku's opacity is %q after the slider went to 0.5", opacity)
	}
	var errs []string
	b.Eval(t, `window.camnode.errors`, &errs)
	if len(errs) > 0 {
		t.Errorf("the page noted errors: %q", errs)
	}
}

// saveShot keeps a screenshot in bench/out, to look at.
func saveShot(t testing.TB, b browser, name string) {
	out := filepath.Join("..", "..", "bench", "out", name)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err == nil {
		if err := os.WriteFile(out, b.Screenshot(t), 0o644); err != nil {
			t.Errorf("screenshot: %v", err)
		}
		t.Logf("screenshot: %s", out)
	}
}

// checkMP4 records what the page appends to its SourceBuffers (from a keyframe on, 90
// pictures) and has ffprobe and ffmpeg read it: the page's own fMP4 muxer writes files
// that a reference reader takes, with the pictures in order and every one decoded.
func checkMP4(t *testing.T, b *peers.Chromium) {
	t.Helper()
	began := time.Now()
	b.Eval(t, `(() => { window.rec = {video: [], audio: []};
		window.camnode.tap = (kind, bytes, key) => {
			if (kind === 'video' && rec.video.length === 0 && !key) return;
			if (kind === 'audio' && rec.video.length === 0) return;
			rec[kind].push(bytes.slice());
		};
		return true; })()`, new(bool))
	b.WaitJS(t, "90 pictures recorded", `rec.video.length >= 90`, 60*time.Second)
	took := time.Since(began)
	var files struct{ Video, Audio string }
	b.Eval(t, `(() => { window.camnode.tap = null;
		const b64 = (parts) => { let s = ''; for (const p of parts) for (let i = 0; i < p.length; i += 8192) s += String.fromCharCode(...p.subarray(i, i + 8192)); return btoa(s); };
		return {Video: b64([window.camnode.mp4Init.video, ...rec.video]), Audio: b64([window.camnode.mp4Init.audio, ...rec.audio])}; })()`, &files)
	dir := t.TempDir()
	for name, data := range map[string]string{"video.mp4": files.Video, "audio.mp4": files.Audio} {
		raw, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v := peers.ProbeVideo(t, filepath.Join(dir, "video.mp4"))
	if v.Codec != "h264" || v.Width != 640 || v.Height != 360 || len(v.Packets) < 90 || v.Frames != len(v.Packets) ||
		v.DecodeErrors != "" || v.MonotonicDTS() >= 0 || !v.Packets[0].Keyframe {
		t.Errorf("ffprobe reads the page's fMP4 as %s %dx%d, %d packets (keyframe first: %v), %d decoded, DTS not increasing at %d, errors %q",
			v.Codec, v.Width, v.Height, len(v.Packets), len(v.Packets) > 0 && v.Packets[0].Keyframe, v.Frames, v.MonotonicDTS(), v.DecodeErrors)
	}
	// The pictures' times are the capture clock's: 90 span at least 3 s at 30 fps (more where
	// a loaded machine skips pictures), and no more than the time they took to come.
	if d := v.Packets[len(v.Packets)-1].DTS - v.Packets[0].DTS; d < 2900*time.Millisecond || d > took+500*time.Millisecond {
		t.Errorf("90 pictures span %v in the page's fMP4, want from 2.9 s (30 fps) to %v (the time they took to come)", d, took+500*time.Millisecond)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_name,sample_rate,channels,nb_read_frames",
		"-of", "compact=p=0:nk=1", filepath.Join(dir, "audio.mp4")).CombinedOutput()
	if got := strings.TrimSpace(string(out)); err != nil || !strings.HasPrefix(got, "aac|48000|1|") || got == "aac|48000|1|0" {
		t.Errorf("ffprobe reads the page's audio fMP4 as %q (%v), want AAC 48 kHz mono frames", got, err)
	}
}

// TestPlayerSPSOnDamagedInput: the page's SPS and AudioSpecificConfig readers, which size
// the picture and name the codecs for MSE, read the test clip's SPS (1280x720) and an AAC-LC
// 48 kHz stereo configuration right, and on thousands of damaged copies throw only their own
// errors (never a TypeError or RangeError, which would stop the player) or return a size.
func TestPlayerSPSOnDamagedInput(t *testing.T) {
	srv := startServer(t, httpflv.Options{})
	b := peers.StartChromium(t)
	b.Navigate(t, srv.URL())
	b.WaitJS(t, "the page", `window.camnode && window.camnode.parsers && window.camnode.parsers.spsSize`, 60*time.Second)
	asc, err := audio.LC(48000, 2)
	if err != nil {
		t.Fatal(err)
	}
	var result struct {
		W, H       int
		ASC        string
		Runs       int
		Rejected   int
		Unexpected []string
	}
	b.Eval(t, fmt.Sprintf(`(() => {
		const { spsSize, ascInfo } = window.camnode.parsers;
		const sps = Uint8Array.from(atob(%q), c => c.charCodeAt(0));
		const asc = Uint8Array.from(atob(%q), c => c.charCodeAt(0));
		const size = spsSize(sps), a = ascInfo(asc);
		const out = { W: size.width, H: size.height, ASC: a.codec + ' ' + a.rate + ' ' + a.channels, Runs: 0, Rejected: 0, Unexpected: [] };
		let seed = 7;
		const rand = (n) => { seed = (seed * 1103515245 + 12345) %% 2147483648; return seed %% n; };
		const ours = /^(SPS|AudioSpecificConfig|bad AudioSpecificConfig)/;
		for (let run = 0; run < 5000; run++) {
			const src = run %% 2 ? sps : asc;
			const bytes = Array.from(src);
			for (let k = 1 + rand(6); k > 0; k--) {
				const at = rand(bytes.length);
				switch (rand(4)) {
				case 0: bytes[at] ^= 1 << rand(8); break;
				case 1: bytes.splice(at, 1 + rand(4)); break;
				case 2: bytes[at] = rand(2) ? 0 : 0xff; break;
				case 3: bytes.length = at; break;
				}
			}
			try {
				const r = run %% 2 ? spsSize(Uint8Array.from(bytes)) : ascInfo(Uint8Array.from(bytes));
				if (run %% 2 && !(r.width > 0 && r.height > 0 && r.width <= 16384 && r.height <= 16384)) out.Unexpected.push('size ' + JSON.stringify(r));
			} catch (err) {
				if (err instanceof Error && err.constructor === Error && ours.test(err.message)) out.Rejected++;
				else if (out.Unexpected.length < 10) out.Unexpected.push(String(err && err.stack || err));
			}
			out.Runs++;
		}
		return out;
	})()`, base64.StdEncoding.EncodeToString(testSPS(t)), base64.StdEncoding.EncodeToString(asc.Config().ASC)), &result)
	t.Logf("%d damaged inputs, %d rejected", result.Runs, result.Rejected)
	if result.W != 1280 || result.H != 720 || result.ASC != "mp4a.40.2 48000 2" {
		t.Errorf("the page reads the clip's SPS as %dx%d and the ASC as %q", result.W, result.H, result.ASC)
	}
	if result.Runs != 5000 || len(result.Unexpected) > 0 || result.Rejected == 0 {
		t.Errorf("%d runs, %d rejected; unexpected: %q", result.Runs, result.Rejected, result.Unexpected)
	}
}

// TestPlayerAfterAFrozenTab: a tab the browser froze for 3 s (as a phone does with a tab in
// the background; DevTools' Page.setWebLifecycleState) comes back to a response that no
// longer flows: the page starts the stream again as it resumes (not 7 s later, when its
// 10 s watchdog would) and plays at the live edge.
func TestPlayerAfterAFrozenTab(t *testing.T) {
	srv := startServer(t, httpflv.Options{Token: "frozen-token"})
	startFeeder(t, srv, testsrc.Options{})
	waitLive(t, srv)
	b := lanChromium(t)
	b.Navigate(t, fmt.Sprintf("http://camnode.lan:%d/?token=frozen-token", port(srv)))
	b.WaitJS(t, "30 pictures shown", `window.camnode.frames >= 30`, 120*time.Second)
	lifecycle := func(s page.SetWebLifecycleStateState) {
		peers.RunAction(t, b, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.SetWebLifecycleState, page.SetWebLifecycleStateParams{State: s})
			return err
		}))
	}
	joined := srv.Stats().Joined
	lifecycle(page.SetWebLifecycleStateStateFrozen)
	time.Sleep(3 * time.Second)
	lifecycle(page.SetWebLifecycleStateStateActive)
	back := time.Now()
	waitFor(t, "the page to start the stream again", 60*time.Second, func() bool { return srv.Stats().Joined > joined })
	t.Logf("started again %v after the tab came back", time.Since(back).Round(10*time.Millisecond))
	var restarts struct{ Stalled, Resumed int }
	b.Eval(t, `({Stalled: window.camnode.restarts.stalled, Resumed: window.camnode.restarts.resumed})`, &restarts)
	if restarts.Resumed != 1 || restarts.Stalled != 0 {
		t.Errorf("the page started again %+v: want once on the resume, not by its 10 s watchdog", restarts)
	}
	var ct float64
	b.Eval(t, `document.getElementById('mse').currentTime`, &ct)
	b.WaitJS(t, "the picture to move at the live edge", fmt.Sprintf(`document.getElementById('mse').currentTime > %f + 1 && window.camnode.buffered < 0.4`, ct), 60*time.Second)
}

// TestPlayerInFirefox: Firefox ESR (headless, driven over WebDriver BiDi) opens the page
// as http://camnode.lan:PORT/?token=… (no secure context): it plays through MSE, the
// picture moves between two screenshots, and the page notes no error.
func TestPlayerInFirefox(t *testing.T) {
	const token = "firefox-token-0123456789"
	srv := startServer(t, httpflv.Options{Token: token})
	startFeeder(t, srv, testsrc.Options{})
	waitLive(t, srv)
	b := peers.StartFirefox(t)
	b.Navigate(t, fmt.Sprintf("http://camnode.lan:%d/?token=%s", port(srv), token))
	var ctx struct {
		Secure, MSE bool
		Agent       string
	}
	b.Eval(t, `({Secure: window.isSecureContext, MSE: typeof MediaSource !== 'undefined', Agent: navigator.userAgent})`, &ctx)
	if ctx.Secure || !ctx.MSE {
		t.Fatalf("http://camnode.lan in %s: %+v, want no secure context, MSE", ctx.Agent, ctx)
	}
	b.WaitJS(t, "30 pictures shown", `window.camnode.frames >= 30`, 120*time.Second)
	var path string
	b.Eval(t, `window.camnode.path`, &path)
	if path != "mse" {
		t.Fatalf("the page plays through %q, want mse", path)
	}
	stage := stageRect(t, b)
	one := screenshot(t, b)
	b.WaitJS(t, "15 more pictures", `window.camnode.frames >= 45`, 60*time.Second)
	two := screenshot(t, b)
	saveShot(t, b, "player-firefox.png")
	c := changed(one, two, stage.image())
	if c < 0.05 {
		t.Errorf("the picture did not move in %s: %.1f%% of its pixels changed between two screenshots", ctx.Agent, 100*c)
	}
	var errs []string
	b.Eval(t, `window.camnode.errors`, &errs)
	if len(errs) > 0 {
		t.Errorf("the page noted errors: %q", errs)
	}
	t.Logf("%s: plays through MSE; %.0f%% of the picture's pixels changed between two screenshots", ctx.Agent, 100*c)
}
