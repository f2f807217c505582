package stream

import (
	"context"
	"sync"
	"time"
)

// tagKind says which RTMP message a queued tag becomes.
type tagKind uint8

const (
	kindVideo tagKind = iota // FLV video tag body (AVCC)
	kindData                 // AMF0 data message body (onTextData)
)

// tag is one message waiting for the writer. body is a buffer from the queue's free list.
type tag struct {
	kind     tagKind
	keyframe bool
	time     time.Duration // stream time (capture clock)
	body     []byte
	config   *decoderConfig // the SPS/PPS this video tag decodes with
}

// queue is the bounded hand-off between the source goroutine and the writer goroutine.
// It holds at most maxSpan of stream time (and maxBytes); past that it drops the oldest whole
// GOP — never part of one — so what the writer sends always decodes.
type queue struct {
	maxSpan  time.Duration
	maxBytes int
	lossless bool // block the producer instead of dropping (unpaced files, benchmarks)

	mu      sync.Mutex
	tags    ring
	bytes   int
	free    [][]byte
	notify  chan struct{} // a tag was pushed
	space   chan struct{} // a tag was popped (lossless producers wait on it)
	dropped uint64        // video frames dropped
	gops    uint64        // times a GOP (or its tail) was dropped
	waitKey bool          // after dropping everything, drop until the next keyframe
	closed  bool
}

// ring is a FIFO of tags that reuses its array: no allocation per tag once it has grown.
type ring struct {
	buf  []tag
	head int
	n    int
}

func (r *ring) len() int      { return r.n }
func (r *ring) at(i int) *tag { return &r.buf[(r.head+i)%len(r.buf)] }
func (r *ring) push(t tag) {
	if r.n == len(r.buf) {
		nb := make([]tag, max(16, 2*len(r.buf)))
		for i := 0; i < r.n; i++ {
			nb[i] = *r.at(i)
		}
		r.buf, r.head = nb, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = t
	r.n++
}
func (r *ring) pop() tag {
	p := r.at(0)
	t := *p
	*p = tag{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return t
}

func newQueue(maxSpan time.Duration, maxBytes int, lossless bool) *queue {
	return &queue{maxSpan: maxSpan, maxBytes: maxBytes, lossless: lossless,
		notify: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

// buffer returns an empty buffer from the free list, for the producer to fill and push.
func (q *queue) buffer() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n := len(q.free); n > 0 {
		b := q.free[n-1]
		q.free = q.free[:n-1]
		return b[:0]
	}
	return make([]byte, 0, 64*1024)
}

// recycle returns a body to the free list. The list is bounded: buffers beyond it are left
// to the garbage collector, so a burst never pins its peak memory.
func (q *queue) recycle(b []byte) {
	if cap(b) == 0 || cap(b) > 4<<20 {
		return
	}
	q.mu.Lock()
	if len(q.free) < 256 {
		q.free = append(q.free, b)
	}
	q.mu.Unlock()
}

// push adds a tag, dropping old GOPs first when the queue is over its bounds. It blocks only
// in lossless mode, until the writer makes room or ctx ends.
func (q *queue) push(ctx context.Context, t tag) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		q.recycle(t.body)
		return
	}
	if t.kind == kindVideo && q.waitKey {
		if !t.keyframe {
			q.dropped++
			q.mu.Unlock()
			q.recycle(t.body)
			return
		}
		q.waitKey = false
	}
	for q.lossless && q.overLocked(t) && q.tags.len() > 0 {
		q.mu.Unlock()
		select {
		case <-q.space:
		case <-ctx.Done():
			q.recycle(t.body)
			return
		}
		q.mu.Lock()
	}
	for !q.lossless && q.overLocked(t) && q.tags.len() > 0 {
		q.dropGOPLocked()
	}
	if t.kind == kindVideo && q.waitKey && !t.keyframe {
		q.dropped++
		q.mu.Unlock()
		q.recycle(t.body)
		return
	}
	q.waitKey = false
	q.tags.push(t)
	q.bytes += len(t.body)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *queue) overLocked(next tag) bool {
	if q.bytes+len(next.body) > q.maxBytes {
		return true
	}
	return q.tags.len() > 0 && next.time-q.tags.at(0).time > q.maxSpan
}

// dropGOPLocked drops the oldest tags up to the next keyframe. Without a keyframe in the
// queue it drops everything and makes the producer side wait for one.
func (q *queue) dropGOPLocked() {
	n := 1 // the head goes even when it is a keyframe: that is the GOP being dropped
	for n < q.tags.len() && !q.tags.at(n).isKeyframe() {
		n++
	}
	if n == q.tags.len() {
		q.waitKey = true
	}
	q.dropLocked(n)
	q.gops++
}

// pop returns the oldest tag, waiting until there is one or ctx ends.
func (q *queue) pop(ctx context.Context) (tag, bool) {
	for {
		q.mu.Lock()
		if q.tags.len() > 0 {
			t := q.tags.pop()
			q.bytes -= len(t.body)
			q.mu.Unlock()
			select {
			case q.space <- struct{}{}:
			default:
			}
			return t, true
		}
		q.mu.Unlock()
		select {
		case <-q.notify:
		case <-ctx.Done():
			return tag{}, false
		}
	}
}

// skipToKeyframe drops queued video tags before the first keyframe (after a reconnect the
// first tag must be a keyframe), and reports whether one is queued.
func (q *queue) skipToKeyframe() {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for n < q.tags.len() && !q.tags.at(n).isKeyframe() {
		n++
	}
	q.dropLocked(n)
	if q.tags.len() == 0 {
		q.waitKey = true
	}
}

// dropLocked drops the n oldest tags, counting the video frames among them.
func (q *queue) dropLocked(n int) {
	for i := 0; i < n; i++ {
		t := q.tags.pop()
		if t.kind == kindVideo {
			q.dropped++
		}
		q.bytes -= len(t.body)
		if len(q.free) < 256 && cap(t.body) <= 4<<20 {
			q.free = append(q.free, t.body)
		}
	}
}

func (t *tag) isKeyframe() bool { return t.kind == kindVideo && t.keyframe }

// close drops everything and makes later pushes no-ops.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.tags, q.bytes, q.free = ring{}, 0, nil
	q.mu.Unlock()
}

func (q *queue) stats() (dropped, gops uint64, queued int, bytes int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped, q.gops, q.tags.len(), q.bytes
}
