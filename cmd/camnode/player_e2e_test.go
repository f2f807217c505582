package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// TestPlayerPlaysTheNodesStream: the real binary with CAMNODE_HTTP serves the page; headless
// Chromium plays the live test pattern (>= 50 frames decoded by WebCodecs) and shows a chat
// message sent with mosquitto_pub in its danmaku layer, in the message's colour. When the
// stream is switched off the page says so; the discovery's device carries no
// configuration_url for a player on loopback.
func TestPlayerPlaysTheNodesStream(t *testing.T) {
	r := newRig(t, "player", "")
	addr := "127.0.0.1:" + strconv.Itoa(peers.FreePort(t))
	// sei: the page draws the chat (auto burns it into the test pattern, which camnode
	// encodes, and the page then draws none: TestDanmakuAutoChoosesByTheSource).
	for k, v := range map[string]string{"CAMNODE_SOURCE": "testsrc", "CAMNODE_HTTP": addr, "CAMNODE_FPS": "25", "CAMNODE_GOP": "1s",
		"CAMNODE_DANMAKU": "sei"} {
		r.env[k] = v
	}
	node := r.goLive(t)
	if !strings.Contains(node.Log(), "http://"+addr+"/") {
		t.Errorf("the log does not name the player's page http://%s/", addr)
	}

	b := peers.StartChromium(t)
	b.Navigate(t, "http://"+addr+"/")
	b.WaitJS(t, "50 decoded frames", `window.camnode.frames >= 50`, 180*time.Second)

	const id = "e2e-chat-1"
	peers.Publish(t, r.broker, r.topic("chat"), fmt.Sprintf(`{"text":"hello from mosquitto_pub 弹幕","user":"alice","color":"#ff6699","id":%q}`, id))
	sel := fmt.Sprintf(`document.querySelector('#danmaku .dm[data-id=%q]')`, id)
	b.WaitJS(t, "the chat in the danmaku layer", sel, 120*time.Second)
	var got struct{ Text, Color string }
	b.Eval(t, fmt.Sprintf(`(() => { const el = %s; return {Text: el.textContent, Color: el.dataset.color}; })()`, sel), &got)
	if !strings.Contains(got.Text, "hello from mosquitto_pub 弹幕") || got.Color != "#ff6699" {
		t.Errorf("the page shows the chat as %+v", got)
	}
	shot := b.Screenshot(t)
	out := filepath.Join("..", "..", "bench", "out", "player-e2e.png")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err == nil {
		if err := os.WriteFile(out, shot, 0o644); err != nil {
			t.Errorf("screenshot: %v", err)
		}
		t.Logf("screenshot: %s", out)
	}

	for _, m := range r.sub.Messages() {
		if strings.HasPrefix(m.Topic, "homeassistant/") && strings.Contains(m.Payload, "configuration_url") {
			t.Errorf("a player on loopback is linked from Home Assistant: %s", m.Payload)
		}
	}

	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "OFF")
	r.await(t, from, "event", eventIs("stream_stopped"), "stream_stopped")
	b.WaitJS(t, "the page to say the stream ended", `document.body.dataset.state === "offline"`, 60*time.Second)
	var errs []string
	b.Eval(t, `window.camnode.errors`, &errs)
	if len(errs) > 0 {
		t.Errorf("the page noted errors: %q", errs)
	}
}

// TestPlayerBadSettings: CAMNODE_HTTP on every interface without a token, and
// an address the node cannot listen on, are bad settings (exit 2) naming the variable.
func TestPlayerBadSettings(t *testing.T) {
	busy := "127.0.0.1:" + strconv.Itoa(peers.FreePort(t))
	r := newRig(t, "player-bad", "")
	r.env["CAMNODE_SOURCE"] = "testsrc"
	// Hold the port: the node cannot listen on it.
	startCamnode(t, map[string]string{"CAMNODE_NODE_ID": "holder", "CAMNODE_MQTT_URL": r.broker.URL(),
		"CAMNODE_SOURCE": "testsrc", "CAMNODE_HTTP": busy})
	if err := peers.WaitPort(busy, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ http, token, want string }{
		{"0.0.0.0:" + strconv.Itoa(peers.FreePort(t)), "", "CAMNODE_HTTP_TOKEN"},
		{busy, "", "CAMNODE_HTTP"},
	} {
		env := map[string]string{}
		for k, v := range r.env {
			env[k] = v
		}
		env["CAMNODE_HTTP"], env["CAMNODE_HTTP_TOKEN"] = c.http, c.token
		p := startCamnode(t, env)
		if code := p.wait(t, 60*time.Second); code != 2 || !strings.Contains(p.Log(), c.want) {
			t.Errorf("CAMNODE_HTTP=%s: exit %d, want 2 naming %s:\n%s", c.http, code, c.want, p.Log())
		}
	}
}
