package danmaku

import (
	"fmt"
	"testing"
	"time"

	"github.com/camnode/camnode/chat"
)

// refill puts pre-encoded messages back into the queue, as Push would have, without
// Push's encoding: the benchmarks measure what the frame path costs.
func refill(c *Carriers, items []pending) {
	now := c.opts.Now()
	c.mu.Lock()
	for _, p := range items {
		p.at = now
		c.ring[(c.head+c.count)%len(c.ring)] = p
		c.count++
	}
	c.waiting.Add(int32(len(items)))
	c.mu.Unlock()
}

func encoded(t testing.TB, c *Carriers, n int) []pending {
	var items []pending
	for i := 0; i < n; i++ {
		m := chat.Message{Text: fmt.Sprintf("message %d: 这是一条弹幕 😀", i), User: "viewer", Color: 0xff6699, ID: fmt.Sprint(i)}
		if err := c.Push(&m); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	for c.count > 0 {
		items = append(items, c.ring[c.head])
		c.head = (c.head + 1) % len(c.ring)
		c.count--
	}
	c.waiting.Store(0)
	c.mu.Unlock()
	return items
}

// Once its buffers have grown, the frame path allocates nothing even with messages.
func TestFrameDoesNotAllocateInSteadyState(t *testing.T) {
	for _, pending := range []int{1, 20} {
		c := NewCarriers(CarrierOptions{SEI: true, CC: true, AMF: true, QueueSize: 64, CaptionBacklog: time.Hour})
		items := encoded(t, c, pending)
		au := keyUnit(0)
		run := func() {
			refill(c, items)
			au.Time += 33 * time.Millisecond
			c.Frame(au)
		}
		for i := 0; i < 5; i++ {
			run()
		}
		if n := testing.AllocsPerRun(200, run); n != 0 {
			t.Errorf("%d pending: %v allocations per frame", pending, n)
		}
	}
}

// BenchmarkCarriersFrame is the cost of the carriers per frame, all of sei, cc and amf
// switched on, with 0, 1 and 20 messages pending at each frame.
func BenchmarkCarriersFrame(b *testing.B) {
	for _, pending := range []int{0, 1, 20} {
		b.Run(fmt.Sprintf("pending=%d", pending), func(b *testing.B) {
			c := NewCarriers(CarrierOptions{SEI: true, CC: true, AMF: true, CaptionBacklog: time.Hour})
			items := encoded(b, c, pending)
			au := keyUnit(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if pending > 0 {
					refill(c, items)
				}
				au.Time += 33 * time.Millisecond
				out, data := c.Frame(au)
				if pending > 0 && (len(out.NALUs) != len(au.NALUs)+1 || len(data) != pending) {
					b.Fatalf("frame carried %d NAL units, %d bodies", len(out.NALUs), len(data))
				}
			}
		})
	}
}

// BenchmarkPush is what the node's goroutine pays to queue one message for all carriers.
func BenchmarkPush(b *testing.B) {
	c := NewCarriers(CarrierOptions{SEI: true, CC: true, AMF: true, QueueSize: 1 << 20})
	m := chat.Message{Text: "这是一条弹幕 hello 😀", User: "viewer", Color: 0xff6699}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if c.count == len(c.ring) {
			c.Close()
			c = NewCarriers(CarrierOptions{SEI: true, CC: true, AMF: true, QueueSize: 1 << 20})
		}
		c.Push(&m)
	}
}

// BenchmarkParseChat parses a typical bot message.
func BenchmarkParseChat(b *testing.B) {
	payload := []byte(`{"text":"这是一条弹幕 hello","user":"viewer","color":16738740,"mode":1,"id":"b1f3","source":"bilibili","ts":1732450000123}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		chat.Parse(payload, chat.Limits{})
	}
}
