package rtmp

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		raw  string
		want URL
		red  string
	}{
		{"rtmp://127.0.0.1/live/abc", URL{"rtmp", "127.0.0.1", 1935, "live", "abc", "rtmp://127.0.0.1/live"},
			"rtmp://127.0.0.1:1935/live/****"},
		{"rtmps://a.rtmps.youtube.com/live2/xxxx-yyyy", URL{"rtmps", "a.rtmps.youtube.com", 443, "live2", "xxxx-yyyy", "rtmps://a.rtmps.youtube.com/live2"},
			"rtmps://a.rtmps.youtube.com:443/live2/****"},
		{"RTMP://ingest.example:1936/app/inst/key?token=s3cr/et&x=1", URL{"rtmp", "ingest.example", 1936, "app/inst", "key?token=s3cr/et&x=1", "rtmp://ingest.example:1936/app/inst"},
			"rtmp://ingest.example:1936/app/inst/****"},
		{"rtmp://[::1]:19350/live/k", URL{"rtmp", "::1", 19350, "live", "k", "rtmp://[::1]:19350/live"},
			"rtmp://[::1]:19350/live/****"},
		{" rtmp://h/live/k/ ", URL{"rtmp", "h", 1935, "live", "k", "rtmp://h/live"}, "rtmp://h:1935/live/****"},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.raw)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tt.raw, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseURL(%q) =\n %#v\nwant\n %#v", tt.raw, got, tt.want)
		}
		if got.Redacted() != tt.red {
			t.Errorf("ParseURL(%q).Redacted() = %q, want %q", tt.raw, got.Redacted(), tt.red)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	const key = "SECRETKEY"
	tests := []string{
		"",
		"http://h/live/" + key,
		"rtmp:/h/live/" + key,
		"rtmp://h/" + key,
		"rtmp://h/live/",
		"rtmp:///live/" + key,
		"rtmp://h:0/live/" + key,
		"rtmp://h:99999/live/" + key,
		"rtmp://h:x" + key + "/live/k",
		"rtmp://user:" + key + "@h/live/k",
		"rtmp://h/?" + key,
	}
	for _, raw := range tests {
		_, err := ParseURL(raw)
		if err == nil {
			t.Errorf("ParseURL(%q) succeeded, want an error", raw)
			continue
		}
		if !errors.Is(err, ErrURL) {
			t.Errorf("ParseURL(%q) error %q does not wrap ErrURL", raw, err)
		}
		if strings.Contains(err.Error(), key) {
			t.Errorf("ParseURL(%q) error %q shows the secret", raw, err)
		}
	}
}

func TestURLFormattingIsRedacted(t *testing.T) {
	u, err := ParseURL("rtmp://h/live/SECRETKEY?pw=SECRETQUERY")
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "url", u)
	for _, s := range []string{fmt.Sprint(u), fmt.Sprintf("%v %+v %s %#v", u, u, u, u), logged.String()} {
		if strings.Contains(s, "SECRET") {
			t.Errorf("formatted URL shows a secret: %s", s)
		}
		if !strings.Contains(s, "rtmp://h:1935/live/****") {
			t.Errorf("formatted URL %q lacks the redacted form", s)
		}
	}
}
