package exec

import (
	"context"
	"log/slog"
	"sync"
)

// maxLine bounds one logged line of the command's standard error; the rest of a longer
// line is dropped.
const maxLine = 512

// lineLogger logs what a command writes to standard error, one debug record per line
// (\n or \r ends a line: progress meters rewrite theirs with \r).
type lineLogger struct {
	logger  *slog.Logger
	program string

	mu        sync.Mutex
	line      []byte
	truncated bool
}

func (l *lineLogger) Write(p []byte) (int, error) {
	if !l.logger.Enabled(context.Background(), slog.LevelDebug) {
		return len(p), nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range p {
		switch {
		case c == '\n' || c == '\r':
			l.emit()
		case len(l.line) < maxLine:
			l.line = append(l.line, c)
		default:
			l.truncated = true
		}
	}
	return len(p), nil
}

func (l *lineLogger) emit() {
	if len(l.line) > 0 {
		l.logger.Debug("exec source stderr", "program", l.program, "line", string(l.line), "truncated", l.truncated)
	}
	l.line = l.line[:0]
	l.truncated = false
}

// flush logs a last line that had no line end.
func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.emit()
}
