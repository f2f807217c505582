package onvif

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// testPasswords are the secrets the tests configure; no log line may carry them.
var testPasswords = []string{"s3cret"}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testLogger logs at debug level into a buffer that is checked, when the test ends, for
// the passwords the tests use.
func testLogger(t *testing.T) *slog.Logger {
	buf := &lockedBuffer{}
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
