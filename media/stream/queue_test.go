package stream

import (
	"context"
	"testing"
	"time"
)

// gop pushes a GOP of n frames (the first a keyframe) starting at frame index first, 30 fps.
func pushGOP(q *queue, first, n int) {
	for i := 0; i < n; i++ {
		q.push(context.Background(), tag{kind: kindVideo, keyframe: i == 0, time: time.Duration(first+i) * time.Second / 30,
			body: append(q.buffer(), byte(first+i))})
	}
}

func popAll(q *queue) []tag {
	var out []tag
	for {
		q.mu.Lock()
		n := q.tags.len()
		q.mu.Unlock()
		if n == 0 {
			return out
		}
		t, _ := q.pop(context.Background())
		out = append(out, t)
	}
}

// A slow network: the queue never holds more than its span, drops whole GOPs from the
// front, and what is left starts with a keyframe and has no holes inside a GOP.
func TestQueueDropsWholeGOPs(t *testing.T) {
	q := newQueue(time.Second, 1<<30, false) // 1 s = 30 frames
	for g := 0; g < 5; g++ {
		pushGOP(q, g*15, 15) // GOPs of 0.5 s
	}
	dropped, gops, queued, _ := q.stats()
	tags := popAll(q)
	if len(tags) != queued {
		t.Fatalf("popped %d, stats said %d", len(tags), queued)
	}
	if !tags[0].keyframe {
		t.Fatalf("after drops the queue starts with a non-keyframe")
	}
	// 75 frames in, at most 1 s (31 frames incl. both ends) kept: the GOPs 0..2 went whole.
	if dropped != 45 || gops != 3 || len(tags) != 30 {
		t.Fatalf("dropped %d frames in %d GOPs, kept %d; want 45 in 3, kept 30", dropped, gops, len(tags))
	}
	for i := 1; i < len(tags); i++ {
		if tags[i].body[0] != tags[i-1].body[0]+1 {
			t.Fatalf("hole inside the kept frames at %d: %d after %d", i, tags[i].body[0], tags[i-1].body[0])
		}
	}
}

// A GOP longer than the buffer: everything goes, and frames are dropped until the next
// keyframe, never a partial GOP sent.
func TestQueueLongGOPWaitsForKeyframe(t *testing.T) {
	q := newQueue(500*time.Millisecond, 1<<30, false)
	pushGOP(q, 0, 60) // one 2 s GOP
	// The GOP overflowed at frame 16: frames 0-15 went, and 16-59 (no keyframe to start
	// from) were refused as they came.
	if tags := popAll(q); len(tags) != 0 {
		t.Fatalf("%d tags of a GOP that overflowed are still queued", len(tags))
	}
	if dropped, gops, _, _ := q.stats(); dropped != 60 || gops != 1 {
		t.Fatalf("dropped %d frames in %d GOPs, want 60 in 1", dropped, gops)
	}
	pushGOP(q, 60, 10)
	tags := popAll(q)
	if len(tags) != 10 || !tags[0].keyframe {
		t.Fatalf("after the next keyframe: %d tags, first keyframe %v", len(tags), len(tags) > 0 && tags[0].keyframe)
	}
}

// Memory stays bounded by bytes too, whatever the stream time.
func TestQueueBoundedByBytes(t *testing.T) {
	q := newQueue(time.Hour, 10_000, false)
	for i := 0; i < 1000; i++ {
		body := append(q.buffer(), make([]byte, 1000)...)
		q.push(context.Background(), tag{kind: kindVideo, keyframe: i%10 == 0, time: time.Duration(i) * time.Millisecond, body: body})
		if _, _, _, b := q.stats(); b > 10_000 {
			t.Fatalf("queue holds %d bytes, bound 10000", b)
		}
	}
}

// After a reconnect the first tag sent is a keyframe.
func TestQueueSkipToKeyframe(t *testing.T) {
	q := newQueue(time.Hour, 1<<30, false)
	pushGOP(q, 0, 10)
	q.pop(context.Background())
	q.pop(context.Background())
	q.skipToKeyframe() // nothing but P-frames left: all go, and the producer waits for a keyframe
	pushGOP(q, 10, 3)
	q.push(context.Background(), tag{kind: kindVideo, time: time.Second, body: q.buffer()}) // P after
	tags := popAll(q)
	if len(tags) != 4 || !tags[0].keyframe {
		t.Fatalf("after skip: %d tags, first keyframe %v", len(tags), len(tags) > 0 && tags[0].keyframe)
	}
}

// Lossless mode blocks the producer instead of dropping.
func TestQueueLosslessBlocks(t *testing.T) {
	q := newQueue(100*time.Millisecond, 1<<30, true)
	done := make(chan struct{})
	go func() {
		pushGOP(q, 0, 30)
		close(done)
	}()
	got := 0
	for got < 30 {
		if _, ok := q.pop(context.Background()); ok {
			got++
		}
	}
	<-done
	if dropped, _, _, _ := q.stats(); dropped != 0 {
		t.Fatalf("lossless queue dropped %d", dropped)
	}
}

// With a grace, a lossless queue whose writer sends nothing (a dead ingest) stops holding
// the producer back after the grace and drops whole GOPs instead; a writer that sends,
// however slowly, keeps it lossless.
func TestQueueLosslessGraceForADeadWriter(t *testing.T) {
	q := newQueue(2*time.Second, 1<<30, true) // two GOPs of 1 s
	q.grace = 200 * time.Millisecond
	done := make(chan struct{})
	go func() {
		for g := 0; g < 10; g++ {
			pushGOP(q, g*30, 30)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the producer is held back by a writer that sends nothing")
	}
	dropped, gops, _, _ := q.stats()
	tags := popAll(q)
	if gops == 0 || dropped == 0 || len(tags) == 0 || !tags[0].keyframe {
		t.Fatalf("dropped %d frames in %d GOPs, %d left (first a keyframe: %v); want whole GOPs dropped", dropped, gops, len(tags), len(tags) > 0 && tags[0].keyframe)
	}

	q = newQueue(100*time.Millisecond, 1<<30, true)
	q.grace = 200 * time.Millisecond
	go func() {
		for got := 0; got < 300; {
			if _, ok := q.pop(context.Background()); ok {
				got++
			}
			time.Sleep(time.Millisecond) // slower than the producer, well within the grace
		}
	}()
	for g := 0; g < 10; g++ {
		pushGOP(q, g*30, 30)
	}
	if dropped, _, _, _ := q.stats(); dropped != 0 {
		t.Fatalf("a writer that sends: %d frames dropped", dropped)
	}
}

// The steady state allocates nothing: buffers and the ring are reused.
func TestQueueSteadyStateAllocs(t *testing.T) {
	q := newQueue(time.Second, 1<<30, false)
	pushGOP(q, 0, 30)
	popAll(q)
	i := 30
	allocs := testing.AllocsPerRun(1000, func() {
		b := append(q.buffer(), 1, 2, 3)
		q.push(context.Background(), tag{kind: kindVideo, keyframe: i%30 == 0, time: time.Duration(i) * time.Second / 30, body: b})
		t, _ := q.pop(context.Background())
		q.recycle(t.body)
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame", allocs)
	}
}
