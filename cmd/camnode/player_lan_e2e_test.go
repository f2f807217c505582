package main

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/camnode/camnode/internal/peers"
)

// TestPlayerOnTheLANWithTheNode: the real binary as a preview (CAMNODE_HTTP with a token, no
// ingest), its camera turned a quarter (CAMNODE_ROTATE=90) and a tone for its sound; the
// page opened as http://camnode.lan:PORT/?token=… as from another machine (no secure
// context) plays through MSE: a portrait picture in its own aspect, the tone once
// unmuted, and a chat message sent with mosquitto_pub in the danmaku layer. The node logs no
// WARN for the page (its favicon request included).
func TestPlayerOnTheLANWithTheNode(t *testing.T) {
	peers.Require(t, "ffmpeg")
	r := newRig(t, "player-lan", "")
	delete(r.env, "CAMNODE_RTMP_URL")
	port := peers.FreePort(t)
	const token = "lan-e2e-token-0123456789"
	for k, v := range map[string]string{"CAMNODE_SOURCE": "testsrc", "CAMNODE_HTTP": "127.0.0.1:" + strconv.Itoa(port),
		"CAMNODE_HTTP_TOKEN": token, "CAMNODE_FPS": "25", "CAMNODE_GOP": "1s", "CAMNODE_WIDTH": "640", "CAMNODE_HEIGHT": "360",
		"CAMNODE_ROTATE": "90", "CAMNODE_DANMAKU": "sei", // the page draws the chat
		"CAMNODE_AUDIO": "exec:ffmpeg -nostdin -v error -f lavfi -i sine=frequency=440:sample_rate=48000 -c:a aac -b:a 64k -f adts -"} {
		r.env[k] = v
	}
	node := r.goLive(t)

	b := peers.StartChromium(t, chromedp.Flag("host-resolver-rules", "MAP camnode.lan 127.0.0.1"))
	b.Navigate(t, fmt.Sprintf("http://camnode.lan:%d/?token=%s", port, token))
	b.WaitJS(t, "30 pictures shown", `window.camnode.frames >= 30`, 180*time.Second)
	var got struct {
		Secure        bool
		Path          string
		Width, Height int
		StageW        float64
		StageH        float64
	}
	b.Eval(t, `(() => { const r = document.getElementById('stage').getBoundingClientRect();
		return {Secure: window.isSecureContext, Path: window.camnode.path, Width: window.camnode.width, Height: window.camnode.height, StageW: r.width, StageH: r.height}; })()`, &got)
	t.Logf("%+v", got)
	if got.Secure || got.Path != "mse" {
		t.Errorf("the page under a LAN name: secure context %v, plays through %q; want no secure context and MSE", got.Secure, got.Path)
	}
	if got.Width != 360 || got.Height != 640 || got.StageH <= got.StageW {
		t.Errorf("the rotated stream shows as %dx%d in a %.0fx%.0f stage, want 360x640 standing upright", got.Width, got.Height, got.StageW, got.StageH)
	}

	b.Click(t, "#info")
	b.WaitJS(t, "the controls", `document.body.dataset.controls === 'shown'`, 10*time.Second)
	b.Click(t, "#sound")
	b.WaitJS(t, "the tone to reach the speakers", `window.camnode.audioLevel() > 0.05`, 60*time.Second)

	const id = "lan-e2e-chat-1"
	peers.Publish(t, r.broker, r.topic("chat"), fmt.Sprintf(`{"text":"hello over the LAN 弹幕","user":"alice","color":"#00ff00","mode":"bottom","id":%q}`, id))
	sel := fmt.Sprintf(`document.querySelector('#danmaku .dm[data-id=%q]')`, id)
	b.WaitJS(t, "the chat in the danmaku layer", sel, 120*time.Second)

	var errs []string
	b.Eval(t, `window.camnode.errors`, &errs)
	if len(errs) > 0 {
		t.Errorf("the page noted errors: %q", errs)
	}
	for _, line := range strings.Split(node.Log(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "http:") {
			t.Errorf("the node warns about the page: %s", line)
		}
	}
}
