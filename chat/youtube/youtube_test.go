package youtube

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/chat"
)

// Pages in the shape of the Data API's liveChatMessages resource (developers.google.com/
// youtube/v3/live/docs/liveChatMessages), with made-up values.
const (
	backlog = `{"kind":"youtube#liveChatMessageListResponse","etag":"e0","nextPageToken":"p1","pollingIntervalMillis":10,
 "pageInfo":{"totalResults":1,"resultsPerPage":1},
 "items":[{"kind":"youtube#liveChatMessage","id":"old-1","snippet":{"type":"textMessageEvent","liveChatId":"chat-1","authorChannelId":"UC1","publishedAt":"2024-11-24T12:00:00.000Z","hasDisplayContent":true,"displayMessage":"said before the node came","textMessageDetails":{"messageText":"said before the node came"}},"authorDetails":{"channelId":"UC1","displayName":"Early Bird"}}]}`
	page1 = `{"kind":"youtube#liveChatMessageListResponse","nextPageToken":"p2","pollingIntervalMillis":10,
 "items":[
  {"id":"m-1","snippet":{"type":"textMessageEvent","publishedAt":"2024-11-24T12:00:01.5+00:00","displayMessage":"hello youtube","textMessageDetails":{"messageText":"hello youtube"}},"authorDetails":{"displayName":"Alice"}},
  {"id":"m-2","snippet":{"type":"newSponsorEvent","publishedAt":"2024-11-24T12:00:02Z","displayMessage":"Bob is a new member"},"authorDetails":{"displayName":"Bob"}},
  {"id":"m-3","snippet":{"type":"superChatEvent","publishedAt":"2024-11-24T12:00:03Z","displayMessage":"$5.00 from Carol: keep going","superChatDetails":{"amountMicros":"5000000","currency":"USD","amountDisplayString":"$5.00","userComment":"keep going","tier":2}},"authorDetails":{"displayName":"Carol"}}]}`
	page2 = `{"nextPageToken":"p3","pollingIntervalMillis":10,"offlineAt":"2024-11-24T13:00:00Z","items":[
  {"id":"m-4","snippet":{"type":"textMessageEvent","publishedAt":"2024-11-24T12:59:59Z","displayMessage":"bye"},"authorDetails":{"displayName":"Dave"}}]}`
)

func TestParseList(t *testing.T) {
	_, msgs, err := ParseList([]byte(page1))
	want := []chat.Message{
		{Text: "hello youtube", User: "Alice", Color: chat.DefaultColor, ID: "m-1", Source: "youtube", TS: 1732449601500},
		{Text: "$5.00 keep going", User: "Carol", Color: superChatColor, Mode: chat.ModeTop, ID: "m-3", Source: "youtube", TS: 1732449603000},
	}
	if err != nil || fmt.Sprint(msgs) != fmt.Sprint(want) {
		t.Fatalf("got %+v %v\nwant %+v", msgs, err, want)
	}
}

// The reader against a stand-in Data API: the video's activeLiveChatId, the backlog page
// skipped, the pages followed by pageToken, the key sent and never shown; the chat going
// offline ends the session with the reason, and a quota error is reported by its reason.
func TestReaderAgainstStandIn(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	quota := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		calls = append(calls, r.URL.Path+" "+q.Get("pageToken"))
		over := quota
		mu.Unlock()
		if q.Get("key") != "AIza-key-s3cr3t" {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":{"code":400,"message":"API key not valid.","errors":[{"reason":"keyInvalid"}]}}`)
			return
		}
		if over {
			w.WriteHeader(403)
			fmt.Fprint(w, `{"error":{"code":403,"message":"quota","errors":[{"domain":"youtube.quota","reason":"quotaExceeded"}]}}`)
			return
		}
		switch {
		case r.URL.Path == "/youtube/v3/videos" && q.Get("id") == "dQw4w9WgXcQ" && q.Get("part") == "liveStreamingDetails":
			fmt.Fprint(w, `{"items":[{"id":"dQw4w9WgXcQ","liveStreamingDetails":{"actualStartTime":"2024-11-24T11:00:00Z","activeLiveChatId":"chat-1"}}]}`)
		case r.URL.Path == "/youtube/v3/liveChat/messages" && q.Get("liveChatId") == "chat-1":
			fmt.Fprint(w, map[string]string{"": backlog, "p1": page1, "p2": page2}[q.Get("pageToken")])
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	base, _ := url.Parse(srv.URL + "/youtube/v3")
	s := Session(Options{VideoID: "dQw4w9WgXcQ", APIKey: "AIza-key-s3cr3t", Base: base, MinInterval: time.Millisecond})
	var got []string
	ups := 0
	err := s(context.Background(), func() { ups++ }, func(m chat.Message) { got = append(got, m.User+": "+m.Text) })
	if err == nil || !strings.Contains(err.Error(), "ended at 2024-11-24T13:00:00Z") {
		t.Fatalf("err %v", err)
	}
	if ups != 1 || strings.Join(got, "|") != "Alice: hello youtube|Carol: $5.00 keep going|Dave: bye" {
		t.Fatalf("up %d, messages %q", ups, got)
	}
	mu.Lock()
	if strings.Join(calls, ",") != "/youtube/v3/videos ,/youtube/v3/liveChat/messages ,/youtube/v3/liveChat/messages p1,/youtube/v3/liveChat/messages p2" {
		t.Fatalf("calls %q", calls)
	}
	quota = true
	mu.Unlock()
	err = s(context.Background(), func() {}, func(chat.Message) {})
	if err == nil || err.Error() != "youtube: videos: HTTP 403 quotaExceeded" {
		t.Fatalf("err %v", err)
	}
	err = Session(Options{VideoID: "x", APIKey: "AIza-other-s3cr3t", Base: &url.URL{Scheme: "http", Host: "127.0.0.1:1", Path: "/v3"}})(context.Background(), func() {}, func(chat.Message) {})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("a failed connection: %v", err)
	}
}

func FuzzParseList(f *testing.F) {
	for _, s := range []string{backlog, page1, page2} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, msgs, err := ParseList(b)
		for _, m := range msgs {
			if err != nil || m.Text == "" || m.Source != "youtube" {
				t.Fatalf("%+v %v", m, err)
			}
		}
	})
}
