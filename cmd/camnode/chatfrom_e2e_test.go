package main

// End to end: the node reads a Twitch-style IRC channel itself (Debian's ngircd standing in
// for Twitch's IRC server), and a viewer's lines reach <base>/chat/in (read by
// mosquitto_sub) and the stream's SEI as nginx-rtmp recorded it.

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

func TestTwitchChatReachesChatInAndTheStream(t *testing.T) {
	irc := peers.StartNgircd(t)
	viewer := peers.DialIRC(t, irc.Addr(), "alice")
	viewer.Send("JOIN #garden")
	viewer.Await(" 366 ", 10*time.Second)

	clip := makeClip(t, "320x240", 90, 30)
	r := newRig(t, "garden", clip)
	for k, v := range map[string]string{
		"CAMNODE_WIDTH": "320", "CAMNODE_HEIGHT": "240", "CAMNODE_DANMAKU": "sei",
		"CAMNODE_CHAT_FROM": "twitch:garden", "CAMNODE_CHAT_ENDPOINTS": "twitch=" + irc.URL(),
		"CAMNODE_CHAT_USER_RATE": "0",
	} {
		r.env[k] = v
	}
	disc := peers.Subscribe(t, r.broker, "homeassistant/device/+/config")
	startCamnode(t, r.env)
	r.await(t, 0, "availability", is("online"), "online")
	r.await(t, 0, "event", func(s string) bool {
		return eventIs("chat_source_connected")(s) && strings.Contains(s, `"reason":"twitch:garden"`)
	}, "chat_source_connected")
	r.await(t, 0, "state", func(s string) bool {
		return strings.Contains(s, `"chat_sources":[{"source":"twitch:garden","connected":true`)
	}, "the reader connected in the state")
	viewer.Await(":justinfan", 10*time.Second) // the node's reader joined the channel

	// With the stream off, a line is taken (chat/in) but has no stream to go to.
	from := len(r.sub.Messages())
	viewer.Send("PRIVMSG #garden :before the stream")
	r.await(t, from, "chat/in", is(`{"text":"before the stream","user":"alice","color":"#ffffff","mode":"scroll","source":"twitch"}`), "chat/in while off")
	r.await(t, from, "event", func(s string) bool {
		return eventIs("chat_rejected")(s) && strings.Contains(s, "twitch:garden: the stream is off")
	}, "chat_rejected: stream off")

	from = len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "ON")
	r.await(t, from, "state", func(s string) bool { return strings.Contains(s, `"state":"live"`) }, "live")
	lines := []string{"hello from twitch", "大家好 😀", "\x01ACTION waves\x01"}
	want := []string{
		`{"text":"hello from twitch","user":"alice","color":"#ffffff","mode":"scroll","source":"twitch"}`,
		`{"text":"大家好 😀","user":"alice","color":"#ffffff","mode":"scroll","source":"twitch"}`,
		`{"text":"waves","user":"alice","color":"#ffffff","mode":"scroll","source":"twitch"}`,
	}
	for _, l := range lines {
		viewer.Send("PRIVMSG #garden :" + l)
	}
	// MQTT chat shows on chat/in too, normalised, with its source.
	peers.Publish(t, r.broker, r.topic("chat"), `{"text":" from  mqtt ","source":"homeassistant"}`)
	for _, w := range want {
		r.await(t, from, "chat/in", is(w), "chat/in "+w)
	}
	r.await(t, from, "chat/in", is(`{"text":"from mqtt","color":"#ffffff","mode":"scroll","source":"homeassistant"}`), "chat/in from MQTT")
	for _, m := range r.sub.OnTopic(r.topic("chat/in")) {
		if m.Retained {
			t.Fatalf("chat/in retained: %v", m)
		}
	}
	time.Sleep(time.Second) // a few frames carry the last message

	from = len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "OFF")
	tel := r.await(t, from, "telemetry", func(string) bool { return true }, "telemetry").Payload
	var tm struct {
		ChatSources []struct {
			Source    string
			Connected bool
			Messages  int
		} `json:"chat_sources"`
	}
	if err := json.Unmarshal([]byte(tel), &tm); err != nil || len(tm.ChatSources) != 1 ||
		tm.ChatSources[0].Messages != 4 || !tm.ChatSources[0].Connected || tm.ChatSources[0].Source != "twitch:garden" {
		t.Fatalf("telemetry chat_sources: %s", tel)
	}
	recs := r.ingest.WaitPublishEnded(t, r.stream, 1, 10*time.Second)
	if len(recs) != 1 {
		t.Fatalf("recordings: %v", recs)
	}
	got := strings.Join(recordedSEIChat(t, recs[0]), "\n")
	for _, w := range want {
		if strings.Count(got, w) != 1 {
			t.Fatalf("SEI chat in nginx's recording:\n%s\nwant once: %s", got, w)
		}
	}
	if strings.Contains(got, "before the stream") {
		t.Fatalf("a message taken while off reached the stream:\n%s", got)
	}

	// Home Assistant sees the reader as a connectivity sensor on the device.
	m, ok := disc.WaitFor(func(m peers.Message) bool { return strings.Contains(m.Payload, "chat_source_1") }, 10*time.Second)
	if !ok {
		t.Fatal("no chat_source_1 in the discovery")
	}
	var d struct {
		Cmps map[string]map[string]any `json:"cmps"`
	}
	json.Unmarshal([]byte(m.Payload), &d)
	if c := d.Cmps["chat_source_1"]; c["platform"] != "binary_sensor" || c["name"] != "Chat twitch:garden" || c["device_class"] != "connectivity" {
		t.Fatalf("chat_source_1: %v", c)
	}
}
