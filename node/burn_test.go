package node

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/config"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder/x264"
	"github.com/camnode/camnode/media/pipeline"
	"github.com/camnode/camnode/media/source"
	"github.com/camnode/camnode/media/source/testsrc"
)

// events records what a node would publish on <base>/event.
type events struct {
	mu  sync.Mutex
	got []string // "name: reason"
}

func (e *events) publish(name, reason string) {
	e.mu.Lock()
	e.got = append(e.got, name+": "+reason)
	e.mu.Unlock()
}

func (e *events) named(name string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, s := range e.got {
		if strings.HasPrefix(s, name+": ") {
			out = append(out, strings.TrimPrefix(s, name+": "))
		}
	}
	return out
}

// burnNode is a node without MQTT: enough for the chat intake, the burn carrier and
// openSource.
func burnNode(t *testing.T, source string, carriers ...config.Carrier) (*Node, *events) {
	t.Helper()
	t.Setenv("CAMNODE_NODE_ID", "burn")
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Source, cfg.Danmaku = source, carriers
	cfg.Width, cfg.Height, cfg.FPS = 320, 240, 15
	cfg.ChatRate, cfg.ChatUserRate = config.ChatRate{}, config.ChatRate{}
	ev := &events{}
	n := &Node{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	n.chat = newChatIntake(cfg, ev.publish)
	return n, ev
}

// chatBatch is a JSON array of k messages.
func chatBatch(k int, prefix string) chatPayload {
	msgs := make([]map[string]string, k)
	for i := range msgs {
		msgs[i] = map[string]string{"text": fmt.Sprintf("%s %d 弹幕", prefix, i)}
	}
	b, _ := json.Marshal(msgs)
	return chatPayload{label: "chat", payload: b}
}

func i420(w, h int) *media.Frame {
	f := &media.Frame{Format: media.PixelI420, Width: w, Height: h, Strides: [3]int{w, w / 2, w / 2}}
	f.Planes[0] = make([]byte, w*h)
	f.Planes[1] = make([]byte, w*h/4)
	f.Planes[2] = make([]byte, w*h/4)
	return f
}

// drawFor draws frames at 15 fps from start for d.
func drawFor(t *testing.T, b *burner, f *media.Frame, start, d time.Duration) time.Duration {
	t.Helper()
	for at := start; at < start+d; at += time.Second / 15 {
		f.Time = at
		if err := b.draw(f); err != nil {
			t.Fatal(err)
		}
	}
	return start + d
}

// With burn the only carrier the renderer decides each message's fate: a flood of 100
// fills its queue of 64, some get a lane, the rest are dropped — and every one of them is
// counted once, in chat_shown or chat_dropped, the drops in chat_burn_dropped too and in
// chat_rejected events. Hiding danmaku and stopping the stream account for what waits.
func TestBurnAloneCountsEveryMessage(t *testing.T) {
	n, ev := burnNode(t, "testsrc", config.CarrierBurn)
	c, b := n.chat, n.chat.burn
	if b == nil {
		t.Fatal("no burn carrier with CAMNODE_DANMAKU=burn")
	}
	if carriers := n.newCarriers(); carriers != nil {
		t.Fatalf("carriers %v with burn alone", carriers)
	}
	b.drawing()
	c.take(chatBatch(100, "flood"))
	f := i420(640, 360)
	at := drawFor(t, b, f, 0, 5*time.Second) // more than the 3 s a comment waits for a lane
	received, shown, dropped := c.counts()
	if received != 100 || shown+dropped != 100 || dropped < 36 || shown == 0 || *b.dropped() != dropped {
		t.Fatalf("after a flood of 100: received %d shown %d dropped %d burn dropped %d", received, shown, dropped, *b.dropped())
	}
	time.Sleep(chatReportWindow + 100*time.Millisecond) // the reporter's summary
	counted := 0
	for _, e := range ev.named("chat_rejected") {
		var k int
		if _, err := fmt.Sscanf(e, "chat: %d message(s) not drawn: no free lane", &k); err == nil {
			counted += k
		} else if _, err := fmt.Sscanf(e, "chat: %d more messages rejected in", &k); err == nil {
			counted += k
		} else {
			t.Fatalf("event %q", e)
		}
	}
	if counted != int(dropped) {
		t.Fatalf("chat_rejected events count %d drops, telemetry %d: %q", counted, dropped, ev.named("chat_rejected"))
	}

	// Messages waiting for a lane when danmaku is hidden are dropped as hidden, and the
	// screen is cleared before the next frame.
	c.take(chatBatch(40, "busy"))
	at = drawFor(t, b, f, at, 200*time.Millisecond)
	if b.r.OnScreen() == 0 {
		t.Fatal("nothing on screen after 40 more messages")
	}
	n.mu.Lock()
	n.danmaku = false
	n.mu.Unlock()
	n.onDanmakuSwitch()
	drawFor(t, b, f, at, time.Second/15)
	if v := b.r.OnScreen(); v != 0 {
		t.Fatalf("on screen after danmaku/set OFF: %v", v)
	}
	received, shown, dropped = c.counts()
	if received != 140 || shown+dropped != 140 {
		t.Fatalf("after hiding: received %d shown %d dropped %d", received, shown, dropped)
	}
	c.take(chatBatch(1, "hidden"))
	if _, _, d := c.counts(); d != dropped+1 {
		t.Fatal("a message sent while hidden was not dropped")
	}

	// Stopping the stream drops what waits, and the next stream starts with an empty screen.
	n.mu.Lock()
	n.danmaku = true
	n.mu.Unlock()
	n.onDanmakuSwitch()
	c.take(chatBatch(30, "late"))
	c.pipelineStopped(nil)
	received, shown, dropped = c.counts()
	if received != 171 || shown+dropped != 171 {
		t.Fatalf("after the stream stopped: received %d shown %d dropped %d", received, shown, dropped)
	}
	if ok, why := b.accepting(); ok || why != "the stream is off" {
		t.Fatalf("burn takes chat with the stream off: %v %q", ok, why)
	}
	n.newCarriers()
	b.drawing()
	f.Time = 0
	if err := b.draw(f); err != nil {
		t.Fatal(err)
	}
	if v := b.r.OnScreen(); v != 0 {
		t.Fatalf("a new stream starts with %v on screen", v)
	}
}

// With sei beside burn the SEI carrier decides a message's fate: one the picture had no
// room for was still sent, so it is not in chat_dropped, only in chat_burn_dropped and a
// chat_rejected event saying it went out without burn-in.
func TestBurnBesideOtherCarriersOnlyReportsItsDrops(t *testing.T) {
	n, ev := burnNode(t, "testsrc", config.CarrierBurn, config.CarrierSEI)
	c, b := n.chat, n.chat.burn
	carriers := n.newCarriers()
	b.drawing()
	c.take(chatBatch(60, "both"))
	f := i420(640, 360)
	drawFor(t, b, f, 0, 5*time.Second)
	carriers.Frame(&media.AccessUnit{NALUs: [][]byte{{0x65, 0x88}}, Keyframe: true})
	carriers.Frame(&media.AccessUnit{NALUs: [][]byte{{0x41, 0x9a}}})
	received, shown, dropped := c.counts()
	burnDropped := *b.dropped()
	if received != 60 || shown != 60 || dropped != 0 || burnDropped == 0 || burnDropped+b.r.Stats().Shown != 60 {
		t.Fatalf("received %d shown %d dropped %d burn dropped %d", received, shown, dropped, burnDropped)
	}
	found := false
	for _, e := range ev.named("chat_rejected") {
		found = found || strings.Contains(e, "message(s) sent without burn-in: no free lane")
	}
	if !found {
		t.Fatalf("no event for the messages not drawn: %q", ev.got)
	}
}

// openThroughPipeline runs a pipeline without destinations on the node's source, with the
// burn carrier as its overlay, until the source delivered its first keyframe and then
// while more holds, and stops it.
func openThroughPipeline(t *testing.T, n *Node, more func() bool) {
	t.Helper()
	formats := make(chan pipeline.Status, 16)
	var ov pipeline.Overlay
	if n.chat.burn != nil {
		ov = n.chat.burn
	}
	p := pipeline.New(pipeline.Options{
		Source:  n.cfg.Source,
		Capture: source.Options{Width: n.cfg.Width, Height: n.cfg.Height, FPS: n.cfg.FPS, Bitrate: 500_000, GOP: 15},
		Overlay: ov,
		OnStatus: func(s pipeline.Status) {
			if s.Kind == pipeline.VideoFormat || s.Kind == pipeline.SourceFailed {
				select {
				case formats <- s:
				default:
				}
			}
		},
	})
	p.Start(context.Background())
	defer p.Stop()
	select {
	case s := <-formats:
		if s.Kind != pipeline.VideoFormat {
			t.Fatalf("source: %v", s.Err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the source delivered no keyframe in a minute")
	}
	for deadline := time.Now().Add(time.Minute); more != nil && more() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}

// The pipeline decides, when the source opens, whether burn draws into it.
func TestOpenSourceBurnNeedsRawFrames(t *testing.T) {
	clip := filepath.Join(t.TempDir(), "clip.h264")
	if err := os.WriteFile(clip, testsrc.Clip(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		carriers []config.Carrier
		instead  string
	}{
		{[]config.Carrier{config.CarrierBurn, config.CarrierSEI}, "chat goes out by the other carriers only"},
		{[]config.Carrier{config.CarrierBurn}, "chat is rejected: no other carrier in CAMNODE_DANMAKU"},
	} {
		n, ev := burnNode(t, "file://"+clip, tc.carriers...)
		n.newCarriers()
		openThroughPipeline(t, n, nil)
		want := "burn-in off for this stream: it needs raw frames, and CAMNODE_SOURCE file:" + clip +
			" delivers ready-made H.264 (use testsrc, a raw CAMNODE_SOURCE_FORMAT or a camera in a raw format); " + tc.instead
		if got := ev.named(EventBurnUnavailable); len(got) != 1 || got[0] != want {
			t.Fatalf("burn_unavailable events %q, want one: %q", got, want)
		}
		openThroughPipeline(t, n, nil) // a reopen: no second event
		if got := ev.named(EventBurnUnavailable); len(got) != 1 {
			t.Fatalf("burn_unavailable events after a reopen: %q", got)
		}
		n.chat.take(chatPayload{label: "chat", payload: []byte("hello")})
		rejected := ev.named("chat_rejected")
		if len(tc.carriers) == 1 {
			if len(rejected) != 1 || !strings.HasPrefix(rejected[0], "chat: burn-in is off for this stream: it needs raw frames") {
				t.Fatalf("chat with burn alone and a file source: %q", rejected)
			}
		} else if len(rejected) != 0 {
			t.Fatalf("chat rejected with sei on: %q", rejected)
		}
	}
}

// testsrc draws the comments into its frames before x264 — or, in a build without x264,
// plays its clip and says that burn-in needs the encoder.
func TestOpenSourceTestsrcBurn(t *testing.T) {
	n, ev := burnNode(t, "testsrc", config.CarrierBurn)
	n.newCarriers()
	if err := x264.Available(); err != nil {
		openThroughPipeline(t, n, nil)
		got := ev.named(EventBurnUnavailable)
		if len(got) != 1 || !strings.Contains(got[0], err.Error()) {
			t.Fatalf("burn_unavailable without x264: %q", got)
		}
		return
	}
	n.chat.take(chatPayload{label: "chat", payload: []byte(`{"text":"drawn","mode":"top"}`)})
	openThroughPipeline(t, n, func() bool {
		_, shown, _ := n.chat.counts()
		return shown == 0
	})
	if got := ev.named(EventBurnUnavailable); len(got) != 0 {
		t.Fatalf("burn_unavailable with testsrc: %q", got)
	}
	if _, shown, _ := n.chat.counts(); shown != 1 {
		t.Fatalf("shown %d", shown)
	}
}

// A font file that cannot be read as a font turns burn off for the stream, saying so;
// with sei beside it the stream and its chat go on.
func TestBurnWithABadFontSaysSo(t *testing.T) {
	font := filepath.Join(t.TempDir(), "broken.ttf")
	if err := os.WriteFile(font, []byte("not a font"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CAMNODE_DANMAKU_FONT", font)
	n, ev := burnNode(t, "testsrc", config.CarrierBurn, config.CarrierSEI)
	n.newCarriers()
	got := ev.named(EventBurnUnavailable)
	if len(got) != 1 || !strings.HasPrefix(got[0], "burn-in off for this stream: cannot load the danmaku font: ") ||
		!strings.Contains(got[0], font) || !strings.HasSuffix(got[0], "chat goes out by the other carriers only") {
		t.Fatalf("burn_unavailable with a broken font: %q", got)
	}
	openThroughPipeline(t, n, nil)
	if ok, why := n.chat.burn.accepting(); ok || !strings.HasPrefix(why, "cannot load the danmaku font") {
		t.Fatalf("burn takes chat without a font: %v %q", ok, why)
	}
	if got := ev.named(EventBurnUnavailable); len(got) != 1 {
		t.Fatalf("burn_unavailable events after the source opened: %q", got)
	}
}

// A font chain without CJK (CAMNODE_DANMAKU_FONT names a Latin font): the stream runs,
// and what it lacks is said once, as a stream_warning naming the package, however many
// streams start. The settings' size reaches the renderer.
func TestBurnFontWarningsOnce(t *testing.T) {
	const latin = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
	if _, err := os.Stat(latin); err != nil {
		t.Skip(err) // fonts-dejavu-core
	}
	n, ev := burnNode(t, "testsrc", config.CarrierBurn)
	n.cfg.DanmakuFont, n.cfg.DanmakuSize = latin, 0.1
	n.chat = newChatIntake(n.cfg, ev.publish)
	b := n.chat.burn
	if b.opts.FontPath != latin || b.opts.FontScale != 0.1 {
		t.Fatalf("render options %+v: want the font and size of the settings", b.opts)
	}
	for range 3 {
		b.pipelineStarted(n.log)
		b.pipelineStopped()
	}
	got := ev.named(EventStreamWarning)
	if len(got) != 1 || !strings.Contains(got[0], "no CJK font") || !strings.Contains(got[0], "fonts-noto-cjk") {
		t.Fatalf("stream_warning events %q: want one saying no CJK font and its package", got)
	}
	if e := ev.named(EventBurnUnavailable); len(e) != 0 {
		t.Fatalf("burn_unavailable for a missing CJK font: %q", e)
	}
}
