package config

import (
	"errors"
	"strings"
	"testing"
)

// A bad CAMNODE_CHAT_FROM or CAMNODE_CHAT_ENDPOINTS entry, and a youtube: room without
// its key, are an *Error naming the variable and what it takes.
func TestChatFromSettings(t *testing.T) {
	for _, tc := range []struct{ env, val, wantVar, wantMsg string }{
		{"CAMNODE_CHAT_FROM", "twitch:garden facebook:x", "CAMNODE_CHAT_FROM", "use bilibili:ROOM, twitch:CHANNEL"},
		{"CAMNODE_CHAT_FROM", "bilibili:abc", "CAMNODE_CHAT_FROM", "the room is a number"},
		{"CAMNODE_CHAT_FROM", "twitch:bad-name!", "CAMNODE_CHAT_FROM", "login name"},
		{"CAMNODE_CHAT_FROM", "youtube:dQw4w9WgXcQ", "CAMNODE_YOUTUBE_API_KEY", "needs a YouTube Data API key"},
		{"CAMNODE_CHAT_ENDPOINTS", "twitch=http://127.0.0.1:1", "CAMNODE_CHAT_ENDPOINTS", "irc, ircs, ws, wss"},
		{"CAMNODE_CHAT_ENDPOINTS", "kick=ws://127.0.0.1:1", "CAMNODE_CHAT_ENDPOINTS", "bilibili, bilibili_api, douyu, twitch, youtube"},
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
