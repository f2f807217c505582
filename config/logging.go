package config

import (
	"io"
	"log/slog"
	"regexp"
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
	s = otherURL.ReplaceAllStringFunc(s, func(m string) string {
		trimmed := strings.TrimRight(m, ".,;:)]}")
		if !strings.ContainsAny(trimmed, "@?#") {
			return m // nothing secret: host, port and path stay as they are
		}
		return RedactURL(trimmed) + m[len(trimmed):]
	})
	for _, secret := range secrets {
		if len(secret) >= MinScrubLen {
			s = strings.ReplaceAll(s, secret, "****")
		}
	}
	return s
}

// otherURL finds URLs of the schemes that carry broker credentials or tokens.
var otherURL = regexp.MustCompile(`(?i)\b(?:tcp|mqtts?|ssl|tls|wss?|https?)://[^\s"'<>` + "`" + `]+`)
