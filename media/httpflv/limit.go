package httpflv

import (
	"container/list"
	"net"
	"net/http"
	"sync"
)

// Defaults of the connection bounds in Options.
const (
	// DefaultMaxConns bounds the connections held at once, before any request is read:
	// each costs a goroutine and its buffers (about 12 KB) and a file descriptor.
	DefaultMaxConns = 256
	// DefaultMaxConnsPerAddr bounds the connections of one client address (a browser
	// opens up to 6 to one host; several behind one NAT share an address).
	DefaultMaxConnsPerAddr = 32
)

// limitListener bounds the connections the server holds, before the token is checked:
// MaxConnsPerAddr from one client address, MaxConns in all. Over the per-address bound a
// new connection is closed at once; over the total bound the oldest connection that has
// not started a request (new, or idle between requests) is closed to make room, so that
// a flood of half-open connections cannot lock a viewer out. Only when every held
// connection is busy (a request or a stream) is the new one refused.
type limitListener struct {
	net.Listener
	total, perAddr int
	refused        *refusals

	mu     sync.Mutex
	byAddr map[string]int
	held   list.List // of *limitConn, oldest first
}

func newLimitListener(ln net.Listener, total, perAddr int, refused *refusals) *limitListener {
	return &limitListener{Listener: ln, total: total, perAddr: perAddr, refused: refused, byAddr: map[string]int{}}
}

// limitConn is a held connection; Close gives its place back.
type limitConn struct {
	net.Conn
	l    *limitListener
	addr string
	// elem is its place in l.held, nil once released; waiting says no request has
	// started on it (http.StateNew or StateIdle). Both under l.mu.
	elem    *list.Element
	waiting bool
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := clientAddr(c.RemoteAddr())
		l.mu.Lock()
		if l.byAddr[addr] >= l.perAddr {
			l.mu.Unlock()
			c.Close()
			l.refused.note("http: connection refused: too many from one address", "remote", addr, "max", l.perAddr)
			continue
		}
		var victim *limitConn
		if l.held.Len() >= l.total {
			for e := l.held.Front(); e != nil; e = e.Next() {
				if lc := e.Value.(*limitConn); lc.waiting {
					victim = lc
					l.releaseLocked(lc)
					break
				}
			}
			if victim == nil {
				l.mu.Unlock()
				c.Close()
				l.refused.note("http: connection refused: every connection is busy", "remote", addr, "max", l.total)
				continue
			}
		}
		lc := &limitConn{Conn: c, l: l, addr: addr, waiting: true}
		lc.elem = l.held.PushBack(lc)
		l.byAddr[addr]++
		l.mu.Unlock()
		if victim != nil {
			// Its server goroutine sees the read fail and ends; its Close is then a no-op.
			victim.Conn.Close()
			l.refused.note("http: waiting connection closed to make room", "remote", victim.addr, "max", l.total)
		}
		return lc, nil
	}
}

// connState is the http.Server's ConnState hook: it tells which connections may make room.
func (l *limitListener) connState(c net.Conn, st http.ConnState) {
	lc, ok := c.(*limitConn)
	if !ok {
		return
	}
	l.mu.Lock()
	lc.waiting = st == http.StateNew || st == http.StateIdle
	l.mu.Unlock()
}

func (l *limitListener) releaseLocked(lc *limitConn) {
	if lc.elem == nil {
		return
	}
	l.held.Remove(lc.elem)
	lc.elem = nil
	if l.byAddr[lc.addr]--; l.byAddr[lc.addr] <= 0 {
		delete(l.byAddr, lc.addr)
	}
}

func (c *limitConn) Close() error {
	c.l.mu.Lock()
	c.l.releaseLocked(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// clientAddr is the address a client is counted by: its IPv4 address, or the /64 of its
// IPv6 address (one host holds a whole /64).
func clientAddr(a net.Addr) string {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if ip4 := t.IP.To4(); ip4 != nil {
		return ip4.String()
	}
	return t.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
