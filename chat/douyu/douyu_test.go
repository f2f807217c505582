package douyu

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/chat/platform"
	"github.com/camnode/camnode/chat/platform/platformtest"
)

// A chatmsg as the room sends it (the documented fields, made-up values), with '/' and '@'
// in the text and a nested STT value (el, escaped twice: it reads as the STT "eid@=1/").
const chatmsg = "type@=chatmsg/rid@=9999/ct@=2/uid@=123456/nn@=小明/txt@=1@S2 a@At b/cid@=a1b2c3/ic@=avatar@Sdefault@S/level@=12/col@=6/cst@=1732450000123/brid@=0/el@=eid@AA=1@AS/"

func TestSTTAndFrames(t *testing.T) {
	m, err := Unmarshal(chatmsg)
	if err != nil || m["txt"] != "1/2 a@t b" || m["ic"] != "avatar/default/" || m["el"] != "eid@A=1@S" {
		t.Fatalf("%v %v", m, err)
	}
	got, ok := Message(m)
	want := chat.Message{Text: "1/2 a@t b", User: "小明", Color: 0xff69b4, ID: "a1b2c3", Source: "douyu", TS: 1732450000123}
	if !ok || got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if s := Marshal("type", "loginreq", "roomid", "9999", "x", "a/b@c"); s != "type@=loginreq/roomid@=9999/x@=a@Sb@Ac/" {
		t.Fatalf("marshal %q", s)
	}
	// loginreq as documented: lengths little-endian twice, type 689, then the body and NUL.
	f := AppendFrame(nil, TypeClient, "type@=mrkl/")
	if fmt.Sprintf("% x", f[:12]) != "14 00 00 00 14 00 00 00 b1 02 00 00" || f[len(f)-1] != 0 {
		t.Fatalf("frame % x", f)
	}
	two := AppendFrame(AppendFrame(nil, TypeServer, "type@=loginres/"), TypeServer, chatmsg)
	bodies, err := Frames(two)
	if err != nil || len(bodies) != 2 || bodies[1] != chatmsg {
		t.Fatalf("frames %q %v", bodies, err)
	}
	for _, bad := range [][]byte{two[:5], append([]byte{9, 0, 0, 0, 10, 0, 0, 0}, two[8:]...)} {
		if _, err := Frames(bad); err == nil {
			t.Errorf("% x decoded", bad)
		}
	}
	if _, err := Unmarshal("rid@=1/"); err == nil {
		t.Error("a message without type")
	}
}

// The reader against a stand-in danmaku server: loginreq, loginres, joingroup gid -9999,
// chatmsg delivered; mrkl heartbeats; a server that falls silent is left and the reader
// connects again.
func TestReaderAgainstStandIn(t *testing.T) {
	var mu sync.Mutex
	var heard []string
	conns := 0
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		mu.Lock()
		conns++
		n := conns
		mu.Unlock()
		for {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			bodies, _ := Frames(b)
			for _, body := range bodies {
				mu.Lock()
				heard = append(heard, body)
				mu.Unlock()
				m, _ := Unmarshal(body)
				switch m["type"] {
				case "loginreq":
					c.WriteMessage(websocket.BinaryMessage, AppendFrame(nil, TypeServer, "type@=loginres/userid@=0/roomgroup@=0/pg@=0/"))
				case "joingroup":
					msg := strings.Replace(chatmsg, "cid@=a1b2c3", fmt.Sprintf("cid@=c%d", n), 1)
					// Two frames in one message, a gift between: only the chat is chat.
					c.WriteMessage(websocket.BinaryMessage, AppendFrame(AppendFrame(nil, TypeServer, "type@=dgb/gfid@=1/"), TypeServer, msg))
					if n == 1 {
						// Silent from now on: reads, never answers.
						for {
							_, b, err := c.ReadMessage()
							if err != nil {
								return
							}
							bodies, _ := Frames(b)
							mu.Lock()
							heard = append(heard, bodies...)
							mu.Unlock()
						}
					}
				}
			}
		}
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse("ws" + strings.TrimPrefix(srv.URL, "http"))
	c, stop := platformtest.Run(t, platform.Room{Platform: platform.Douyu, ID: "9999"},
		Session(Options{Room: "9999", Endpoint: u, Heartbeat: 100 * time.Millisecond}))
	c.Await(t, "a message from each of two connections", func(m []chat.Message, _ []platform.Status) bool { return len(m) >= 2 })
	stop()
	got := c.Messages()
	mu.Lock()
	defer mu.Unlock()
	if got[0].ID != "c1" || got[1].ID != "c2" || got[1].User != "小明" {
		t.Fatalf("messages %+v", got)
	}
	h := strings.Join(heard, "\n")
	if !strings.Contains(h, "type@=loginreq/roomid@=9999/") || !strings.Contains(h, "type@=joingroup/rid@=9999/gid@=-9999/") || !strings.Contains(h, "type@=mrkl/") {
		t.Fatalf("the server heard:\n%s", h)
	}
	if f := c.Failures(); len(f) == 0 || !strings.Contains(f[0], "nothing heard for 300ms") {
		t.Fatalf("failures %q", f)
	}
}

func FuzzFrames(f *testing.F) {
	f.Add(AppendFrame(nil, TypeServer, chatmsg))
	f.Add(AppendFrame(AppendFrame(nil, TypeServer, "type@=loginres/"), TypeServer, "type@=mrkl/"))
	f.Fuzz(func(t *testing.T, b []byte) {
		bodies, _ := Frames(b)
		for _, body := range bodies {
			if m, err := Unmarshal(body); err == nil {
				if msg, ok := Message(m); ok && msg.Source != "douyu" {
					t.Fatal("source lost")
				}
			}
		}
	})
}

func FuzzUnmarshal(f *testing.F) {
	f.Add(chatmsg)
	f.Add("type@=loginres/")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Unmarshal(s)
		if err != nil {
			return
		}
		// What Marshal writes reads back the same.
		var kv []string
		for k, v := range m {
			kv = append(kv, k, v)
		}
		back, err := Unmarshal(Marshal(kv...))
		if err != nil || fmt.Sprint(back) != fmt.Sprint(m) {
			t.Fatalf("%q: %v, back %v %v", s, m, back, err)
		}
	})
}
