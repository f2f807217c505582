// Package platform is what the live-chat readers of chat/twitch, chat/bilibili, chat/douyu
// and chat/youtube share: the Reader interface, the rooms of CAMNODE_CHAT_FROM and the
// endpoints of CAMNODE_CHAT_ENDPOINTS (parsed here and nowhere else), and the Supervisor
// that keeps one connection up with capped, jittered backoff.
package platform

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/camnode/camnode/chat"
)

// Reader reads the live chat of one room and hands every message to deliver, until ctx
// ends. It returns only when every goroutine it started has ended.
type Reader interface {
	Run(ctx context.Context, deliver func(chat.Message)) error
}

// The platforms a room may name. BilibiliOpen is Bilibili through its open-live API, the
// room named by the streamer's identity code (身份码).
const (
	Bilibili     = "bilibili"
	BilibiliOpen = "bilibili-open"
	Twitch       = "twitch"
	YouTube      = "youtube"
	Douyu        = "douyu"
)

// Platforms is every platform, in the order the help text names them.
var Platforms = []string{Bilibili, BilibiliOpen, Twitch, YouTube, Douyu}

// Room is one entry of CAMNODE_CHAT_FROM: a platform and the room, channel or video on it.
type Room struct {
	Platform string // one of Platforms
	// ID is the room number (bilibili, douyu), channel (twitch), video id (youtube) or the
	// streamer's identity code (bilibili-open: a secret, which String hides).
	ID string
}

// String is the entry as written, "twitch:somechannel", with a bilibili-open identity code
// hidden: "bilibili-open:****". It is the room's name in state, events and errors.
func (r Room) String() string {
	if r.Platform == BilibiliOpen {
		return r.Platform + ":****"
	}
	return r.Platform + ":" + r.ID
}

// Secret is the secret the entry holds (a bilibili-open identity code), or "".
func (r Room) Secret() string {
	if r.Platform == BilibiliOpen {
		return r.ID
	}
	return ""
}

// Rooms is the value of CAMNODE_CHAT_FROM.
type Rooms []Room

// MaxRooms bounds CAMNODE_CHAT_FROM: each room is a connection of the node.
const MaxRooms = 8

// Decode implements envconfig.Decoder: whitespace-separated platform:room entries.
func (rs *Rooms) Decode(s string) error {
	out, err := ParseRooms(s)
	if err != nil {
		return err
	}
	*rs = out
	return nil
}

// ParseRooms reads whitespace-separated bilibili:ROOM, bilibili-open:IDENTITY_CODE,
// twitch:CHANNEL, youtube:VIDEO_ID and douyu:ROOM entries. A room named twice is read once.
// Errors quote the entry up to its colon only, so that no identity code is repeated.
func ParseRooms(s string) (Rooms, error) {
	var out Rooms
	for _, f := range strings.Fields(s) {
		p, id, ok := strings.Cut(f, ":")
		p = strings.ToLower(p)
		if !ok || !slices.Contains(Platforms, p) {
			return nil, fmt.Errorf("%q: use bilibili:ROOM, bilibili-open:IDENTITY_CODE, twitch:CHANNEL, youtube:VIDEO_ID or douyu:ROOM", clip(p)+":…")
		}
		if why := checkRoom(p, id); why != "" {
			return nil, fmt.Errorf("%q: %s", Room{Platform: p, ID: clip(id)}.String(), why)
		}
		if p == Twitch {
			id = strings.ToLower(strings.TrimPrefix(id, "#"))
		}
		r := Room{Platform: p, ID: id}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(out) > MaxRooms {
		return nil, fmt.Errorf("%d rooms: at most %d", len(out), MaxRooms)
	}
	return out, nil
}

func checkRoom(platform, id string) string {
	switch platform {
	case Bilibili, Douyu:
		if id == "" || len(id) > 12 || strings.Trim(id, "0123456789") != "" || strings.Trim(id, "0") == "" {
			return "the room is a number, e.g. " + platform + ":21452505"
		}
	case BilibiliOpen:
		// Bilibili's codes are 11 to 16 letters and digits today; a little slack either way.
		if len(id) < 8 || len(id) > 32 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			return "the identity code (身份码) is the streamer's 8 to 32 letters and digits from the live centre, not the room number"
		}
	case Twitch:
		id = strings.TrimPrefix(id, "#")
		if id == "" || len(id) > 25 || strings.Trim(strings.ToLower(id), "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			return "the channel is the streamer's login name (a-z, 0-9, _), e.g. twitch:somechannel"
		}
	case YouTube:
		if len(id) < 6 || len(id) > 20 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
			return "the video id is the v= part of the stream's watch URL, e.g. youtube:dQw4w9WgXcQ"
		}
	}
	return ""
}

// Endpoints is the value of CAMNODE_CHAT_ENDPOINTS: name=URL overrides of the addresses a
// reader calls, for self-hosted servers and tests. The names are EndpointNames.
type Endpoints map[string]*url.URL

// The endpoint names and what each accepts.
var endpointSchemes = map[string][]string{
	"twitch":        {"irc", "ircs", "ws", "wss"}, // the IRC server
	"bilibili":      {"ws", "wss"},                // the danmaku WebSocket
	"bilibili_api":  {"http", "https"},            // base of api.live.bilibili.com (getDanmuInfo)
	"bilibili_open": {"http", "https"},            // base of live-open.biliapi.com (/v2/app/start)
	"douyu":         {"ws", "wss"},                // the danmaku WebSocket
	"youtube":       {"http", "https"},            // base of the Data API v3
}

// EndpointNames are the names CAMNODE_CHAT_ENDPOINTS takes, sorted.
func EndpointNames() []string {
	var out []string
	for k := range endpointSchemes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Decode implements envconfig.Decoder.
func (e *Endpoints) Decode(s string) error {
	out, err := ParseEndpoints(s)
	if err != nil {
		return err
	}
	*e = out
	return nil
}

// ParseEndpoints reads whitespace-separated name=URL entries, e.g.
// "twitch=irc://127.0.0.1:6667 bilibili=ws://127.0.0.1:9000/sub".
func ParseEndpoints(s string) (Endpoints, error) {
	out := Endpoints{}
	for _, f := range strings.Fields(s) {
		name, raw, ok := strings.Cut(f, "=")
		schemes, known := endpointSchemes[strings.ToLower(name)]
		if !ok || !known {
			return nil, fmt.Errorf("%q: use name=URL with a name of %s", clip(f), strings.Join(EndpointNames(), ", "))
		}
		name = strings.ToLower(name)
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || !slices.Contains(schemes, strings.ToLower(u.Scheme)) {
			return nil, fmt.Errorf("%s=: want a URL with a host and a scheme of %s", name, strings.Join(schemes, ", "))
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s named twice", name)
		}
		u.Scheme = strings.ToLower(u.Scheme)
		out[name] = u
	}
	return out, nil
}

// String is the setting as it would be written back, with any user info hidden.
func (e Endpoints) String() string {
	var parts []string
	for _, k := range EndpointNames() {
		if u, ok := e[k]; ok {
			c := *u
			hidden := c.User != nil
			if hidden {
				c.User = url.User("userinfo")
			}
			c.RawQuery = ""
			s := c.String()
			if hidden {
				s = strings.Replace(s, "//userinfo@", "//****@", 1)
			}
			parts = append(parts, k+"="+s)
		}
	}
	return strings.Join(parts, " ")
}

func clip(s string) string {
	if len(s) > 40 {
		return strings.ToValidUTF8(s[:40], "") + "…"
	}
	return s
}
