package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// A bad CAMNODE_CHAT_FROM or CAMNODE_CHAT_ENDPOINTS entry, and a youtube: room without
// its key, are an *Error naming the variable and what it takes.
func TestChatFromSettings(t *testing.T) {
	for _, tc := range []struct{ env, val, wantVar, wantMsg string }{
		{"CAMNODE_CHAT_FROM", "twitch:garden facebook:x", "CAMNODE_CHAT_FROM", "use bilibili:ROOM, bilibili-open:IDENTITY_CODE, twitch:CHANNEL"},
		{"CAMNODE_CHAT_FROM", "bilibili:abc", "CAMNODE_CHAT_FROM", "the room is a number"},
		{"CAMNODE_CHAT_FROM", "twitch:bad-name!", "CAMNODE_CHAT_FROM", "login name"},
		{"CAMNODE_CHAT_FROM", "youtube:dQw4w9WgXcQ", "CAMNODE_YOUTUBE_API_KEY", "needs a YouTube Data API key"},
		{"CAMNODE_CHAT_ENDPOINTS", "twitch=http://127.0.0.1:1", "CAMNODE_CHAT_ENDPOINTS", "irc, ircs, ws, wss"},
		{"CAMNODE_CHAT_ENDPOINTS", "kick=ws://127.0.0.1:1", "CAMNODE_CHAT_ENDPOINTS", "bilibili, bilibili_api, bilibili_open, douyu, twitch, youtube"},
		{"CAMNODE_CHAT_FROM", "bilibili-open:BQJ1D5NBMP5G0", "CAMNODE_BILIBILI_APP_ID", "bilibili-open:**** needs the app of open-live.bilibili.com"},
	} {
		t.Run(tc.env+"="+tc.val, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(tc.env, tc.val)
			_, err := Load()
			var ce *Error
			if !errors.As(err, &ce) || ce.Var != tc.wantVar || !strings.Contains(ce.Msg, tc.wantMsg) {
				t.Fatalf("got %v, want %s and %q", err, tc.wantVar, tc.wantMsg)
			}
		})
	}
	clearEnv(t)
	t.Setenv("CAMNODE_CHAT_FROM", "twitch:#Garden bilibili:21452505  douyu:9999 youtube:dQw4w9WgXcQ twitch:garden")
	t.Setenv("CAMNODE_CHAT_ENDPOINTS", "twitch=irc://127.0.0.1:6667 bilibili=ws://127.0.0.1:9000/sub")
	t.Setenv("CAMNODE_YOUTUBE_API_KEY", "AIzaSy-youtube-key-s3cr3t")
	t.Setenv("CAMNODE_TWITCH_OAUTH_TOKEN", "oauth:twitch-token-s3cr3t")
	t.Setenv("CAMNODE_BILIBILI_COOKIE", "SESSDATA=sess-s3cr3t; buvid3=buvid-s3cr3t")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	var rooms []string
	for _, r := range c.ChatFrom {
		rooms = append(rooms, r.String())
	}
	if strings.Join(rooms, " ") != "twitch:garden bilibili:21452505 douyu:9999 youtube:dQw4w9WgXcQ" {
		t.Fatalf("rooms %v", rooms)
	}
	if c.ChatEndpoints["twitch"].String() != "irc://127.0.0.1:6667" || c.ChatEndpoints["bilibili"].Path != "/sub" {
		t.Fatalf("endpoints %v", c.ChatEndpoints)
	}
	r := c.Redacted()
	shown := strings.Join([]string{r.TwitchOAuthToken, r.BilibiliCookie, r.YouTubeAPIKey}, " ")
	if strings.Contains(shown, "s3cr3t") || shown != "**** **** ****" {
		t.Fatalf("redacted: %q", shown)
	}
	secrets := strings.Join(c.Secrets(), "\n")
	for _, s := range []string{"twitch-token-s3cr3t", "sess-s3cr3t", "buvid-s3cr3t", "AIzaSy-youtube-key-s3cr3t"} {
		if !strings.Contains(secrets, s) {
			t.Errorf("Secrets lacks %s", s)
		}
	}
}

// A bilibili-open room needs the app's id, key and secret: the first one missing is an
// *Error naming it, which never repeats the identity code; set, the code, key and secret
// are secrets.
func TestBilibiliOpenSettings(t *testing.T) {
	const code = "BQJ1D5NBMP5G0"
	for _, tc := range []struct {
		kv      []string
		wantVar string
	}{
		{[]string{"CAMNODE_BILIBILI_APP_ID", "-1", "CAMNODE_BILIBILI_ACCESS_KEY", "k", "CAMNODE_BILIBILI_ACCESS_SECRET", "s"}, "CAMNODE_BILIBILI_APP_ID"},
		{[]string{"CAMNODE_BILIBILI_APP_ID", "1650000000000", "CAMNODE_BILIBILI_ACCESS_SECRET", "s"}, "CAMNODE_BILIBILI_ACCESS_KEY"},
		{[]string{"CAMNODE_BILIBILI_APP_ID", "1650000000000", "CAMNODE_BILIBILI_ACCESS_KEY", "k"}, "CAMNODE_BILIBILI_ACCESS_SECRET"},
	} {
		t.Run(tc.wantVar, func(t *testing.T) {
			_, err := loadWith(t, append([]string{"CAMNODE_CHAT_FROM", "bilibili-open:" + code}, tc.kv...)...)
			var ce *Error
			if !errors.As(err, &ce) || ce.Var != tc.wantVar || !strings.Contains(ce.Msg, "access_key_secret") || strings.Contains(err.Error(), code) {
				t.Fatalf("got %v, want %s", err, tc.wantVar)
			}
		})
	}
	_, err := loadWith(t, "CAMNODE_BILIBILI_APP_ID", "abc")
	var ce *Error
	if !errors.As(err, &ce) || ce.Var != "CAMNODE_BILIBILI_APP_ID" || !strings.Contains(ce.Msg, "not a number: use the project id") {
		t.Fatalf("a bad app id: %v", err)
	}
	_, err = loadWith(t, "CAMNODE_CHAT_FROM", "bilibili-open:"+code+" bilibili:abc")
	if !errors.As(err, &ce) || ce.Var != "CAMNODE_CHAT_FROM" || !strings.Contains(ce.Msg, `"bilibili:abc": the room is a number`) || strings.Contains(err.Error(), code) {
		t.Fatalf("a bad entry beside an identity code: %v", err)
	}
	c, err := loadWith(t, "CAMNODE_CHAT_FROM", "bilibili-open:"+code+" bilibili:21452505", "CAMNODE_BILIBILI_APP_ID", "1650000000000",
		"CAMNODE_BILIBILI_ACCESS_KEY", "key-id-s3cr3t", "CAMNODE_BILIBILI_ACCESS_SECRET", "key-secret-s3cr3t",
		"CAMNODE_CHAT_ENDPOINTS", "bilibili_open=http://127.0.0.1:9/")
	if err != nil {
		t.Fatal(err)
	}
	if c.BilibiliAppID != 1650000000000 || c.ChatFrom[0].ID != code || c.ChatEndpoints["bilibili_open"].Host != "127.0.0.1:9" {
		t.Fatalf("%+v", c)
	}
	r := c.Redacted()
	if r.BilibiliAccessKey != "****" || r.BilibiliAccessSecret != "****" || r.ChatFrom[0].ID != "****" || r.ChatFrom[1].ID != "21452505" ||
		c.ChatFrom[0].ID != code {
		t.Fatalf("redacted %q %q %q; the original's rooms %v", r.BilibiliAccessKey, r.BilibiliAccessSecret, r.ChatFrom, c.ChatFrom[0].ID)
	}
	if shown := fmt.Sprintf("%v %+v", c.ChatFrom, c.ChatFrom); strings.Contains(shown, code) {
		t.Fatalf("rooms printed: %s", shown)
	}
	secrets := c.Secrets()
	for _, s := range []string{code, "key-id-s3cr3t", "key-secret-s3cr3t"} {
		if !slices.Contains(secrets, s) {
			t.Errorf("Secrets lacks %s", s)
		}
	}
	if line := Scrub("start failed for "+code+" with key-secret-s3cr3t", secrets); strings.Contains(line, "s3cr3t") || strings.Contains(line, code) {
		t.Errorf("scrubbed: %q", line)
	}
}
