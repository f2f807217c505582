package node

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// A reader's failure is a chat_source_failed event and the error of its entry in the
// state, with the token scrubbed even where the server quoted it; once connected, its
// messages go through the intake (chat/in, then "the stream is off"), and telemetry counts
// them.
func TestChatSourceFailsThenDelivers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(c)
			for {
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				l, err := r.ReadString('\n')
				if err != nil {
					break
				}
				if i == 0 && strings.HasPrefix(l, "CAP END") {
					fmt.Fprint(c, ":tmi.twitch.tv NOTICE * :Login authentication failed for oauth:tok-very-s3cr3t-123\r\n")
				}
				if i > 0 && strings.HasPrefix(l, "CAP END") {
					fmt.Fprint(c, ":tmi.twitch.tv 001 camnode :Welcome\r\n")
				}
				if strings.HasPrefix(l, "JOIN") {
					fmt.Fprint(c, ":camnode!camnode@camnode.tmi.twitch.tv JOIN #garden\r\n")
					fmt.Fprint(c, "@display-name=Bob_with_a_display_name_far_over_32;id=m1 :bob!bob@bob.tmi.twitch.tv PRIVMSG #garden :hello node\r\n")
				}
			}
			c.Close()
		}
	}()
	tn := newTestNode(t, map[string]string{
		"CAMNODE_CHAT_FROM": "twitch:garden", "CAMNODE_CHAT_ENDPOINTS": "twitch=irc://" + ln.Addr().String(),
		"CAMNODE_TWITCH_OAUTH_TOKEN": "oauth:tok-very-s3cr3t-123", "CAMNODE_RECONNECT_MIN": "10ms", "CAMNODE_RECONNECT_MAX": "20ms",
	})
	if tn.status.ChatSources[0].Source != "twitch:garden" || tn.device.ChatSources[0] != "twitch:garden" {
		t.Fatalf("state %+v, device %+v", tn.status.ChatSources, tn.device.ChatSources)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tn.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	var all []published
	deadline := time.Now().Add(20 * time.Second)
	for {
		tn.s.mu.Lock()
		all = append([]published(nil), tn.s.msgs...)
		tn.s.mu.Unlock()
		joined := ""
		for _, m := range all {
			joined += m.topic + " " + m.payload + "\n"
		}
		if strings.Contains(joined, "chat_rejected: twitch:garden: the stream is off") {
			if strings.Contains(joined, "s3cr3t") {
				t.Fatalf("the token was published:\n%s", joined)
			}
			for _, want := range []string{
				"event chat_source_failed: twitch:garden: twitch: 127.0.0.1:",
				"refused the login: Login authentication failed for ****; retrying in ",
				"event chat_source_connected: twitch:garden",
				`camnode/cam/chat/in {"text":"hello node","user":"Bob_with_a_display_name_far_over","color":"#ffffff","mode":"scroll","id":"m1","source":"twitch"}`,
				`"chat_sources":[{"source":"twitch:garden","connected":true`,
			} {
				if !strings.Contains(joined, want) {
					t.Fatalf("no %q in:\n%s", want, joined)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("published:\n%s", joined)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tn.publishTelemetry()
	if tel := tn.last(tn.topics.Telemetry); !strings.Contains(tel, `"chat_sources":[{"source":"twitch:garden","connected":true,"messages":1}]`) {
		t.Fatalf("telemetry %s", tel)
	}
}
