package peers

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Loopback TCP is nothing like a real path: its 64 KiB segments let the sender's kernel
// grow a send buffer of megabytes (tens of seconds of a stream) before a slow path reaches
// the application. The proxy's client side announces an Ethernet-sized MSS and a small
// receive window, so the sender sees a slow rate the way it would behind a real link.
const (
	proxyWindow = 16 << 10
	proxyMSS    = 1448
)

// Proxy is a TCP proxy on 127.0.0.1 in front of an upstream address: a slow or broken
// network path in a test. The client-to-upstream direction (what a publisher sends) is
// forwarded at a settable rate; the other direction is not limited. With a TLS
// configuration it terminates TLS, like an RTMPS front of a plain RTMP ingest.
type Proxy struct {
	upstream string
	ln       net.Listener
	rate     atomic.Int64 // bytes per second client->upstream; 0: unlimited
	sent     atomic.Int64 // bytes forwarded client->upstream
	accepted atomic.Int64

	mu     sync.Mutex
	conns  map[net.Conn]net.Conn // client -> its upstream connection
	closed bool
	wg     sync.WaitGroup
}

// StartProxy listens on a free 127.0.0.1 port and forwards every connection to upstream,
// terminating TLS with tlsConfig when it is not nil. It stops when the test ends.
func StartProxy(t testing.TB, upstream string, tlsConfig *tls.Config) *Proxy {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			// Accepted sockets inherit the listener's buffer, and the window scale is
			// fixed at the handshake: it has to be set here, not after Accept.
			serr = errors.Join(
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, proxyWindow),
				syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, proxyMSS))
		})
		return errors.Join(err, serr)
	}}
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("peers: proxy listen: %v", err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	p := &Proxy{upstream: upstream, ln: ln, conns: map[net.Conn]net.Conn{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is host:port of the proxy.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetRate limits the client-to-upstream direction to bytesPerSecond from now on, for open
// and future connections; 0 lifts the limit.
func (p *Proxy) SetRate(bytesPerSecond int) { p.rate.Store(int64(bytesPerSecond)) }

// Forwarded is the number of bytes forwarded from clients to the upstream so far.
func (p *Proxy) Forwarded() int64 { return p.sent.Load() }

// Accepted is the number of client connections accepted so far.
func (p *Proxy) Accepted() int { return int(p.accepted.Load()) }

// Cut closes every open connection at once, both sides, like a router that reboots, and
// returns how many client connections it cut. New connections are accepted as before.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns)
	for client, up := range p.conns {
		closeRaw(client)
		up.Close()
	}
	clear(p.conns)
	return n
}

// closeRaw closes the TCP connection under a TLS one without a close_notify alert: a cut
// path says nothing, and the alert's write could block on a peer that does not read.
func closeRaw(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	c.Close()
}

func (p *Proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // listener closed
		}
		p.accepted.Add(1)
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve is one client connection: one goroutine per direction, both ended by either side
// closing or by Cut.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		client.Close() // the upstream is down: the client sees a reset, as without a proxy
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		closeRaw(client)
		up.Close()
		return
	}
	p.conns[client] = up
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		io.Copy(client, up)
		closeRaw(client)
		up.Close()
		close(done)
	}()
	p.forward(up, client)
	closeRaw(client)
	up.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, client)
	p.mu.Unlock()
}

// forward copies client to upstream at the current rate. It reads no more than it may
// send next, so a slow rate holds the client back through TCP instead of buffering here.
func (p *Proxy) forward(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	var next time.Time // when the bytes sent so far are due at the current rate
	for {
		rate := p.rate.Load()
		chunk := len(buf)
		if rate > 0 {
			// about 20 reads a second: smooth enough for a stream, cheap for the proxy
			chunk = int(min(int64(len(buf)), max(512, rate/20)))
		}
		n, err := src.Read(buf[:chunk])
		if n > 0 {
			if rate > 0 {
				now := time.Now()
				if next.Before(now) {
					next = now
				}
				next = next.Add(time.Duration(int64(n) * int64(time.Second) / rate))
				time.Sleep(time.Until(next))
			} else {
				next = time.Time{}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			p.sent.Add(int64(n))
		}
		if err != nil {
			return
		}
	}
}
