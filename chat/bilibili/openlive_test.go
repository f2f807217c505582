package bilibili

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
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

// The stand-in app's credentials and the streamer's identity code: none may show anywhere.
const (
	testAppID     = 1650000000001
	testKeyID     = "keyid-s3cr3t-0001"
	testKeySecret = "keysecret-s3cr3t-0002"
	testCode      = "BQJ1D5NBMP5G0"
)

// Bodies as the open platform's socket sends them (the documented fields, made-up values).
const (
	openDM   = `{"cmd":"LIVE_OPEN_PLATFORM_DM","data":{"room_id":21452505,"uid":0,"open_id":"39b8fedb-60a5-4e29-ac75-b16955f7e632","uname":"张三","msg":"大家好","msg_id":"eb805544-0cf2-4688-bca1-88299e5344bf","fans_medal_level":21,"fans_medal_name":"官方","fans_medal_wearing_status":false,"guard_level":0,"timestamp":1732450000,"uface":"http://i0.hdslb.com/bfs/face/x.jpg","emoji_img_url":"","dm_type":0}}`
	openSC   = `{"cmd":"LIVE_OPEN_PLATFORM_SUPER_CHAT","data":{"room_id":21452505,"open_id":"o-2","uname":"王五","uface":"","message_id":7,"message":"加油！","msg_id":"sc-msg-7","rmb":30,"timestamp":1732450003,"start_time":1732450003,"end_time":1732450063,"guard_level":0,"fans_medal_level":0,"fans_medal_name":"","fans_medal_wearing_status":false}}`
	openGift = `{"cmd":"LIVE_OPEN_PLATFORM_SEND_GIFT","data":{"room_id":21452505,"uname":"李四","gift_name":"辣条","gift_num":1,"msg_id":"g-1"}}`
)

var wantOpenMessages = []chat.Message{
	{Text: "大家好", User: "张三", Color: chat.DefaultColor, ID: "eb805544-0cf2-4688-bca1-88299e5344bf", Source: "bilibili", TS: 1732450000000},
	{Text: "加油！", User: "王五", Color: chat.DefaultColor, Mode: chat.ModeTop, ID: "sc-msg-7", Source: "bilibili", TS: 1732450003000},
}

// openCall is one call the stand-in API took.
type openCall struct {
	path   string
	body   map[string]any
	signed bool
}

// openAPI stands in for live-open.biliapi.com on 127.0.0.1 over TLS: it checks every call's
// signature as the open platform documents it, computed here on its own from the headers
// received, and keeps one game per room as Bilibili does (7002 while one is open).
type openAPI struct {
	srv *httptest.Server
	ws  string // the wss_link it names

	mu        sync.Mutex
	calls     []openCall
	nonces    map[string]bool
	open      string // the game open in the room
	games     int
	failEnds  int // the next ends answered with HTTP 503
	startedAt time.Time
}

// newOpenAPI starts the stand-in; wrap, when given, sees every request first.
func newOpenAPI(t *testing.T, ws string, wrap func(http.Handler) http.Handler) *openAPI {
	a := &openAPI{ws: ws, nonces: map[string]bool{}}
	var h http.Handler = http.HandlerFunc(a.serve)
	if wrap != nil {
		h = wrap(h)
	}
	a.srv = httptest.NewTLSServer(h)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *openAPI) options(secret string) OpenOptions {
	u, _ := url.Parse(a.srv.URL)
	return OpenOptions{Code: testCode, AppID: testAppID, AccessKey: testKeyID, AccessSecret: secret, API: u, Client: a.srv.Client(),
		Heartbeat: 200 * time.Millisecond, AppHeartbeat: 100 * time.Millisecond}
}

// checkSignature is the open platform's check: the body's MD5 in x-bili-content-md5, the
// method and version, a fresh timestamp and nonce, and Authorization the hex HMAC-SHA256,
// keyed with the app's secret, of every x-bili-* header sorted by name as "name:value" lines.
func (a *openAPI) checkSignature(r *http.Request, body []byte) string {
	sum := md5.Sum(body)
	switch {
	case r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Accept") != "application/json":
		return "content type or accept"
	case r.Header.Get("X-Bili-Content-Md5") != hex.EncodeToString(sum[:]):
		return "content md5"
	case r.Header.Get("X-Bili-Accesskeyid") != testKeyID:
		return "access key id"
	case r.Header.Get("X-Bili-Signature-Method") != "HMAC-SHA256" || r.Header.Get("X-Bili-Signature-Version") != "1.0":
		return "method or version"
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-Bili-Timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 10*time.Minute {
		return "timestamp"
	}
	nonce := r.Header.Get("X-Bili-Signature-Nonce")
	if nonce == "" || a.nonces[nonce] {
		return "nonce"
	}
	a.nonces[nonce] = true
	var names []string
	for k := range r.Header {
		if k = strings.ToLower(k); strings.HasPrefix(k, "x-bili-") {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	var lines []string
	for _, k := range names {
		lines = append(lines, k+":"+r.Header.Get(k))
	}
	mac := hmac.New(sha256.New, []byte(testKeySecret))
	mac.Write([]byte(strings.Join(lines, "\n")))
	if len(names) != 6 || !hmac.Equal([]byte(r.Header.Get("Authorization")), []byte(hex.EncodeToString(mac.Sum(nil)))) {
		return "signature"
	}
	return ""
}

func (a *openAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	defer a.mu.Unlock()
	answer := func(code int, data any) {
		b, _ := json.Marshal(map[string]any{"code": code, "message": strconv.Itoa(code), "request_id": "req-1", "data": data})
		w.Write(b)
	}
	call := openCall{path: r.URL.Path}
	json.Unmarshal(body, &call.body)
	bad := a.checkSignature(r, body)
	call.signed = bad == ""
	a.calls = append(a.calls, call)
	if r.Method != http.MethodPost || bad != "" {
		answer(4002, map[string]any{})
		return
	}
	game, _ := call.body["game_id"].(string)
	switch r.URL.Path {
	case "/v2/app/start":
		switch {
		case call.body["app_id"] != float64(testAppID):
			answer(8002, map[string]any{})
		case call.body["code"] != testCode:
			answer(7007, map[string]any{})
		case a.open != "":
			answer(7002, map[string]any{})
		default:
			a.games++
			a.open = fmt.Sprintf("game-%d", a.games)
			a.startedAt = time.Now()
			answer(0, map[string]any{
				"game_info":      map[string]any{"game_id": a.open},
				"websocket_info": map[string]any{"auth_body": fmt.Sprintf(`{"roomid":21452505,"protoover":2,"key":"auth-%s"}`, a.open), "wss_link": []string{"not a url", a.ws}},
				"anchor_info":    map[string]any{"room_id": 21452505, "uname": "主播", "uid": 1, "open_id": "o-anchor"},
			})
		}
	case "/v2/app/heartbeat":
		switch {
		case game != a.open:
			answer(7003, map[string]any{})
		default:
			answer(0, map[string]any{})
		}
	case "/v2/app/end":
		switch {
		case a.failEnds > 0:
			a.failEnds--
			w.WriteHeader(http.StatusServiceUnavailable)
		case call.body["app_id"] != float64(testAppID) || game != a.open:
			answer(7000, map[string]any{})
		default:
			a.open = ""
			answer(0, map[string]any{})
		}
	default:
		answer(4010, map[string]any{})
	}
}

// Calls are the paths and games of the calls taken so far, "start", "heartbeat game-1", ...
func (a *openAPI) Calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, c := range a.calls {
		s := strings.TrimPrefix(c.path, "/v2/app/")
		if g, ok := c.body["game_id"].(string); ok {
			s += " " + g
		}
		if !c.signed {
			s += " (bad signature)"
		}
		out = append(out, s)
	}
	return out
}

func count(calls []string, s string) int {
	n := 0
	for _, c := range calls {
		if c == s {
			n++
		}
	}
	return n
}

// noSecrets fails the test when any text holds the identity code, the key id or its secret.
func noSecrets(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		for _, secret := range []string{testCode, testKeyID, testKeySecret, "s3cr3t"} {
			if strings.Contains(s, secret) {
				t.Errorf("a secret in %q", s)
			}
		}
	}
}

// The signature, cross-checked with Node's crypto: the same headers signed there give the
// same Authorization.
func TestSignOpenMatchesNode(t *testing.T) {
	peers.Require(t, "node")
	body := []byte(`{"code":"BQJ1D5NBMP5G0","app_id":1650000000001}`)
	h := SignOpen(body, testKeyID, testKeySecret, time.Unix(1732450000, 0), "428731")
	const js = `const c = require('crypto');
const [body, id, secret, ts, nonce] = process.argv.slice(1);
const h = {'x-bili-timestamp': ts, 'x-bili-signature-version': '1.0', 'x-bili-signature-nonce': nonce,
  'x-bili-signature-method': 'HMAC-SHA256', 'x-bili-content-md5': c.createHash('md5').update(body).digest('hex'),
  'x-bili-accesskeyid': id};
const s = Object.keys(h).sort().map(k => k + ':' + h[k]).join('\n');
console.log(h['x-bili-content-md5'] + ' ' + c.createHmac('sha256', secret).update(s).digest('hex'));`
	out, err := exec.Command("node", "-e", js, string(body), testKeyID, testKeySecret, "1732450000", "428731").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Fields(string(out))
	if len(want) != 2 || h["x-bili-content-md5"][0] != want[0] || h["Authorization"][0] != want[1] {
		t.Fatalf("headers %v, node says md5 and signature %v", h, want)
	}
	if h["x-bili-timestamp"][0] != "1732450000" || h["x-bili-signature-nonce"][0] != "428731" || len(h) != 7 {
		t.Fatalf("headers %v", h)
	}
}

// A start signed with the wrong secret is refused with the reason to give the user, and no
// secret; the code Bilibili gives a wrong identity code says so too.
func TestOpenStartRefused(t *testing.T) {
	api := newOpenAPI(t, "ws://127.0.0.1:1/sub", nil)
	err := OpenSession(api.options("not-the-secret"))(context.Background(), func() {}, func(chat.Message) {})
	if err == nil || !strings.Contains(err.Error(), "bilibili-open: start: code 4002, the signature was refused: check CAMNODE_BILIBILI_ACCESS_SECRET") {
		t.Fatalf("bad signature: %v", err)
	}
	o := api.options(testKeySecret)
	o.Code = "AAAAAAAAAAAAA"
	err2 := OpenSession(o)(context.Background(), func() {}, func(chat.Message) {})
	if err2 == nil || !strings.Contains(err2.Error(), "code 7007, the identity code is wrong") {
		t.Fatalf("wrong code: %v", err2)
	}
	o = api.options(testKeySecret)
	o.AppID = 1
	err3 := OpenSession(o)(context.Background(), func() {}, func(chat.Message) {})
	if err3 == nil || !strings.Contains(err3.Error(), "code 8002") {
		t.Fatalf("wrong app: %v", err3)
	}
	if calls := api.Calls(); fmt.Sprint(calls) != "[start (bad signature) start start]" {
		t.Fatalf("calls %q", calls)
	}
	noSecrets(t, err.Error(), err2.Error(), err3.Error())
}

// The reader through the open-live API end to end: a signed start names the socket and its
// auth body (which the socket receives as bilibili-live-ws reads it), the game's heartbeat
// runs every AppHeartbeat with the start's game_id, the open platform's danmaku and Super
// Chat (in zlib and brotli frames bilibili-live-ws builds) reach the reader's output, and
// the game is ended when the reader stops. Nothing it reports holds a secret.
func TestOpenSessionEndToEnd(t *testing.T) {
	js := jsCodec(t)
	frames := encodeJS(t, js,
		jsFrame{Wrap: "none", Packets: []jsPacket{{8, `{"code":0}`}}},
		jsFrame{Wrap: "zlib", Packets: []jsPacket{{5, openDM}, {5, openGift}}},
		jsFrame{Wrap: "brotli", Packets: []jsPacket{{5, openSC}}},
		jsFrame{Wrap: "none", Packets: []jsPacket{{3, "int32:1"}}},
	)
	ws := newStandIn(t, func(c *websocket.Conn) {
		for _, f := range frames[:3] {
			c.WriteMessage(websocket.BinaryMessage, f)
		}
		answer(c, frames[3], nil)
	})
	api := newOpenAPI(t, ws.url().String(), nil)
	o := api.options(testKeySecret)
	c, stop := platformtest.Run(t, platform.Room{Platform: platform.BilibiliOpen, ID: testCode}, OpenSession(o))
	c.Await(t, "two messages", func(m []chat.Message, _ []platform.Status) bool { return len(m) >= 2 })
	for deadline := time.Now().Add(30 * time.Second); count(api.Calls(), "heartbeat game-1") < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no three heartbeats: %q", api.Calls())
		}
	}
	stop()

	if got := c.Messages(); fmt.Sprint(got) != fmt.Sprint(wantOpenMessages) {
		t.Fatalf("messages\n got %+v\nwant %+v", got, wantOpenMessages)
	}
	calls := api.Calls()
	beats := count(calls, "heartbeat game-1")
	if calls[0] != "start" || calls[len(calls)-1] != "end game-1" || beats+2 != len(calls) {
		t.Fatalf("calls %q", calls)
	}
	// A ticker never fires early: no more heartbeats than periods since the start.
	api.mu.Lock()
	periods := int(time.Since(api.startedAt) / o.AppHeartbeat)
	open := api.open
	api.mu.Unlock()
	if beats > periods+1 || open != "" {
		t.Fatalf("%d heartbeats in %d periods; game left open %q", beats, periods, open)
	}
	ws.mu.Lock()
	auth := ws.sent[0]
	ws.mu.Unlock()
	d := decodeJS(t, js, auth)
	if len(d) != 1 || d[0].Op != OpAuth || d[0].Body != `{"roomid":21452505,"protoover":2,"key":"auth-game-1"}` {
		t.Fatalf("the auth as bilibili-live-ws reads it: %+v", d)
	}
	if st := c.Statuses(); len(st) != 1 || !st[0].Connected || st[0].Room.String() != "bilibili-open:****" {
		t.Fatalf("statuses %+v", st)
	}
}

// Failures and what the session does about them: a socket that closes restarts the game
// (the end Bilibili did not take is sent before the next start, which would otherwise be
// refused with 7002), a heartbeat Bilibili refuses ends the socket with its reason, and a
// game left open by someone else is said plainly. No reason holds a secret.
func TestOpenSessionRecovers(t *testing.T) {
	welcome := AppendPacket(nil, VerJSON, OpAuthReply, []byte(`{"code":0}`))
	beat := AppendPacket(nil, VerInt32, OpHeartbeatReply, []byte{0, 0, 0, 1})
	dm := AppendPacket(nil, VerJSON, OpMessage, []byte(openDM))
	ws := newStandIn(t,
		func(c *websocket.Conn) { // game 1: one message, then the socket closes
			c.WriteMessage(websocket.BinaryMessage, welcome)
			c.WriteMessage(websocket.BinaryMessage, dm)
		},
		func(c *websocket.Conn) { // game 2: heartbeats answered; the app's are refused
			c.WriteMessage(websocket.BinaryMessage, welcome)
			answer(c, beat, nil)
		},
	)
	api := newOpenAPI(t, ws.url().String(), nil)
	api.failEnds = 1 // game 1's end fails
	c, stop := platformtest.Run(t, platform.Room{Platform: platform.BilibiliOpen, ID: testCode}, OpenSession(api.options(testKeySecret)))
	c.Await(t, "a second connect", func(_ []chat.Message, st []platform.Status) bool { return c.Connects() >= 2 })
	// Game 2's heartbeats are answered 7003 once someone else ends it.
	api.mu.Lock()
	api.open = "someone else's"
	api.mu.Unlock()
	c.Await(t, "the heartbeat refused", func(_ []chat.Message, st []platform.Status) bool {
		for _, r := range c.Failures() {
			if strings.Contains(r, "heartbeat: code 7003") {
				return true
			}
		}
		return false
	})
	c.Await(t, "a start refused with 7002", func(_ []chat.Message, st []platform.Status) bool {
		for _, r := range c.Failures() {
			if strings.Contains(r, "start: code 7002, a game of this app is already open in the room") {
				return true
			}
		}
		return false
	})
	stop()
	calls := api.Calls()
	// Game 1: start, its failed end, then the end again before the next start.
	i := slices.Index(calls, "end game-1")
	if calls[0] != "start" || i < 0 || count(calls, "end game-1") != 2 || calls[i+1] != "end game-1" || calls[i+2] != "start" {
		t.Fatalf("calls %q", calls)
	}
	reasons := c.Failures()
	if !strings.Contains(reasons[0], "read:") {
		t.Fatalf("failures %q", reasons)
	}
	noSecrets(t, reasons...)
	noSecrets(t, calls...)
	if got := c.Messages(); len(got) != 1 || got[0].Text != "大家好" {
		t.Fatalf("messages %+v", got)
	}
}

// A heartbeat the API cannot be reached for is tolerated twice in a row; the third ends the
// session (Bilibili closes a game 60 s after its last heartbeat).
func TestOpenHeartbeatUnreachable(t *testing.T) {
	welcome := AppendPacket(nil, VerJSON, OpAuthReply, []byte(`{"code":0}`))
	beat := AppendPacket(nil, VerInt32, OpHeartbeatReply, []byte{0, 0, 0, 1})
	ws := newStandIn(t, func(c *websocket.Conn) {
		c.WriteMessage(websocket.BinaryMessage, welcome)
		answer(c, beat, nil)
	})
	var beats int
	var mu sync.Mutex
	api := newOpenAPI(t, ws.url().String(), func(inner http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/v2/app/heartbeat" {
				inner.ServeHTTP(w, r)
				return
			}
			mu.Lock()
			beats++
			mu.Unlock()
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close() // no answer at all
			}
		})
	})
	err := OpenSession(api.options(testKeySecret))(context.Background(), func() {}, func(chat.Message) {})
	mu.Lock()
	defer mu.Unlock()
	if err == nil || !strings.Contains(err.Error(), "bilibili-open: heartbeat:") || beats != 3 {
		t.Fatalf("err %v after %d heartbeats", err, beats)
	}
	if calls := api.Calls(); fmt.Sprint(calls) != "[start end game-1]" {
		t.Fatalf("calls %q", calls)
	}
	noSecrets(t, err.Error())
}

// The API's answers as the reader decodes them: errors name the call and the code's
// meaning, and leave out a message that repeats a secret.
func TestOpenDecode(t *testing.T) {
	o := OpenOptions{Code: testCode, AccessKey: testKeyID, AccessSecret: testKeySecret}
	for in, want := range map[string]string{
		`{"code":7007,"message":"身份码错误","request_id":"1","data":{}}`:           "bilibili-open: start: code 7007, the identity code is wrong",
		`{"code":9999,"message":"something new","request_id":"1"}`:             "bilibili-open: start: code 9999 (something new)",
		`{"code":9999,"message":"bad code ` + testCode + `","request_id":"1"}`: "bilibili-open: start: code 9999",
		`not json`:                            "the answer is not the API's JSON",
		`{"message":"no code"}`:               "the answer is not the API's JSON",
		`{"code":0,"data":{"game_info":"x"}}`: "the answer's data is not what the API documents",
	} {
		var s OpenStart
		err := o.decode("start", []byte(in), &s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
		if err != nil {
			noSecrets(t, err.Error())
		}
	}
	var s OpenStart
	if err := o.decode("start", []byte(`{"code":0,"message":"0","data":{"game_info":{"game_id":"g"},"websocket_info":{"auth_body":"{}","wss_link":["wss://a/sub"]},"anchor_info":{"room_id":5}}}`), &s); err != nil ||
		s.GameInfo.GameID != "g" || s.WebsocketInfo.WSSLink[0] != "wss://a/sub" || s.AnchorInfo.RoomID != 5 {
		t.Fatalf("%+v %v", s, err)
	}
}

func FuzzOpenAnswer(f *testing.F) {
	f.Add([]byte(`{"code":0,"message":"0","request_id":"r","data":{"game_info":{"game_id":"g"},"websocket_info":{"auth_body":"{}","wss_link":["wss://a/sub"]},"anchor_info":{"room_id":5,"uname":"u"}}}`))
	f.Add([]byte(`{"code":7002,"message":"房间重复游戏","request_id":"r","data":{}}`))
	f.Add([]byte(`{"code":0,"data":null}`))
	f.Add([]byte(openDM))
	f.Add([]byte(openSC))
	o := OpenOptions{Code: testCode, AccessKey: testKeyID, AccessSecret: testKeySecret}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s OpenStart
		if err := o.decode("start", b, &s); err != nil && strings.Contains(err.Error(), testCode) {
			t.Fatal("the identity code in an error")
		}
		if m, ok := Message(b); ok && (m.Source != "bilibili" || m.Text == "" || len(m.ID) > chat.MaxIDBytes) {
			t.Fatalf("message %+v", m)
		}
	})
}
