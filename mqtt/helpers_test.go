package mqtt

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// testNode is a started session as the node would hold it.
type testNode struct {
	*Session
	topics   Topics
	logs     *peers.LogBuffer
	connects atomic.Int32
	onConn   chan struct{}
}

var nodeTopics = NewTopics("camnode", "n1", "homeassistant")

// newTestNode makes a session on url, with edit applied to its config; the session is
// closed when the test ends, and its log is shown when the test failed.
func newTestNode(t *testing.T, url string, edit func(*Config)) *testNode {
	t.Helper()
	n := &testNode{topics: nodeTopics, logs: &peers.LogBuffer{}, onConn: make(chan struct{}, 16)}
	cfg := Config{
		URL:    url,
		Topics: n.topics,
		Logger: slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnConnect: func() {
			n.connects.Add(1)
			select {
			case n.onConn <- struct{}{}:
			default:
			}
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	n.Session = s
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			t.Logf("session log:\n%s", n.logs)
		}
	})
	return n
}

// startTestNode is newTestNode, started.
func startTestNode(t *testing.T, url string, edit func(*Config)) *testNode {
	t.Helper()
	n := newTestNode(t, url, edit)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return n
}

// next returns the next command, or fails the test after 5 s.
func (n *testNode) next(t *testing.T) Command {
	t.Helper()
	select {
	case cmd := <-n.Commands():
		return cmd
	case <-time.After(5 * time.Second):
		t.Fatalf("no command within 5 s")
		return Command{}
	}
}

// waitConnects waits until OnConnect has run count times.
func (n *testNode) waitConnects(t *testing.T, count int32, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for n.connects.Load() < count {
		select {
		case <-n.onConn:
		case <-deadline:
			t.Fatalf("OnConnect ran %d times within %v, want %d", n.connects.Load(), timeout, count)
		}
	}
}

// receivedEvent is one message seen on the event topic.
type receivedEvent struct {
	Event  string `json:"event"`
	Reason string `json:"reason"`
	TS     string `json:"ts"`
}

// events decodes the event messages sub has seen so far.
func events(t *testing.T, sub *peers.Sub, topic string) []receivedEvent {
	t.Helper()
	var out []receivedEvent
	for _, m := range sub.OnTopic(topic) {
		var ev receivedEvent
		if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil {
			t.Fatalf("event %q is not JSON: %v", m.Payload, err)
		}
		out = append(out, ev)
	}
	return out
}

// waitEvent waits for an event whose reason contains needle and returns all events up to
// and including it.
func waitEvent(t *testing.T, sub *peers.Sub, topic, needle string) []receivedEvent {
	t.Helper()
	match := func(m peers.Message) bool { return m.Topic == topic && strings.Contains(m.Payload, needle) }
	if _, ok := sub.WaitFor(match, 10*time.Second); !ok {
		t.Fatalf("no event with %q within 10 s; events: %+v", needle, events(t, sub, topic))
	}
	evs := events(t, sub, topic)
	for i, ev := range evs {
		if strings.Contains(ev.Reason, needle) {
			return evs[:i+1]
		}
	}
	t.Fatalf("event with %q seen but not decoded", needle)
	return nil
}

// tcpProxy forwards connections to a target, and can cut them the way a dead network does:
// no MQTT DISCONNECT, a reset socket.
type tcpProxy struct {
	target  string
	address string
	mu      sync.Mutex
	ln      net.Listener
	conns   []*net.TCPConn
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{target: target, address: ln.Addr().String(), ln: ln}
	go p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *tcpProxy) addr() string { return p.address }

func (p *tcpProxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c.(*net.TCPConn), up.(*net.TCPConn))
		p.mu.Unlock()
		go func() { io.Copy(up, c); up.Close() }()
		go func() { io.Copy(c, up); c.Close() }()
	}
}

// down stops accepting and resets every open connection.
func (p *tcpProxy) down() {
	p.mu.Lock()
	conns, ln := p.conns, p.ln
	p.conns, p.ln = nil, nil
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for _, c := range conns {
		c.SetLinger(0)
		c.Close()
	}
}

// up accepts connections again on the same address.
func (p *tcpProxy) up(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.address)
	if err != nil {
		t.Fatalf("proxy listen again on %s: %v", p.address, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go p.serve(ln)
}
