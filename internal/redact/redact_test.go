package redact

import (
	"strings"
	"testing"
)

func TestURLs(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"[rtsp @ 0x55] method DESCRIBE failed: 401 rtsp://admin:hunter2@192.168.1.20:554/stream1",
			"[rtsp @ 0x55] method DESCRIBE failed: 401 rtsp://admin:****@192.168.1.20:554/stream1"},
		{"Input #0, rtsp, from 'rtsp://u:p@cam.lan/live?token=abc#x':", "Input #0, rtsp, from 'rtsp://u:****@cam.lan/live?token=****#****':"},
		{"srt://host:9000?passphrase=abcdefgh&latency=200.", "srt://host:9000?passphrase=****&latency=****."},
		{"see https://TOKEN123@example.com/x!", "see https://****@example.com/x!"},
		{"mqtt://camnode:pw@127.0.0.1:1883 and http://127.0.0.1:8080/", "mqtt://camnode:****@127.0.0.1:1883 and http://127.0.0.1:8080/"},
		{"rtmp://h:1935/live/****?token=****", "rtmp://h:1935/live/****?token=****"},
		{"no url :// here, a://", "no url :// here, a://"},
		{"", ""},
	} {
		if got := URLs(tt.in); got != tt.want {
			t.Errorf("URLs(%q)\n = %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// TestEchoHidesShortKeysNextToPunctuation: an ingest that echoes a short key next to '.',
// '&', '!', '?' or '-' does not show it; addresses and ordinary words stay.
func TestEchoHidesShortKeysNextToPunctuation(t *testing.T) {
	for _, tt := range []struct{ in, key, want string }{
		{"stream k1. busy", "k1", "stream ****. busy"},
		{"key=k1&x=2", "k1", "key=****&x=2"},
		{"bad name k1!", "k1", "bad name ****!"},
		{"k1?token=1", "k1", "****?token=1"},
		{"k1-stream rejected", "k1", "****-stream rejected"},
		{"from 127.0.0.1:1935 stream 1 busy", "1", "from 127.0.0.1:1935 stream **** busy"},
		{"[::1]:1935 a", "1", "[::1]:1935 a"},
		{"stream_started k1x", "k1", "stream_started k1x"},
		{"abc", "", "abc"},
		{"a LONGSECRET99 b xLONGSECRET99x", "LONGSECRET99", "a **** b x****x"},
	} {
		if got := Echo(tt.in, []string{tt.key}); got != tt.want {
			t.Errorf("Echo(%q, %q)\n = %q\nwant %q", tt.in, tt.key, got, tt.want)
		}
	}
}

func TestQuery(t *testing.T) {
	if got := Query("streamname=abc&key=def&bare&1x=2&"); got != "streamname=****&key=****&****&****&" {
		t.Errorf("Query: %q", got)
	}
}

// FuzzURLs: a password in a URL's user info never survives, whatever text is around it.
func FuzzURLs(f *testing.F) {
	f.Add("before ", " after")
	f.Add("'", "'")
	f.Add("x://", "?#@")
	f.Fuzz(func(t *testing.T, before, after string) {
		const pw = "Pw0rdQ"
		for _, u := range []string{"rtsp://user:" + pw + "@cam:554/s", "srt://h?passphrase=" + pw, "https://" + pw + "@h/"} {
			in := before + " " + u + " " + after
			if strings.Contains(before+after, pw) {
				return
			}
			if got := URLs(in); strings.Contains(got, pw) {
				t.Fatalf("URLs(%q) = %q shows the secret", in, got)
			}
		}
	})
}
