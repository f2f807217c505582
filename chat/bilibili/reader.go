package bilibili

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/chat/platform"
)

// Default endpoints: the danmaku WebSocket (when getDanmuInfo names none), the live API
// (room_init, getDanmuInfo) and the main API (nav, for the WBI keys).
const (
	DefaultWS      = "wss://broadcastlv.chat.bilibili.com/sub"
	DefaultLiveAPI = "https://api.live.bilibili.com"
	DefaultMainAPI = "https://api.bilibili.com"
)

// Options of a room's reader.
type Options struct {
	Room string // the room number, as in live.bilibili.com/ROOM (a short number is resolved)
	// WS is the danmaku WebSocket. Given without API, the reader connects to it at once
	// and authenticates without a key (a self-hosted or test server); nil: the host
	// getDanmuInfo names.
	WS *url.URL
	// API is the base of both Bilibili APIs the reader calls (room_init, nav,
	// getDanmuInfo); nil: DefaultLiveAPI and DefaultMainAPI.
	API *url.URL
	// Cookie is a logged-in browser cookie (SESSDATA=...; buvid3=...; DedeUserID=...).
	// Without one Bilibili masks user names. A secret: no error or log holds it.
	Cookie string
	// Heartbeat is the period of heartbeats; a server that has answered none for two and
	// a half periods is dead. 0 means 30 s.
	Heartbeat time.Duration
	// Timeout bounds each HTTP call, connecting and the authentication; 0 means 15 s.
	Timeout time.Duration
}

// Session is one connection to the room, for a platform.Supervisor.
func Session(o Options) platform.Session {
	if o.Heartbeat <= 0 {
		o.Heartbeat = 30 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	return o.session
}

// room is what the reader connects with.
type room struct {
	id   int64
	ws   string
	key  string
	uid  int64
	buvd string
}

const userAgent = "Mozilla/5.0 (X11; Linux x86_64) camnode"

func (o Options) session(ctx context.Context, up func(), deliver func(chat.Message)) error {
	r, err := o.resolve(ctx)
	if err != nil {
		return err
	}
	hdr := http.Header{"User-Agent": {userAgent}, "Origin": {"https://live.bilibili.com"}}
	if o.Cookie != "" {
		hdr.Set("Cookie", o.Cookie)
	}
	u, err := url.Parse(r.ws)
	if err != nil {
		return fmt.Errorf("bilibili: getDanmuInfo named no usable server")
	}
	auth, _ := json.Marshal(map[string]any{"uid": r.uid, "roomid": r.id, "protover": VerBrotli, "platform": "web",
		"type": 2, "buvid": r.buvd, "key": r.key})
	return readRoom(ctx, link{url: u, hdr: hdr, auth: auth, room: fmt.Sprintf("room %d", r.id),
		heartbeat: o.Heartbeat, timeout: o.Timeout}, up, deliver)
}

// link is how a session reaches a room's danmaku WebSocket: the web room's, or the one
// Bilibili's open-live API names (the same packets either way).
type link struct {
	url       *url.URL
	hdr       http.Header
	auth      []byte // the body of the OpAuth packet
	room      string // what the auth is for, in errors: "room 21452505"
	heartbeat time.Duration
	timeout   time.Duration
}

// readRoom connects to the danmaku WebSocket, authenticates, heartbeats and delivers the
// room's messages until the connection fails (its error) or ctx ends (nil).
func readRoom(ctx context.Context, l link, up func(), deliver func(chat.Message)) error {
	wsHost := l.url.Host
	conn, err := platform.DialWebSocket(ctx, l.url, l.hdr, l.timeout, MaxFrame)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("bilibili: %w", err)
	}
	defer conn.Close()
	send := func(op uint32, body []byte) error { return conn.WriteBinary(AppendPacket(nil, VerInt32, op, body)) }
	if err := send(OpAuth, l.auth); err != nil {
		return fmt.Errorf("bilibili: %s: send auth: %w", wsHost, err)
	}

	// Until the auth reply, then heartbeats: a server that answers none for 2.5 periods
	// is dead.
	deadline := time.Now().Add(l.timeout)
	authed := false
	var wg sync.WaitGroup
	defer wg.Wait()
	beatCtx, stopBeat := context.WithCancel(ctx)
	defer stopBeat()
	for {
		frame, err := conn.Read(deadline)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, platform.ErrReadTimeout) && !authed:
				return fmt.Errorf("bilibili: %s: no answer to auth within %v", wsHost, l.timeout)
			case errors.Is(err, platform.ErrReadTimeout):
				return fmt.Errorf("bilibili: %s: no heartbeat reply for %v", wsHost, l.heartbeat*5/2)
			}
			return fmt.Errorf("bilibili: %s: read: %w", wsHost, err)
		}
		packets, derr := Decode(frame)
		for _, p := range packets {
			switch p.Op {
			case OpAuthReply:
				var reply struct {
					Code int `json:"code"`
				}
				json.Unmarshal(p.Body, &reply)
				if reply.Code != 0 {
					return fmt.Errorf("bilibili: %s refused the auth for %s: code %d", wsHost, l.room, reply.Code)
				}
				if authed {
					continue
				}
				authed = true
				deadline = time.Now().Add(l.heartbeat * 5 / 2)
				up()
				platform.Heartbeat(beatCtx, &wg, l.heartbeat, true, func() error { return send(OpHeartbeat, nil) })
			case OpHeartbeatReply:
				if authed {
					deadline = time.Now().Add(l.heartbeat * 5 / 2)
				}
			case OpMessage:
				if m, ok := Message(p.Body); ok && authed {
					deliver(m)
				}
			}
		}
		_ = derr // a frame that does not decode is skipped: the next one may
	}
}

// resolve finds the room's id, server and key: from getDanmuInfo (WBI-signed), unless
// only a WebSocket endpoint is given.
func (o Options) resolve(ctx context.Context) (room, error) {
	id, _ := strconv.ParseInt(o.Room, 10, 64)
	r := room{id: id, uid: cookieInt(o.Cookie, "DedeUserID"), buvd: cookieValue(o.Cookie, "buvid3")}
	if o.WS != nil && o.API == nil {
		r.ws = o.WS.String()
		return r, nil
	}
	live, main := DefaultLiveAPI, DefaultMainAPI
	if o.API != nil {
		live, main = strings.TrimRight(o.API.String(), "/"), strings.TrimRight(o.API.String(), "/")
	}
	var init struct {
		RoomID int64 `json:"room_id"`
	}
	if err := o.get(ctx, live+"/room/v1/Room/room_init", url.Values{"id": {o.Room}}, &init); err != nil {
		return r, err
	}
	if init.RoomID > 0 {
		r.id = init.RoomID
	}
	var nav struct {
		WbiImg struct {
			ImgURL string `json:"img_url"`
			SubURL string `json:"sub_url"`
		} `json:"wbi_img"`
	}
	// nav answers code -101 (not logged in) with the WBI keys all the same.
	if err := o.get(ctx, main+"/x/web-interface/nav", nil, &nav); err != nil && !strings.Contains(err.Error(), "code -101") {
		return r, err
	}
	mixin := mixinKey(nav.WbiImg.ImgURL, nav.WbiImg.SubURL)
	if mixin == "" {
		return r, fmt.Errorf("bilibili: %s/x/web-interface/nav: no WBI keys in the answer", hostOf(main))
	}
	q := url.Values{"id": {strconv.FormatInt(r.id, 10)}, "type": {"0"}}
	signWBI(q, mixin, time.Now().Unix())
	var info struct {
		Token    string `json:"token"`
		HostList []struct {
			Host    string `json:"host"`
			WSSPort int    `json:"wss_port"`
		} `json:"host_list"`
	}
	if err := o.get(ctx, live+"/xlive/web-room/v1/index/getDanmuInfo", q, &info); err != nil {
		return r, err
	}
	r.key = info.Token
	switch {
	case o.WS != nil:
		r.ws = o.WS.String()
	case len(info.HostList) > 0 && info.HostList[0].Host != "":
		h := info.HostList[0]
		r.ws = "wss://" + net.JoinHostPort(h.Host, strconv.Itoa(h.WSSPort)) + "/sub"
	default:
		r.ws = DefaultWS
	}
	return r, nil
}

// get calls a Bilibili JSON API ({"code":0,"message":"","data":{...}}) and decodes its
// data into out. Errors name the host and path, never the cookie.
func (o Options) get(ctx context.Context, base string, q url.Values, out any) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	u := base
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	what := strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("bilibili: %s: %w", what, err)
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Referer", "https://live.bilibili.com/")
	if o.Cookie != "" {
		req.Header.Set("Cookie", o.Cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is said once, above
		}
		return fmt.Errorf("bilibili: %s: %w", what, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("bilibili: %s: %w", what, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bilibili: %s: HTTP %d", what, resp.StatusCode)
	}
	var env struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("bilibili: %s: not JSON", what)
	}
	if len(env.Data) > 0 {
		json.Unmarshal(env.Data, out)
	}
	if env.Code != 0 {
		return fmt.Errorf("bilibili: %s: code %d %s", what, env.Code, env.Message)
	}
	return nil
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return "?"
}

// cookieValue is the value of name in a Cookie header's value; "" when absent.
func cookieValue(cookie, name string) string {
	for _, kv := range strings.Split(cookie, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if k == name {
			return v
		}
	}
	return ""
}

func cookieInt(cookie, name string) int64 {
	n, _ := strconv.ParseInt(cookieValue(cookie, name), 10, 64)
	return n
}
