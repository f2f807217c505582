package node

import (
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/chat"
)

// A flood of rejections becomes a handful of events whose counts add up to the flood.
func TestChatReporterSumsUpAFlood(t *testing.T) {
	var mu sync.Mutex
	var reasons []string
	rep := newChatReporter(func(name, reason string) {
		if name != "chat_rejected" {
			t.Errorf("event %q", name)
		}
		mu.Lock()
		reasons = append(reasons, reason)
		mu.Unlock()
	})
	const flood = 5000
	for i := 0; i < flood; i++ {
		cause := chat.CauseRate
		if i%10 == 0 {
			cause = chat.CauseQueueFull
		}
		rep.report("chat", 1, &chat.Rejection{Cause: cause, Reason: string(cause)})
	}
	deadline := time.Now().Add(5 * time.Second)
	summary := regexp.MustCompile(`^chat: (\d+) more messages rejected in [0-9.]+m?s: (rate limit|queue full) \d+, (rate limit|queue full) \d+$`)
	for {
		mu.Lock()
		got := append([]string(nil), reasons...)
		mu.Unlock()
		total := 0
		for _, r := range got {
			if m := summary.FindStringSubmatch(r); m != nil {
				n, _ := strconv.Atoi(m[1])
				total += n
			} else {
				total++
			}
		}
		if total == flood {
			if len(got) != chatReportBurst+1 {
				t.Fatalf("%d events for one window: %q", len(got), got)
			}
			if got[0] != "chat: queue full" || got[1] != "chat: rate limit" {
				t.Fatalf("first events %q", got[:2])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events count %d of %d rejections: %q", total, flood, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A new window: single rejections go out at once again.
	time.Sleep(chatReportWindow)
	rep.report("all/chat", 1, &chat.Rejection{Cause: chat.CauseEmpty, Reason: "empty text"})
	mu.Lock()
	last := reasons[len(reasons)-1]
	mu.Unlock()
	if last != "all/chat: empty text" {
		t.Fatalf("after the window: %q", last)
	}
}
