package config

import (
	"io"
	"log/slog"
	"strings"
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

// Scrub replaces every secret in s with ****.
func Scrub(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "****")
		}
	}
	return s
}
