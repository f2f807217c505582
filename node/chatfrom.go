package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/chat/bilibili"
	"github.com/camnode/camnode/chat/douyu"
	"github.com/camnode/camnode/chat/platform"
	"github.com/camnode/camnode/chat/twitch"
	"github.com/camnode/camnode/chat/youtube"
)

// The readers of CAMNODE_CHAT_FROM: each reads one room's live chat under a
// platform.Supervisor (reconnecting with the node's backoff) and hands every message to the
// same intake as MQTT chat, whether or not the stream is on. Their state is in <base>/state
// ("chat_sources"), their message counts in telemetry, their connects and failures are
// events.

// chatSource is one reader and what the node reports of it.
type chatSource struct {
	room     platform.Room
	reader   platform.Reader
	note     string        // what the user should know of this room (Bilibili's name masking)
	messages atomic.Uint64 // delivered by the reader
}

// chatSourceStatus is one reader in the state payload.
type chatSourceStatus struct {
	Source    string `json:"source"` // "twitch:garden"
	Connected bool   `json:"connected"`
	Error     string `json:"error,omitempty"` // why it is not connected
	Since     string `json:"since"`
	Note      string `json:"note,omitempty"`
}

// chatSourceTelemetry is one reader in the telemetry payload.
type chatSourceTelemetry struct {
	Source    string `json:"source"`
	Connected bool   `json:"connected"`
	Messages  uint64 `json:"messages"`
}

// chatSessions makes a room's session, one line per platform.
var chatSessions = map[string]func(n *Node, r platform.Room) platform.Session{
	platform.Bilibili: func(n *Node, r platform.Room) platform.Session {
		ep := n.cfg.ChatEndpoints
		return bilibili.Session(bilibili.Options{Room: r.ID, WS: ep["bilibili"], API: ep["bilibili_api"], Cookie: n.cfg.BilibiliCookie})
	},
	platform.BilibiliOpen: func(n *Node, r platform.Room) platform.Session {
		return bilibili.OpenSession(bilibili.OpenOptions{Code: r.ID, AppID: n.cfg.BilibiliAppID, AccessKey: n.cfg.BilibiliAccessKey,
			AccessSecret: n.cfg.BilibiliAccessSecret, API: n.cfg.ChatEndpoints["bilibili_open"]})
	},
	platform.Douyu: func(n *Node, r platform.Room) platform.Session {
		return douyu.Session(douyu.Options{Room: r.ID, Endpoint: n.cfg.ChatEndpoints["douyu"]})
	},
	platform.Twitch: func(n *Node, r platform.Room) platform.Session {
		return twitch.Session(twitch.Options{Channel: r.ID, Endpoint: n.cfg.ChatEndpoints["twitch"], Token: n.cfg.TwitchOAuthToken})
	},
	platform.YouTube: func(n *Node, r platform.Room) platform.Session {
		return youtube.Session(youtube.Options{VideoID: r.ID, APIKey: n.cfg.YouTubeAPIKey, Base: n.cfg.ChatEndpoints["youtube"]})
	},
}

// setupChatSources makes the readers of CAMNODE_CHAT_FROM (started by runChatSources) and
// has every message the intake takes published on <base>/chat/in.
func (n *Node) setupChatSources() {
	n.chat.taken = func(m *chat.Message) {
		// A flood of chat must not crowd the events and the state out of the queue
		// they share: chat/in gives way when it is half full.
		n.session.PublishIfRoom(n.topics.ChatIn, m.AppendJSON(nil))
	}
	now := stamp(time.Now())
	for _, r := range n.cfg.ChatFrom {
		mk := chatSessions[r.Platform] // every platform chat/platform accepts has one
		src := &chatSource{room: r}
		if r.Platform == platform.Bilibili && n.cfg.BilibiliCookie == "" {
			src.note = "no CAMNODE_BILIBILI_COOKIE: Bilibili masks user names"
		}
		i := len(n.chatSources)
		src.reader = &platform.Supervisor{Room: r, Session: mk(n, r), Min: n.cfg.ReconnectMin, Max: n.cfg.ReconnectMax,
			OnStatus: func(st platform.Status) { n.onChatSourceStatus(i, st) }}
		n.chatSources = append(n.chatSources, src)
		n.status.ChatSources = append(n.status.ChatSources, chatSourceStatus{Source: r.String(), Since: now, Note: src.note,
			Error: "connecting"})
	}
	for _, src := range n.chatSources {
		n.device.ChatSources = append(n.device.ChatSources, src.room.String())
	}
}

// runChatSources runs every reader until ctx ends, each on a goroutine wg joins.
func (n *Node) runChatSources(ctx context.Context, wg *sync.WaitGroup) {
	for _, src := range n.chatSources {
		label := src.room.String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			src.reader.Run(ctx, func(m chat.Message) {
				src.messages.Add(1)
				// A platform's long display name is cut rather than the message rejected.
				if r := []rune(m.User); len(r) > chat.MaxUserRunes {
					m.User = string(r[:chat.MaxUserRunes])
				}
				n.chat.enqueue(label, m.AppendJSON(nil))
			})
		}()
	}
}

// onChatSourceStatus records a reader's connect or failure in the state and says it as
// an event. It runs on the reader's goroutine.
func (n *Node) onChatSourceStatus(i int, st platform.Status) {
	name := st.Room.String()
	reason := ""
	if st.Err != nil {
		reason = n.clean(st.Err)
		if st.Retry > 0 {
			reason += fmt.Sprintf("; retrying in %v", st.Retry.Round(time.Millisecond))
		}
	}
	n.mu.Lock()
	cs := &n.status.ChatSources[i]
	if cs.Connected != st.Connected || cs.Error != reason {
		cs.Since = stamp(time.Now())
	}
	cs.Connected, cs.Error = st.Connected, reason
	n.mu.Unlock()
	n.publishState()
	if st.Connected {
		n.event(EventChatSourceConnected, name)
		return
	}
	n.event(EventChatSourceFailed, name+": "+reason)
}

// chatSourceTelemetry is the telemetry of every reader.
func (n *Node) chatSourceTelemetry() []chatSourceTelemetry {
	if len(n.chatSources) == 0 {
		return nil
	}
	out := make([]chatSourceTelemetry, len(n.chatSources))
	n.mu.Lock()
	for i, src := range n.chatSources {
		out[i] = chatSourceTelemetry{Source: src.room.String(), Connected: n.status.ChatSources[i].Connected, Messages: src.messages.Load()}
	}
	n.mu.Unlock()
	return out
}
