package platform

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// WebSocket is a reader's connection to a platform's WebSocket: one goroutine reads, any
// may write, and it closes itself when the context it was dialled with ends (which is how
// that context ends a blocked read).
type WebSocket struct {
	c    *websocket.Conn
	stop func() bool
	mu   sync.Mutex // writes
	// Timeout bounds each write.
	Timeout time.Duration
}

// ErrReadTimeout is what Read returns when its deadline passed.
var ErrReadTimeout = errors.New("read timed out")

// DialWebSocket connects to u within timeout, with the request headers hdr; a message
// longer than maxMessage bytes ends the connection.
func DialWebSocket(ctx context.Context, u *url.URL, hdr http.Header, timeout time.Duration, maxMessage int64) (*WebSocket, error) {
	d := websocket.Dialer{HandshakeTimeout: timeout}
	dialCtx, cancel := context.WithTimeout(ctx, timeout)
	c, resp, err := d.DialContext(dialCtx, u.String(), hdr)
	cancel()
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", u.Host, err)
	}
	c.SetReadLimit(maxMessage)
	return &WebSocket{c: c, stop: context.AfterFunc(ctx, func() { c.Close() }), Timeout: timeout}, nil
}

// Read returns the next message, binary or text; ErrReadTimeout when deadline passes first
// (the connection is then unusable, as with any read error).
func (w *WebSocket) Read(deadline time.Time) ([]byte, error) {
	w.c.SetReadDeadline(deadline)
	_, b, err := w.c.ReadMessage()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil, ErrReadTimeout
	}
	return b, err
}

// WriteBinary and WriteText send one message, each within Timeout.
func (w *WebSocket) WriteBinary(b []byte) error { return w.write(websocket.BinaryMessage, b) }
func (w *WebSocket) WriteText(b []byte) error   { return w.write(websocket.TextMessage, b) }

func (w *WebSocket) write(typ int, b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.c.SetWriteDeadline(time.Now().Add(w.Timeout))
	return w.c.WriteMessage(typ, b)
}

// Close closes the connection.
func (w *WebSocket) Close() error {
	w.stop()
	return w.c.Close()
}
