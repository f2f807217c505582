package bilibili

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/chat/platform"
	"github.com/camnode/camnode/chat/platform/platformtest"
	"github.com/camnode/camnode/internal/peers"
)

// Bodies as the web room sends them (the layout of real DANMU_MSG and SUPER_CHAT_MESSAGE
// commands, with made-up values).
const (
	danmuTop      = `{"cmd":"DANMU_MSG","info":[[0,5,25,16738740,1732450000123,1531851253,0,"4a612ee6",0,0,0,"",0,"{}","{}",{"mode":0,"extra":"{\"send_from_me\":false,\"color\":16738740,\"id_str\":\"a1b2c3d4e5\"}"}],"大家好",[178959956,"张三",0,0,0,10000,1,""],[],[1,0,9868950,">50000",0],["",""],0,0,null,{"ts":1732450000,"ct":"3F70DD5D"},0,0,null,null,0,28]}`
	danmuOld      = `{"cmd":"DANMU_MSG:4:0:2:2:2:0","info":[[0,1,25,16777215,1732450001000,42,0,"x",0],"666",[1,"bilibili***"],[],[],["",""],0,0,null,{"ts":1732450001,"ct":"ABCD"}]}`
	danmuBot      = `{"cmd":"DANMU_MSG","info":[[0,4,25,65280,1732450002000,7,0,"y",0],"bottom line",[2,"李四"]]}`
	superChatBody = `{"cmd":"SUPER_CHAT_MESSAGE","data":{"id":12345,"message":"加油！","price":30,"start_time":1732450003,"background_bottom_color":"#2A60B2","user_info":{"uname":"王五"}}}`
	gift          = `{"cmd":"SEND_GIFT","data":{"giftName":"辣条","num":1}}`
)

var wantMessages = []chat.Message{
	{Text: "大家好", User: "张三", Color: 0xff69b4, Mode: chat.ModeTop, ID: "a1b2c3d4e5", Source: "bilibili", TS: 1732450000123},
	{Text: "666", User: "bilibili***", Color: chat.DefaultColor, ID: "1732450001000-42-ABCD", Source: "bilibili", TS: 1732450001000},
	{Text: "bottom line", User: "李四", Color: 0x00ff00, Mode: chat.ModeBottom, ID: "1732450002000-7-", Source: "bilibili", TS: 1732450002000},
	{Text: "加油！", User: "王五", Color: 0x2a60b2, Mode: chat.ModeTop, ID: "sc-12345", Source: "bilibili", TS: 1732450003000},
}

// jsCodec installs bilibili-live-ws (once) and returns a function that runs its codec.
func jsCodec(t *testing.T) func(stdin string, args ...string) string {
	t.Helper()
	peers.Require(t, "node", "npm")
	dir, _ := filepath.Abs("testdata/jscodec")
	if out, err := exec.Command(filepath.Join(dir, "install.sh")).CombinedOutput(); err != nil {
		t.Fatalf("installing bilibili-live-ws: %v\n%s", err, out)
	}
	return func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command("node", append([]string{filepath.Join(dir, "codec.js")}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("codec.js %v: %v\n%s", args, err, stderr.String())
		}
		return string(out)
	}
}

type jsPacket struct {
	Op   int    `json:"op"`
	Body string `json:"body"`
}

type jsFrame struct {
	Wrap    string     `json:"wrap"`
	Packets []jsPacket `json:"packets"`
}

// encodeJS returns the WebSocket messages bilibili-live-ws's encoder builds.
func encodeJS(t *testing.T, js func(string, ...string) string, frames ...jsFrame) [][]byte {
	in, _ := json.Marshal(frames)
	var out [][]byte
	for _, line := range strings.Fields(js(string(in), "encode")) {
		b, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if len(out) != len(frames) {
		t.Fatalf("codec.js encoded %d frames of %d", len(out), len(frames))
	}
	return out
}

type jsDecoded struct {
	Length, HeaderLength, Protocol, Op, Seq int
	Type, Body                              string
	Data                                    any
}

func decodeJS(t *testing.T, js func(string, ...string) string, frame []byte) []jsDecoded {
	var out []jsDecoded
	if err := json.Unmarshal([]byte(js("", "decode", base64.StdEncoding.EncodeToString(frame))), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// The roomFrames: what the stand-in server sends after the auth reply — the messages in a
// zlib frame, a brotli frame and a plain one, a gift between them (not chat).
func roomFrames(t *testing.T, js func(string, ...string) string) [][]byte {
	return encodeJS(t, js,
		jsFrame{Wrap: "zlib", Packets: []jsPacket{{5, danmuTop}, {5, gift}, {5, danmuOld}}},
		jsFrame{Wrap: "brotli", Packets: []jsPacket{{5, danmuBot}}},
		jsFrame{Wrap: "none", Packets: []jsPacket{{5, superChatBody}}},
	)
}

// The codec both ways: frames bilibili-live-ws encodes (zlib, brotli, plain, a heartbeat
// reply) decode here into the messages; the auth and heartbeat this package sends, and the
// compressed frames it builds for stand-ins, decode there into what was meant.
func TestCodecCrossCheckedWithBilibiliLiveWS(t *testing.T) {
	js := jsCodec(t)
	var got []chat.Message
	for _, f := range roomFrames(t, js) {
		ps, err := Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if m, ok := Message(p.Body); ok {
				got = append(got, m)
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(wantMessages) {
		t.Fatalf("messages\n got %+v\nwant %+v", got, wantMessages)
	}
	hb := encodeJS(t, js, jsFrame{Wrap: "none", Packets: []jsPacket{{3, "int32:1234"}, {8, `{"code":0}`}}})[0]
	ps, err := Decode(hb)
	if err != nil || len(ps) != 2 || ps[0].Op != OpHeartbeatReply || !bytes.Equal(ps[0].Body, []byte{0, 0, 4, 0xd2}) || ps[1].Op != OpAuthReply {
		t.Fatalf("heartbeat reply and auth reply: %+v %v", ps, err)
	}

	auth := AppendPacket(nil, VerInt32, OpAuth, []byte(`{"uid":0,"roomid":21452505,"protover":3,"platform":"web","type":2,"buvid":"","key":"k"}`))
	frame := append(auth, AppendPacket(nil, VerInt32, OpHeartbeat, nil)...)
	d := decodeJS(t, js, frame)
	if len(d) != 2 || d[0].Op != OpAuth || d[0].HeaderLength != 16 || d[0].Length != len(auth) || d[0].Protocol != 1 ||
		!strings.Contains(d[0].Body, `"roomid":21452505`) || d[1].Op != OpHeartbeat || d[1].Length != 16 {
		t.Fatalf("bilibili-live-ws reads our auth and heartbeat as %+v", d)
	}
	for _, ver := range []uint16{VerZlib, VerBrotli} {
		inner := AppendPacket(AppendPacket(nil, VerJSON, OpMessage, []byte(danmuTop)), VerJSON, OpMessage, []byte(superChatBody))
		d := decodeJS(t, js, Compress(ver, inner))
		if len(d) != 2 || d[0].Type != "message" || d[0].Body != danmuTop || d[1].Body != superChatBody {
			t.Fatalf("bilibili-live-ws reads our version %d frame as %+v", ver, d)
		}
	}
}

func TestDecodeRejectsBadFrames(t *testing.T) {
	good := AppendPacket(nil, VerJSON, OpMessage, []byte(`{}`))
	for name, b := range map[string][]byte{
		"short":            good[:10],
		"length too long":  append([]byte{0, 0, 1, 0}, good[4:]...),
		"header too short": append(append([]byte{}, good[:4]...), append([]byte{0, 8}, good[6:]...)...),
		"bad zlib":         AppendPacket(nil, VerZlib, OpMessage, []byte("not zlib")),
		"nested":           Compress(VerZlib, Compress(VerBrotli, good)),
	} {
		if _, err := Decode(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// standIn is a WebSocket danmaku server on 127.0.0.1: each connection runs the next
// script; what the clients sent is kept.
type standIn struct {
	srv  *httptest.Server
	mu   sync.Mutex
	sent [][]byte // the first frame of each connection (the auth)
}

func newStandIn(t *testing.T, scripts ...func(c *websocket.Conn)) *standIn {
	s := &standIn{}
	var n int
	var mu sync.Mutex
	// Bilibili's server takes the live.bilibili.com origin the reader sends.
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, auth, err := c.ReadMessage()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.sent = append(s.sent, auth)
		s.mu.Unlock()
		mu.Lock()
		script := scripts[min(n, len(scripts)-1)]
		n++
		mu.Unlock()
		script(c)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *standIn) url() *url.URL {
	u, _ := url.Parse("ws" + strings.TrimPrefix(s.srv.URL, "http") + "/sub")
	return u
}

// answer replies to heartbeats (with their popularity) until the client goes or stop.
func answer(c *websocket.Conn, reply []byte, stop <-chan struct{}) {
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := c.ReadMessage()
		if err != nil {
			return
		}
		select {
		case <-stop:
			continue // heard, not answered
		default:
		}
		if ps, _ := Decode(b); len(ps) > 0 && ps[0].Op == OpHeartbeat {
			c.WriteMessage(websocket.BinaryMessage, reply)
		}
	}
}

func runReader(t *testing.T, o Options) (*platformtest.Collector, func()) {
	return platformtest.Run(t, platform.Room{Platform: platform.Bilibili, ID: o.Room}, Session(o))
}

// The reader end to end against a stand-in server speaking bilibili-live-ws's frames: it
// authenticates (the stand-in reads the auth with bilibili-live-ws), reads the zlib, brotli
// and plain frames, reconnects when the server closes the socket, and again when the server
// stops answering heartbeats.
func TestReaderReconnectsAfterCloseAndSilence(t *testing.T) {
	js := jsCodec(t)
	frames := roomFrames(t, js)
	ctl := encodeJS(t, js,
		jsFrame{Wrap: "none", Packets: []jsPacket{{8, `{"code":0}`}}},
		jsFrame{Wrap: "none", Packets: []jsPacket{{3, "int32:1"}}},
	)
	welcome, beat := ctl[0], ctl[1]
	s := newStandIn(t,
		func(c *websocket.Conn) { // every message, then the socket closes
			c.WriteMessage(websocket.BinaryMessage, welcome)
			for _, f := range frames {
				c.WriteMessage(websocket.BinaryMessage, f)
			}
		},
		func(c *websocket.Conn) { // one message, then heartbeats go unanswered
			c.WriteMessage(websocket.BinaryMessage, welcome)
			c.WriteMessage(websocket.BinaryMessage, frames[2])
			stop := make(chan struct{})
			close(stop)
			answer(c, beat, stop)
		},
		func(c *websocket.Conn) {
			c.WriteMessage(websocket.BinaryMessage, welcome)
			c.WriteMessage(websocket.BinaryMessage, frames[1])
			answer(c, beat, nil)
		},
	)
	c, stop := runReader(t, Options{Room: "21452505", WS: s.url(), Heartbeat: 200 * time.Millisecond})
	c.Await(t, "six messages over three connections", func(m []chat.Message, _ []platform.Status) bool { return len(m) >= 6 })
	stop()
	want := append(append(append([]chat.Message{}, wantMessages...), wantMessages[3]), wantMessages[2])
	if got := c.Messages(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("messages\n got %+v\nwant %+v", got, want)
	}
	reasons := c.Failures()
	if len(reasons) < 2 || !strings.Contains(reasons[0], "read:") || !strings.Contains(reasons[1], "no heartbeat reply for 500ms") {
		t.Fatalf("failures: %q", reasons)
	}
	s.mu.Lock()
	auth := s.sent[0]
	s.mu.Unlock()
	d := decodeJS(t, js, auth)
	var body map[string]any
	if len(d) != 1 || d[0].Op != OpAuth || json.Unmarshal([]byte(d[0].Body), &body) != nil ||
		body["roomid"] != 21452505.0 || body["protover"] != 3.0 || body["platform"] != "web" || body["type"] != 2.0 {
		t.Fatalf("the auth as bilibili-live-ws reads it: %+v", d)
	}
}

// With an API endpoint the reader resolves the room (room_init), takes the WBI keys (nav),
// calls getDanmuInfo signed (the stand-in checks w_rid) and authenticates with its token
// and the cookie's uid and buvid3; the cookie goes to the API, never into an error.
func TestReaderResolvesThroughGetDanmuInfo(t *testing.T) {
	const img, sub = "7cd084941338484aae1ad9425b84077c", "4932caff0ff746eab6f01bf08b70ac45"
	var badSign, sawCookie bool
	var mu sync.Mutex
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		sawCookie = sawCookie || strings.Contains(r.Header.Get("Cookie"), "SESSDATA=sess-s3cr3t")
		switch r.URL.Path {
		case "/room/v1/Room/room_init":
			fmt.Fprintf(w, `{"code":0,"data":{"room_id":21452505,"short_id":%s}}`, r.URL.Query().Get("id"))
		case "/x/web-interface/nav":
			fmt.Fprintf(w, `{"code":-101,"message":"账号未登录","data":{"isLogin":false,"wbi_img":{"img_url":"https://i0.hdslb.com/bfs/wbi/%s.png","sub_url":"https://i0.hdslb.com/bfs/wbi/%s.png"}}}`, img, sub)
		case "/xlive/web-room/v1/index/getDanmuInfo":
			q := r.URL.Query()
			rid := q.Get("w_rid")
			q.Del("w_rid")
			var keys []string
			for k := range q {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var parts []string
			for _, k := range keys {
				parts = append(parts, k+"="+q.Get(k))
			}
			sum := md5.Sum([]byte(strings.Join(parts, "&") + "ea1db124af3c7062474693fa704f4ff8"))
			if hex.EncodeToString(sum[:]) != rid || q.Get("id") != "21452505" {
				badSign = true
				fmt.Fprint(w, `{"code":-352,"message":"-352"}`)
				return
			}
			fmt.Fprint(w, `{"code":0,"data":{"token":"tok-123","host_list":[{"host":"broadcastlv.chat.bilibili.com","wss_port":443}]}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(api.Close)
	s := newStandIn(t, func(c *websocket.Conn) {
		c.WriteMessage(websocket.BinaryMessage, AppendPacket(nil, VerJSON, OpAuthReply, []byte(`{"code":0}`)))
		answer(c, AppendPacket(nil, VerInt32, OpHeartbeatReply, []byte{0, 0, 0, 1}), nil)
	})
	apiURL, _ := url.Parse(api.URL)
	c, stop := runReader(t, Options{Room: "6", WS: s.url(), API: apiURL, Cookie: "SESSDATA=sess-s3cr3t; buvid3=BUVID-9; DedeUserID=77"})
	c.Await(t, "connected", func(_ []chat.Message, st []platform.Status) bool { return len(st) > 0 })
	stop()
	mu.Lock()
	defer mu.Unlock()
	if badSign || !sawCookie {
		t.Fatalf("getDanmuInfo: bad signature %v, cookie sent %v", badSign, sawCookie)
	}
	if st := c.Statuses(); !st[0].Connected {
		t.Fatalf("status %+v", st)
	}
	s.mu.Lock()
	ps, _ := Decode(s.sent[0])
	s.mu.Unlock()
	var auth map[string]any
	json.Unmarshal(ps[0].Body, &auth)
	if auth["key"] != "tok-123" || auth["roomid"] != 21452505.0 || auth["uid"] != 77.0 || auth["buvid"] != "BUVID-9" {
		t.Fatalf("auth %v", auth)
	}
}

// A room the API does not know fails with the API's reason, and never shows the cookie.
func TestReaderAPIErrorHidesCookie(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"code":60004,"message":"直播间不存在"}`)
	}))
	t.Cleanup(api.Close)
	apiURL, _ := url.Parse(api.URL)
	err := Session(Options{Room: "1", API: apiURL, Cookie: "SESSDATA=sess-s3cr3t"})(context.Background(), func() {}, func(chat.Message) {})
	if err == nil || !strings.Contains(err.Error(), "code 60004 直播间不存在") || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("err %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(AppendPacket(nil, VerJSON, OpMessage, []byte(danmuTop)))
	f.Add(Compress(VerZlib, AppendPacket(nil, VerJSON, OpMessage, []byte(superChatBody))))
	f.Add(Compress(VerBrotli, AppendPacket(nil, VerJSON, OpMessage, []byte(danmuOld))))
	f.Add(AppendPacket(nil, VerInt32, OpHeartbeatReply, []byte{0, 0, 0, 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, _ := Decode(b)
		for _, p := range ps {
			if p.Ver == VerZlib || p.Ver == VerBrotli {
				t.Fatal("a compressed packet left undecoded")
			}
			Message(p.Body)
		}
	})
}

func FuzzMessage(f *testing.F) {
	for _, s := range []string{danmuTop, danmuOld, danmuBot, superChatBody, gift} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, ok := Message(b); ok && m.Source != "bilibili" {
			t.Fatal("source lost")
		}
	})
}

// Messages per second one reader takes from brotli frames of 20 danmaku each into a deliver
// func.
func BenchmarkReaderThroughput(b *testing.B) {
	var inner []byte
	for range 20 {
		inner = AppendPacket(inner, VerJSON, OpMessage, []byte(danmuTop))
	}
	frame := Compress(VerBrotli, inner)
	frames := (b.N + 19) / 20
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.ReadMessage() // auth
		c.WriteMessage(websocket.BinaryMessage, AppendPacket(nil, VerJSON, OpAuthReply, []byte(`{"code":0}`)))
		for range frames {
			if c.WriteMessage(websocket.BinaryMessage, frame) != nil {
				return
			}
		}
		c.ReadMessage()
	}))
	defer srv.Close()
	u, _ := url.Parse("ws" + strings.TrimPrefix(srv.URL, "http"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got, want := 0, frames*20
	done := make(chan struct{})
	b.ResetTimer()
	go Session(Options{Room: "1", WS: u})(ctx, func() {}, func(chat.Message) {
		if got++; got == want {
			close(done)
		}
	})
	<-done
	b.StopTimer()
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "msgs/s")
}
