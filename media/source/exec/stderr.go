package exec

import (
	"context"
	"log/slog"
	"strings"
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
	keep    int // last lines kept for the error of a failed command (Options.ErrorLines)

	mu        sync.Mutex
	line      []byte
	truncated bool
	tail      []string
}

func (l *lineLogger) Write(p []byte) (int, error) {
	if l.keep == 0 && !l.logger.Enabled(context.Background(), slog.LevelDebug) {
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
	if len(l.line) > 0 && l.keep > 0 {
		if len(l.tail) == l.keep {
			l.tail = append(l.tail[:0], l.tail[1:]...)
		}
		l.tail = append(l.tail, string(l.line))
	}
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

// last is the kept last lines, joined by " / ".
func (l *lineLogger) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.tail, " / ")
}
