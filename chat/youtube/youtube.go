// Package youtube reads a YouTube live stream's chat by polling the Data API v3
// (videos.list for the activeLiveChatId, then liveChatMessages.list at the interval the
// API asks for) with an API key, and maps its messages onto chat.Message.
package youtube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/chat/platform"
)

// DefaultBase is the Data API v3.
const DefaultBase = "https://www.googleapis.com/youtube/v3"

// Options of a video's reader.
type Options struct {
	VideoID string
	APIKey  string   // a secret: no error or log holds it
	Base    *url.URL // nil: DefaultBase
	// MinInterval is the shortest wait between two polls whatever pollingIntervalMillis
	// says; 0 means 5 s (each poll costs quota: see docs/chat-from-platforms.md).
	MinInterval time.Duration
	// Timeout bounds each call; 0 means 15 s.
	Timeout time.Duration
}

// MaxResponse bounds one answer of the API.
const MaxResponse = 4 << 20

// ListResponse is the part of a liveChatMessages.list answer the reader uses.
type ListResponse struct {
	NextPageToken         string     `json:"nextPageToken"`
	PollingIntervalMillis int64      `json:"pollingIntervalMillis"`
	OfflineAt             string     `json:"offlineAt"`
	Items                 []chatItem `json:"items"`
}

type chatItem struct {
	ID      string `json:"id"`
	Snippet struct {
		Type             string `json:"type"` // textMessageEvent, superChatEvent, superStickerEvent, ...
		DisplayMessage   string `json:"displayMessage"`
		PublishedAt      string `json:"publishedAt"`
		SuperChatDetails *struct {
			AmountDisplayString string `json:"amountDisplayString"`
			UserComment         string `json:"userComment"`
		} `json:"superChatDetails"`
	} `json:"snippet"`
	AuthorDetails struct {
		DisplayName string `json:"displayName"`
	} `json:"authorDetails"`
}

// superChatColor is the colour of a Super Chat, shown fixed at the top.
const superChatColor chat.Color = 0xffca28

// ParseList reads a liveChatMessages.list answer and maps its chat onto chat messages:
// text messages as they are, Super Chats (amount and comment) fixed at the top in gold;
// other events (memberships, deletions, bans) are not chat.
func ParseList(b []byte) (ListResponse, []chat.Message, error) {
	var r ListResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return r, nil, errors.New("youtube: liveChatMessages.list: not the JSON expected")
	}
	var out []chat.Message
	for _, it := range r.Items {
		m := chat.Message{User: it.AuthorDetails.DisplayName, Color: chat.DefaultColor, ID: it.ID, Source: platform.YouTube}
		switch it.Snippet.Type {
		case "textMessageEvent":
			m.Text = it.Snippet.DisplayMessage
		case "superChatEvent":
			m.Text, m.Mode, m.Color = it.Snippet.DisplayMessage, chat.ModeTop, superChatColor
			if d := it.Snippet.SuperChatDetails; d != nil {
				m.Text = strings.TrimSpace(d.AmountDisplayString + " " + d.UserComment)
			}
		default:
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, it.Snippet.PublishedAt); err == nil && t.UnixMilli() > 0 {
			m.TS = t.UnixMilli()
		}
		if len(m.ID) > chat.MaxIDBytes {
			m.ID = m.ID[:chat.MaxIDBytes]
		}
		if m.Text != "" {
			out = append(out, m)
		}
	}
	return r, out, nil
}

// Session is one run of polling, for a platform.Supervisor: it finds the live chat, skips
// the backlog the first page holds (what was said before the node came), and delivers
// what follows until an error or ctx ends.
func Session(o Options) platform.Session {
	base := DefaultBase
	if o.Base != nil {
		base = strings.TrimRight(o.Base.String(), "/")
	}
	if o.MinInterval <= 0 {
		o.MinInterval = 5 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	return func(ctx context.Context, up func(), deliver func(chat.Message)) error {
		err := o.session(ctx, base, up, deliver)
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
}

func (o Options) session(ctx context.Context, base string, up func(), deliver func(chat.Message)) error {
	b, err := o.get(ctx, base, "videos", url.Values{"part": {"liveStreamingDetails"}, "id": {o.VideoID}})
	if err != nil {
		return err
	}
	var v struct {
		Items []struct {
			LiveStreamingDetails struct {
				ActiveLiveChatID string `json:"activeLiveChatId"`
			} `json:"liveStreamingDetails"`
		} `json:"items"`
	}
	if json.Unmarshal(b, &v) != nil {
		return errors.New("youtube: videos.list: not the JSON expected")
	}
	if len(v.Items) == 0 {
		return fmt.Errorf("youtube: no video %q", o.VideoID)
	}
	chatID := v.Items[0].LiveStreamingDetails.ActiveLiveChatID
	if chatID == "" {
		return fmt.Errorf("youtube: video %s has no active live chat (not live, or chat off)", o.VideoID)
	}
	page, first := "", true
	for {
		q := url.Values{"liveChatId": {chatID}, "part": {"snippet,authorDetails"}, "maxResults": {"2000"}}
		if page != "" {
			q.Set("pageToken", page)
		}
		b, err := o.get(ctx, base, "liveChat/messages", q)
		if err != nil {
			return err
		}
		r, msgs, err := ParseList(b)
		if err != nil {
			return err
		}
		if first {
			up()
		} else {
			for _, m := range msgs {
				deliver(m)
			}
		}
		first = false
		if r.OfflineAt != "" {
			return fmt.Errorf("youtube: the live chat of %s ended at %s", o.VideoID, r.OfflineAt)
		}
		page = r.NextPageToken
		wait := max(time.Duration(r.PollingIntervalMillis)*time.Millisecond, o.MinInterval)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// get calls one API method. Errors name the method and the API's reason (quotaExceeded,
// liveChatEnded, keyInvalid...), never the key.
func (o Options) get(ctx context.Context, base, method string, q url.Values) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	q.Set("key", o.APIKey)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/"+method+"?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("youtube: %s: bad request", method)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its URL holds the key
		}
		return nil, fmt.Errorf("youtube: %s: %w", method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse))
	if err != nil {
		return nil, fmt.Errorf("youtube: %s: %w", method, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct {
				Message string `json:"message"`
				Errors  []struct {
					Reason string `json:"reason"`
				} `json:"errors"`
			} `json:"error"`
		}
		json.Unmarshal(b, &e)
		reason := http.StatusText(resp.StatusCode)
		if len(e.Error.Errors) > 0 && e.Error.Errors[0].Reason != "" {
			reason = e.Error.Errors[0].Reason
		}
		return nil, fmt.Errorf("youtube: %s: HTTP %d %s", method, resp.StatusCode, strings.ReplaceAll(reason, o.APIKey, "****"))
	}
	return b, nil
}
