package config

import (
	"io"
	"log/slog"
	"strings"

	"github.com/camnode/camnode/media/rtmp"
)

// NewLogger makes the slog logger the settings ask for. Every string and error it writes
// passes through a filter that replaces the configured secrets with ****, so a secret that
// reaches a log line by any path is still never printed.
func (c *Config) NewLogger(w io.Writer) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(c.LogLevel) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	secrets := c.Secrets()
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		switch a.Value.Kind() {
		case slog.KindString:
			if s := Scrub(a.Value.String(), secrets); s != a.Value.String() {
				a.Value = slog.StringValue(s)
			}
		case slog.KindAny:
			if err, ok := a.Value.Any().(error); ok {
				a.Value = slog.StringValue(Scrub(err.Error(), secrets))
			}
		}
		return a
	}}
	if strings.ToLower(c.LogFormat) == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// MinScrubLen is the shortest secret Scrub hides in free text. A shorter one would wreck
// ordinary words (a key "x" in "context deadline exceeded", "stream" in "stream_started"):
// such secrets are hidden by structure only, in every URL Scrub finds.
const MinScrubLen = 8

// Scrub makes free text safe to print: every URL in it is redacted by structure (rtmp:// and
// rtmps:// as rtmp.URL.Redacted, broker and other URLs by RedactURL), then every secret of
// MinScrubLen bytes or more is replaced with ****. Words around the URLs are left intact.
func Scrub(s string, secrets []string) string {
	s = rtmp.RedactText(s)
	s = redactOtherURLs(s)
	for _, secret := range secrets {
		if len(secret) >= MinScrubLen {
			s = strings.ReplaceAll(s, secret, "****")
		}
	}
	return s
}

// redactOtherURLs redacts the URLs of the schemes that carry broker credentials or tokens
// (tcp, mqtt(s), ssl, tls, ws(s), http(s)) where they hold user info, a query or a fragment;
// one with nothing secret stays as it is. A URL ends as in rtmp.RedactText.
func redactOtherURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; ; {
		j := strings.Index(s[i:], "://")
		if j < 0 {
			break
		}
		j += i
		k := j
		for k > 0 && (s[k-1]|0x20 >= 'a' && s[k-1]|0x20 <= 'z') {
			k--
		}
		end := len(s)
		if e := strings.IndexAny(s[j+3:], " \t\r\n\v\f\"'`<>"); e >= 0 {
			end = j + 3 + e
		}
		switch strings.ToLower(s[k:j]) {
		case "tcp", "mqtt", "mqtts", "ssl", "tls", "ws", "wss", "http", "https":
			url := strings.TrimRight(s[k:end], ".,;:)]}")
			if strings.ContainsAny(url, "@?#") {
				b.WriteString(s[last:k])
				b.WriteString(RedactURL(url))
				last = k + len(url)
			}
		}
		i = end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}
