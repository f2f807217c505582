package peers

import (
	"bytes"
	"sync"
)

// LogBuffer keeps what a logger writes, from any goroutine: a slog handler's writer in a
// test that reads the log back while the code under test still runs.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
