package ingest

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/camnode/camnode/internal/backoff"
)

// listener hands go-rtmp connections that carry an idle deadline on every read and write,
// and keeps track of them so that shutdown can close them all and wait for their handlers.
type listener struct {
	net.Listener
	timeout time.Duration
	log     *slog.Logger

	closed    chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	shutting bool
	conns    map[*conn]struct{}
	handlers sync.WaitGroup
}

func newListener(inner net.Listener, timeout time.Duration, log *slog.Logger) *listener {
	return &listener{
		Listener: inner,
		timeout:  timeout,
		log:      log,
		closed:   make(chan struct{}),
		conns:    make(map[*conn]struct{}),
	}
}

// Accept waits out transient accept errors (out of file descriptors, say) itself: go-rtmp's
// accept loop retries at once and would spin on them.
func (l *listener) Accept() (net.Conn, error) {
	retry := backoff.Backoff{Min: 5 * time.Millisecond, Max: time.Second, Exact: true}
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			l.mu.Lock()
			if l.shutting {
				l.mu.Unlock()
				c.Close()
				return nil, net.ErrClosed
			}
			tc := &conn{Conn: c, timeout: l.timeout, l: l}
			tc.in = newGuard(socketReader{tc})
			l.conns[tc] = struct{}{}
			l.handlers.Add(1)
			l.mu.Unlock()
			return tc, nil
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		wait := retry.Next()
		l.log.Warn("accept failed", "err", err, "retry_in", wait)
		select {
		case <-time.After(wait):
		case <-l.closed:
			return nil, net.ErrClosed
		}
	}
}

func (l *listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.closed)
		err = l.Listener.Close()
	})
	return err
}

// closeConns closes every connection's socket; go-rtmp then sees its reads fail, ends the
// handler and closes the conn, which releases it.
func (l *listener) closeConns() {
	l.mu.Lock()
	l.shutting = true
	conns := make([]*conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Conn.Close()
	}
}

// wait returns when every accepted connection has been closed by its handler.
func (l *listener) wait() { l.handlers.Wait() }

func (l *listener) release(c *conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	l.handlers.Done()
}

// conn is one accepted connection. go-rtmp reads it through the guard, and closes it last
// thing when its handler ends (after OnClose), which is when the connection stops counting
// as running.
type conn struct {
	net.Conn
	timeout time.Duration
	l       *listener
	in      *guard
	once    sync.Once
	logged  bool
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.in.Read(b)
	var rej *rejectError
	if err != nil && !c.logged && errors.As(err, &rej) {
		c.logged = true
		c.l.log.Warn("dropping a client that sent malformed RTMP", "remote", c.RemoteAddr().String(), "reason", rej.reason)
	}
	return n, err
}

func (c *conn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}

// socketReader reads the socket with the idle deadline.
type socketReader struct{ c *conn }

func (r socketReader) Read(b []byte) (int, error) {
	if err := r.c.Conn.SetReadDeadline(time.Now().Add(r.c.timeout)); err != nil {
		return 0, err
	}
	return r.c.Conn.Read(b)
}
