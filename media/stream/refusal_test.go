package stream

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/rtmp"
	"github.com/camnode/camnode/media/source"
)

// statusLog records what a Publisher reports.
type statusLog struct {
	mu  sync.Mutex
	all []Status
}

func (l *statusLog) add(s Status) {
	l.mu.Lock()
	l.all = append(l.all, s)
	l.mu.Unlock()
}

func (l *statusLog) get() []Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Status(nil), l.all...)
}

// runPublisher publishes the test source with opts until stop is called or the test
// ends; stop returns when the publisher and the source have.
func runPublisher(t *testing.T, opts Options) (p *Publisher, log *statusLog, stop func()) {
	t.Helper()
	log = &statusLog{}
	opts.OnStatus = log.add
	opts.FrameRate = 30
	p = New(opts)
	src, err := source.Open("testsrc", source.Options{Width: 320, Height: 240, FPS: 30, GOP: 30})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.Run(ctx) }()
	go func() {
		defer wg.Done()
		src.Run(ctx, media.Feed(ctx, p))
	}()
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return p, log, stop
}

// nginx-rtmp refuses a publish by confirming it and closing the connection (deny publish):
// the publisher must report Failed with that reason, never Live, and wait ReconnectMax
// before asking again instead of retrying in a loop.
func TestPublisherRefusedByNginx(t *testing.T) {
	ng := peers.StartNginx(t)
	const key = "refused-K3Y"
	p, log, _ := runPublisher(t, Options{
		URL:          "rtmp://" + ng.Addr() + "/closed/" + key,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 5 * time.Second,
	})
	deadline := time.Now().Add(10 * time.Second)
	for len(log.get()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// A hot loop with a 50 ms backoff would have tried about ten times by now.
	time.Sleep(1500 * time.Millisecond)
	got := log.get()
	if len(got) != 2 || got[0].State != Connecting || got[1].State != Failed {
		t.Fatalf("statuses %v, want [connecting failed]", got)
	}
	f := got[1]
	if !rtmp.IsRefused(f.Err) || !strings.Contains(f.Err.Error(), "stream refused") || strings.Contains(f.Err.Error(), key) {
		t.Errorf("Failed with %v: want a refusal that says so without the key", f.Err)
	}
	if f.Retry < 5*time.Second*3/4 {
		t.Errorf("retry after a refusal in %v, want about ReconnectMax (5s)", f.Retry)
	}
	if st := p.Stats(); st.Live || !st.Refused {
		t.Errorf("stats after a refusal: live=%v refused=%v", st.Live, st.Refused)
	}
	// nginx writes an access log line per finished session: one attempt only.
	if n := strings.Count(ng.AccessLog(), `PUBLISH "closed"`); n != 1 {
		t.Errorf("nginx saw %d publish attempts in 1.5 s, want 1:\n%s", n, ng.AccessLog())
	}
}
