// Package platformtest is what the chat readers' tests share: a supervised run of a
// session that collects what it delivers and reports.
package platformtest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/chat/platform"
)

// Collector gathers what a reader delivers and reports.
type Collector struct {
	mu     sync.Mutex
	msgs   []chat.Message
	status []platform.Status
	poke   chan struct{}
}

// Run supervises session for room (retrying after 50 to 200 ms) until stop, which the test's
// cleanup also calls; stop returns once Run has.
func Run(t testing.TB, room platform.Room, session platform.Session) (c *Collector, stop func()) {
	c = &Collector{poke: make(chan struct{}, 1)}
	sup := &platform.Supervisor{Room: room, Session: session, Min: 50 * time.Millisecond, Max: 200 * time.Millisecond,
		OnStatus: c.onStatus}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx, c.deliver) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return c, stop
}

func (c *Collector) deliver(m chat.Message) {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
	c.wake()
}

func (c *Collector) onStatus(s platform.Status) {
	c.mu.Lock()
	c.status = append(c.status, s)
	c.mu.Unlock()
	c.wake()
}

func (c *Collector) wake() {
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

// Messages and Statuses are what was collected so far.
func (c *Collector) Messages() []chat.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

func (c *Collector) Statuses() []platform.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.status)
}

// Failures are the reasons of the failures reported so far.
func (c *Collector) Failures() []string {
	var out []string
	for _, s := range c.Statuses() {
		if s.Err != nil {
			out = append(out, s.Err.Error())
		}
	}
	return out
}

// Connects counts the connects reported so far.
func (c *Collector) Connects() int {
	n := 0
	for _, s := range c.Statuses() {
		if s.Connected {
			n++
		}
	}
	return n
}

// Await waits up to 30 s until cond holds over what was collected.
func (c *Collector) Await(t testing.TB, what string, cond func(msgs []chat.Message, st []platform.Status) bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		msgs, st := c.Messages(), c.Statuses()
		if cond(msgs, st) {
			return
		}
		select {
		case <-c.poke:
		case <-deadline:
			t.Fatalf("no %s; messages %v; last status %v", what, msgs, st[max(0, len(st)-5):])
		}
	}
}
