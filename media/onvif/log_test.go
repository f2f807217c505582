package onvif

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/camnode/camnode/internal/peers"
)

// testPasswords are the secrets the tests configure; no log line may carry them.
var testPasswords = []string{"s3cret"}

// testLogger logs at debug level into a buffer that is checked, when the test ends, for
// the passwords the tests use.
func testLogger(t *testing.T) *slog.Logger {
	buf := &peers.LogBuffer{}
	t.Cleanup(func() {
		out := buf.String()
		for _, p := range testPasswords {
			if strings.Contains(out, p) {
				t.Errorf("a log line carries the password %q:\n%s", p, out)
			}
		}
		if testing.Verbose() && out != "" {
			t.Logf("log:\n%s", out)
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
