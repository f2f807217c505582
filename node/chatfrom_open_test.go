package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/camnode/camnode/chat/bilibili"
	"github.com/camnode/camnode/internal/peers"
)

// A bilibili-open room through the node: the open-live API's first refusal (7002, its
// message repeating the identity code) is a chat_source_failed event with its meaning, the
// next start connects, the room's danmaku reaches chat/in, and the game is ended when the
// node stops. The identity code, the key and its secret appear in no published message and
// no log line; the room is "bilibili-open:****" everywhere.
func TestBilibiliOpenThroughTheNode(t *testing.T) {
	const code, key, secret = "BQJ1D5NBMP5G0", "open-key-s3cr3t", "open-secret-s3cr3t"
	up := websocket.Upgrader{}
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, auth, err := c.ReadMessage(); err != nil || !bytes.Contains(auth, []byte(`"key":"auth-1"`)) {
			return
		}
		c.WriteMessage(websocket.BinaryMessage, bilibili.AppendPacket(nil, bilibili.VerJSON, bilibili.OpAuthReply, []byte(`{"code":0}`)))
		c.WriteMessage(websocket.BinaryMessage, bilibili.AppendPacket(nil, bilibili.VerJSON, bilibili.OpMessage,
			[]byte(`{"cmd":"LIVE_OPEN_PLATFORM_DM","data":{"uname":"张三","msg":"open hello","msg_id":"dm-1","timestamp":1732450000,"room_id":21452505}}`)))
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(ws.Close)
	var mu sync.Mutex
	var calls []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, r.URL.Path)
		if r.Header.Get("X-Bili-Accesskeyid") != key || r.Header.Get("Authorization") == "" {
			fmt.Fprint(w, `{"code":4002,"message":"签名异常","data":{}}`)
			return
		}
		switch {
		case r.URL.Path == "/v2/app/start" && len(calls) == 1:
			fmt.Fprintf(w, `{"code":7002,"message":"game open for %s","data":{}}`, code)
		case r.URL.Path == "/v2/app/start":
			json.NewEncoder(w).Encode(map[string]any{"code": 0, "message": "0", "data": map[string]any{
				"game_info":      map[string]any{"game_id": "game-1"},
				"websocket_info": map[string]any{"auth_body": `{"key":"auth-1"}`, "wss_link": []string{"ws" + strings.TrimPrefix(ws.URL, "http") + "/sub"}},
				"anchor_info":    map[string]any{"room_id": 21452505}}})
		default:
			fmt.Fprint(w, `{"code":0,"message":"0","data":{}}`)
		}
	}))
	t.Cleanup(api.Close)
	tn := newTestNode(t, map[string]string{
		"CAMNODE_CHAT_FROM": "bilibili-open:" + code, "CAMNODE_CHAT_ENDPOINTS": "bilibili_open=" + api.URL,
		"CAMNODE_BILIBILI_APP_ID": "1650000000001", "CAMNODE_BILIBILI_ACCESS_KEY": key, "CAMNODE_BILIBILI_ACCESS_SECRET": secret,
		"CAMNODE_RECONNECT_MIN": "10ms", "CAMNODE_RECONNECT_MAX": "20ms",
	})
	var logs peers.LogBuffer
	tn.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if tn.status.ChatSources[0].Source != "bilibili-open:****" || tn.device.ChatSources[0] != "bilibili-open:****" {
		t.Fatalf("state %+v, device %+v", tn.status.ChatSources, tn.device.ChatSources)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tn.Run(ctx); close(done) }()

	var joined string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		tn.s.mu.Lock()
		joined = ""
		for _, m := range tn.s.msgs {
			joined += m.topic + " " + m.payload + "\n"
		}
		tn.s.mu.Unlock()
		if strings.Contains(joined, "chat_rejected: bilibili-open:****: the stream is off") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("published:\n%s", joined)
		}
	}
	cancel()
	<-done
	for _, want := range []string{
		"event chat_source_failed: bilibili-open:****: bilibili-open: start: code 7002, a game of this app is already open in the room",
		"event chat_source_connected: bilibili-open:****",
		`camnode/cam/chat/in {"text":"open hello","user":"张三","color":"#ffffff","mode":"scroll","id":"dm-1","source":"bilibili","ts":1732450000000}`,
		`"chat_sources":[{"source":"bilibili-open:****","connected":true`,
	} {
		if !strings.Contains(joined, want) {
			t.Fatalf("no %q in:\n%s", want, joined)
		}
	}
	mu.Lock()
	last := calls[len(calls)-1]
	mu.Unlock()
	if last != "/v2/app/end" {
		t.Fatalf("calls %q: the game was not ended", calls)
	}
	all := joined + logs.String()
	if !strings.Contains(logs.String(), "chat_source_failed") {
		t.Fatalf("the log has no events:\n%s", logs.String())
	}
	for _, s := range []string{code, key, secret, "s3cr3t"} {
		if strings.Contains(all, s) {
			t.Fatalf("%q in the published messages or the log:\n%s", s, all)
		}
	}
}
