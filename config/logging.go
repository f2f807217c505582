package config

import (
	"io"
	"log/slog"
	"strings"

	"github.com/camnode/camnode/internal/redact"
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

// MinScrubLen is the shortest secret Scrub hides in free text (redact.MinLen): such
// secrets are hidden by structure only, in every URL Scrub finds.
const MinScrubLen = redact.MinLen

// Scrub redacts free text for a log line: URLs by structure (rtmp:// and rtmps:// as
// rtmp.URL.Redacted, the user info, query and fragment of any other as redact.URLs), then
// every secret of MinScrubLen bytes or more. Words around the URLs are left intact.
func Scrub(s string, secrets []string) string {
	return redact.Secrets(redact.URLs(rtmp.RedactText(s)), secrets)
}
