package bilibili

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/chat/platform"
)

// Bilibili's open-live API (开放平台, open-live.bilibili.com) is the second way into a room:
// an app registered there (app id, access key id and secret) starts a "game" in the room of
// the streamer whose identity code (身份码) it holds, keeps it alive with a heartbeat every
// 20 s (Bilibili closes it 60 s after the last), and ends it. The start names the danmaku
// WebSocket and the body of its auth packet; the socket then speaks the web room's packets,
// with the messages as LIVE_OPEN_PLATFORM_* commands and real user names, no cookie needed.

// DefaultOpenAPI is the base of the open-live API.
const DefaultOpenAPI = "https://live-open.biliapi.com"

// OpenOptions of a reader through the open-live API.
type OpenOptions struct {
	// Code is the streamer's identity code, from the live centre (直播中心 › 身份码).
	// A secret: no error or log holds it.
	Code string
	// AppID is the project's id on open-live.bilibili.com.
	AppID int64
	// AccessKey and AccessSecret sign every call (HMAC-SHA256). Secrets.
	AccessKey, AccessSecret string
	// API is the base of the open-live API; nil: DefaultOpenAPI.
	API *url.URL
	// Client makes the API calls; nil: http.DefaultClient.
	Client *http.Client
	// Heartbeat is the period of the WebSocket's heartbeats (as Options.Heartbeat); 0: 30 s.
	Heartbeat time.Duration
	// AppHeartbeat is the period of the game's heartbeats over HTTPS; 0: 20 s, as Bilibili
	// asks (it accepts 20 to 60 s).
	AppHeartbeat time.Duration
	// Timeout bounds each API call, connecting and the authentication; 0 means 15 s.
	Timeout time.Duration
}

// endTimeout bounds the end of a game: it runs as the node stops, which it should not hold up
// for long (a game not ended closes itself 60 s after its last heartbeat).
const endTimeout = 5 * time.Second

// missedAppBeats is how many heartbeats in a row may fail to reach Bilibili before the
// session gives up: at 20 s, the third is the 60 s after which Bilibili closes the game.
const missedAppBeats = 2

// OpenSession is one game in the streamer's room, for a platform.Supervisor. The session
// remembers across attempts a game it could not end, and ends it before the next start
// (Bilibili refuses a second game in a room with code 7002).
func OpenSession(o OpenOptions) platform.Session {
	if o.Heartbeat <= 0 {
		o.Heartbeat = 30 * time.Second
	}
	if o.AppHeartbeat <= 0 {
		o.AppHeartbeat = 20 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	s := &openSession{o: o}
	return s.run
}

// openSession is what OpenSession's attempts share; the supervisor runs one at a time.
type openSession struct {
	o        OpenOptions
	mu       sync.Mutex
	unended  string // a game whose end failed
	attempts int    // picks the WebSocket of the start's list, round robin
}

// OpenStart is the data of a successful /v2/app/start.
type OpenStart struct {
	GameInfo struct {
		GameID string `json:"game_id"`
	} `json:"game_info"`
	WebsocketInfo struct {
		AuthBody string   `json:"auth_body"` // the body of the auth packet, as given
		WSSLink  []string `json:"wss_link"`
	} `json:"websocket_info"`
	AnchorInfo struct {
		RoomID int64  `json:"room_id"`
		Uname  string `json:"uname"`
	} `json:"anchor_info"`
}

func (s *openSession) run(ctx context.Context, up func(), deliver func(chat.Message)) error {
	o := s.o
	s.mu.Lock()
	stale := s.unended
	s.unended = ""
	attempt := s.attempts
	s.attempts++
	s.mu.Unlock()
	if stale != "" {
		o.end(ctx, stale) // whatever it answers, the game is gone or will time out
	}

	var start OpenStart
	err := o.call(ctx, "start", map[string]any{"code": o.Code, "app_id": o.AppID}, &start)
	var ae *OpenError
	if errors.As(err, &ae) && ae.Code == 7002 && stale != "" {
		// The game just ended may still be closing: once more.
		err = o.call(ctx, "start", map[string]any{"code": o.Code, "app_id": o.AppID}, &start)
	}
	if err != nil {
		return err
	}
	links := slices.DeleteFunc(start.WebsocketInfo.WSSLink, func(l string) bool {
		u, err := url.Parse(l)
		return err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == ""
	})
	game := start.GameInfo.GameID
	if game != "" {
		defer s.endOnStop(ctx, game)
	}
	if len(links) == 0 || start.WebsocketInfo.AuthBody == "" {
		return errors.New("bilibili-open: start: the answer names no WebSocket (wss_link) or no auth_body")
	}
	u, _ := url.Parse(links[attempt%len(links)])

	// The game's heartbeat runs beside the socket; a heartbeat Bilibili refuses, or
	// missedAppBeats+1 in a row that do not reach it, end the socket with that reason.
	readCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var wg sync.WaitGroup
	if game != "" {
		missed := 0
		platform.Heartbeat(readCtx, &wg, o.AppHeartbeat, false, func() error {
			err := o.call(readCtx, "heartbeat", map[string]any{"game_id": game}, nil)
			var ae *OpenError
			switch {
			case err == nil:
				missed = 0
				return nil
			case readCtx.Err() != nil:
				return err
			case !errors.As(err, &ae) && missed < missedAppBeats:
				missed++
				return nil
			}
			stop(err)
			return err
		})
	}
	room := "the identity code's room"
	if start.AnchorInfo.RoomID > 0 {
		room = fmt.Sprintf("room %d", start.AnchorInfo.RoomID)
	}
	err = readRoom(readCtx, link{url: u, hdr: http.Header{"User-Agent": {userAgent}}, auth: []byte(start.WebsocketInfo.AuthBody),
		room: room, heartbeat: o.Heartbeat, timeout: o.Timeout}, up, deliver)
	stop(nil)
	wg.Wait()
	if cause := context.Cause(readCtx); err == nil && ctx.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// endOnStop ends the game when the session returns, whether ctx has ended or not (on a
// context of its own, within endTimeout); a game it cannot end is ended before the next start.
func (s *openSession) endOnStop(ctx context.Context, game string) {
	if err := s.o.end(ctx, game); err != nil {
		var ae *OpenError
		if errors.As(err, &ae) && (ae.Code == 7000 || ae.Code == 7003) {
			return // the game is over already
		}
		s.mu.Lock()
		s.unended = game
		s.mu.Unlock()
	}
}

func (o OpenOptions) end(ctx context.Context, game string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(o.Timeout, endTimeout))
	defer cancel()
	return o.call(ctx, "end", map[string]any{"app_id": o.AppID, "game_id": game}, nil)
}

// OpenError is the open-live API's refusal: its code, and what it means for the user.
type OpenError struct {
	Call    string // start, heartbeat or end
	Code    int
	Message string // Bilibili's message, unless it could hold a secret
}

func (e *OpenError) Error() string {
	s := fmt.Sprintf("bilibili-open: %s: code %d", e.Call, e.Code)
	if why := openReasons[e.Code]; why != "" {
		s += ", " + why
	}
	if e.Message != "" {
		s += " (" + e.Message + ")"
	}
	return s
}

// openReasons say what the open-live API's codes (its documentation's table) ask of the user.
var openReasons = map[int]string{
	4000: "a parameter was refused",
	4001: "the app is unknown: check CAMNODE_BILIBILI_ACCESS_KEY",
	4002: "the signature was refused: check CAMNODE_BILIBILI_ACCESS_SECRET",
	4003: "the request expired: check this machine's clock",
	4004: "a repeated request (nonce)",
	4007: "this machine's address is not on the app's IP allowlist",
	4008: "the app may not call this API",
	4009: "the app calls this API too often or may not",
	5000: "Bilibili's service failed",
	5001: "Bilibili's service timed out",
	7000: "no game is running in the room",
	7001: "the last game is still being settled: Bilibili asks to wait 10 s",
	7002: "a game of this app is already open in the room (an earlier one not ended: Bilibili closes it 60 s after its last heartbeat)",
	7003: "the game's heartbeat expired: the game was closed",
	7007: "the identity code is wrong: use the streamer's 身份码 from the live centre in CAMNODE_CHAT_FROM bilibili-open:CODE",
	8002: "the app has no access to this project: check CAMNODE_BILIBILI_APP_ID",
}

// call POSTs body, signed, to /v2/app/<name> and decodes the answer's data into out. Errors
// name the call, never the identity code or a key.
func (o OpenOptions) call(ctx context.Context, name string, body any, out any) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	base := DefaultOpenAPI
	if o.API != nil {
		base = strings.TrimRight(o.API.String(), "/")
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v2/app/"+name, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("bilibili-open: %s: %w", name, err)
	}
	req.Header = SignOpen(b, o.AccessKey, o.AccessSecret, time.Now(), strconv.FormatUint(rand.Uint64(), 10))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := o.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL holds no secret, but is said below
		}
		return fmt.Errorf("bilibili-open: %s: %s: %w", name, hostOf(base), err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("bilibili-open: %s: %w", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bilibili-open: %s: HTTP %d", name, resp.StatusCode)
	}
	return o.decode(name, raw, out)
}

// decode reads an answer of the open-live API, {"code":0,"message":"0","request_id":"...",
// "data":{...}}, into out.
func (o OpenOptions) decode(name string, raw []byte, out any) error {
	var env struct {
		Code    *int            `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if json.Unmarshal(raw, &env) != nil || env.Code == nil {
		return fmt.Errorf("bilibili-open: %s: the answer is not the API's JSON", name)
	}
	if *env.Code != 0 {
		e := &OpenError{Call: name, Code: *env.Code}
		if openReasons[e.Code] == "" && !o.mayHoldSecret(env.Message) {
			e.Message = clipText(env.Message, 80)
		}
		return e
	}
	if out != nil && json.Unmarshal(env.Data, out) != nil {
		return fmt.Errorf("bilibili-open: %s: the answer's data is not what the API documents", name)
	}
	return nil
}

// mayHoldSecret is whether Bilibili's free-text message repeats the identity code or a key;
// such a message is left out of the error rather than edited.
func (o OpenOptions) mayHoldSecret(msg string) bool {
	for _, s := range []string{o.Code, o.AccessKey, o.AccessSecret} {
		if s != "" && strings.Contains(strings.ToLower(msg), strings.ToLower(s)) {
			return true
		}
	}
	return false
}

func clipText(s string, n int) string {
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// SignOpen returns the headers that sign a call of the open-live API with body: the six
// x-bili-* headers, and Authorization, the lowercase hex HMAC-SHA256, keyed with the access
// key secret, of those headers sorted by name and written "name:value", one a line (no final
// line break). The header names are kept lowercase, as the string signed has them.
func SignOpen(body []byte, accessKey, secret string, now time.Time, nonce string) http.Header {
	sum := md5.Sum(body)
	h := http.Header{
		"x-bili-accesskeyid":       {accessKey},
		"x-bili-content-md5":       {hex.EncodeToString(sum[:])},
		"x-bili-signature-method":  {"HMAC-SHA256"},
		"x-bili-signature-nonce":   {nonce},
		"x-bili-signature-version": {"1.0"},
		"x-bili-timestamp":         {strconv.FormatInt(now.Unix(), 10)},
	}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	lines := make([]string, len(names))
	for i, k := range names {
		lines[i] = k + ":" + h[k][0]
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strings.Join(lines, "\n")))
	h["Authorization"] = []string{hex.EncodeToString(mac.Sum(nil))}
	return h
}
