package peers

import (
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Stall is the point where a StallingIngest stops answering.
type Stall int

const (
	// StallHandshake accepts the TCP connection and reads what comes, but never sends a
	// byte: an ingest host whose RTMP server hangs, or a firewall that eats the answers.
	StallHandshake Stall = iota
	// StallConnect completes the RTMP handshake and then never answers connect (nor
	// anything else): a server that is alive but stuck.
	StallConnect
)

func (s Stall) String() string {
	return [...]string{"handshake", "connect"}[s]
}

// StallingIngest is a fault injector, not a stand-in for an ingest: an RTMP listener on
// 127.0.0.1 that stops answering at a chosen step, so that a test can watch the publisher
// time out and retry. It counts the connections it accepted.
type StallingIngest struct {
	stall    Stall
	ln       net.Listener
	accepted atomic.Int64

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// StartStallingIngest listens on a free 127.0.0.1 port; it stops when the test ends.
func StartStallingIngest(t testing.TB, stall Stall) *StallingIngest {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("peers: stalling ingest: listen: %v", err)
	}
	s := &StallingIngest{stall: stall, ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

// Addr is host:port of the listener.
func (s *StallingIngest) Addr() string { return s.ln.Addr().String() }

// URL is a publish URL of the listener, as CAMNODE_RTMP_URL takes it.
func (s *StallingIngest) URL(stream string) string {
	return "rtmp://" + s.Addr() + "/live/" + stream
}

// Accepted is the number of TCP connections accepted so far: the publisher's attempts.
func (s *StallingIngest) Accepted() int { return int(s.accepted.Load()) }

// Open is the number of connections the publisher still holds open.
func (s *StallingIngest) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *StallingIngest) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // listener closed
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.accepted.Add(1)
		s.wg.Add(1)
		go s.serve(c)
	}
}

// serve plays the server up to the stall, then only reads, until the client hangs up or the
// test ends.
func (s *StallingIngest) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	if s.stall == StallConnect {
		if err := answerHandshake(c); err != nil {
			return
		}
	}
	io.Copy(io.Discard, c)
}

// answerHandshake plays the server's part of the simple RTMP handshake:
//
//	client: C0 (0x03) C1 (1536: time(4) zero(4) random(1528))   server: S0 S1 S2
//	client: C2 (1536, an echo of S1)
//
// S1 is time(4) zero(4) random(1528); S2 echoes C1.
func answerHandshake(c net.Conn) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	const size = 1536
	c0c1 := make([]byte, 1+size)
	if _, err := io.ReadFull(c, c0c1); err != nil {
		return err
	}
	out := make([]byte, 1+2*size)
	out[0] = 3
	binary.BigEndian.PutUint32(out[1:5], uint32(time.Now().UnixMilli()))
	rand.Read(out[9 : 1+size])
	copy(out[1+size:], c0c1[1:])
	if _, err := c.Write(out); err != nil {
		return err
	}
	_, err := io.ReadFull(c, make([]byte, size))
	return err
}

func (s *StallingIngest) close() {
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
