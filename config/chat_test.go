package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestChatSettings(t *testing.T) {
	clearEnv(t)
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.ChatRate != (ChatRate{20, time.Second}) || c.ChatUserRate != (ChatRate{3, 5 * time.Second}) ||
		c.ChatQueue != 64 || c.DanmakuCCRows != 2 || len(c.ChatBlocklist) != 0 {
		t.Fatalf("chat defaults: rate %v user %v queue %d rows %d blocklist %q", c.ChatRate, c.ChatUserRate, c.ChatQueue, c.DanmakuCCRows, c.ChatBlocklist)
	}
	t.Setenv("CAMNODE_CHAT_RATE", "100/1m")
	t.Setenv("CAMNODE_CHAT_USER_RATE", "off")
	t.Setenv("CAMNODE_CHAT_BLOCKLIST", "spam,傻瓜, buy now")
	t.Setenv("CAMNODE_DANMAKU_CC_ROWS", "3")
	if c, err = Load(); err != nil {
		t.Fatal(err)
	}
	if c.ChatRate != (ChatRate{100, time.Minute}) || c.ChatUserRate != (ChatRate{}) || c.DanmakuCCRows != 3 ||
		strings.Join(c.ChatBlocklist, "|") != "spam|傻瓜| buy now" {
		t.Fatalf("chat settings: %v %v %d %q", c.ChatRate, c.ChatUserRate, c.DanmakuCCRows, c.ChatBlocklist)
	}
}

func TestChatRateDecode(t *testing.T) {
	for in, want := range map[string]ChatRate{
		"20/s": {20, time.Second}, "3/5s": {3, 5 * time.Second}, " 1 / min ": {1, time.Minute}, "10/h": {10, time.Hour},
		"5/500ms": {5, 500 * time.Millisecond}, "0": {}, "OFF": {}, "none": {}, "0/s": {},
	} {
		var r ChatRate
		if err := r.Decode(in); err != nil || r != want {
			t.Errorf("Decode(%q) = %v, %v; want %v", in, r, err, want)
		}
	}
	for _, in := range []string{"20", "fast", "-1/s", "5/0s", "5/-1s", "x/s", "5/week"} {
		var r ChatRate
		if err := r.Decode(in); err == nil {
			t.Errorf("Decode(%q) = %v, want an error", in, r)
		}
	}
}

func TestChatSettingsRejected(t *testing.T) {
	for _, tc := range []struct{ env, val, msg string }{
		{"CAMNODE_CHAT_RATE", "fast", "cannot parse"},
		{"CAMNODE_CHAT_RATE", "20/10ms", "100ms to 24h"},
		{"CAMNODE_CHAT_USER_RATE", "20000/s", "at most 10000"},
		{"CAMNODE_CHAT_QUEUE", "0", "1 to 10000"},
		{"CAMNODE_DANMAKU_CC_ROWS", "4", "2 or 3"},
		{"CAMNODE_CHAT_BLOCKLIST", strings.Repeat("x", 101), "at most 100"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(tc.env, tc.val)
			_, err := Load()
			var ce *Error
			if !errors.As(err, &ce) || ce.Var != tc.env || !strings.Contains(ce.Msg, tc.msg) {
				t.Fatalf("%s=%.20s: %v, want %s and %q", tc.env, tc.val, err, tc.env, tc.msg)
			}
		})
	}
}
