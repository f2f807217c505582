package stream

import (
	"context"
	"sync"
	"time"

	"github.com/camnode/camnode/media/rtmp"
)

// tagKind says which RTMP message a queued tag becomes.
type tagKind uint8

const (
	kindVideo tagKind = iota // FLV video tag body (AVCC)
	kindData                 // AMF0 data message body (onTextData), on the video's clock
	kindAudio                // FLV audio tag body (raw AAC)
)

// mediaKinds is the RTMP message each kind of tag goes out as.
var mediaKinds = [...]rtmp.MediaKind{kindVideo: rtmp.Video, kindData: rtmp.Data, kindAudio: rtmp.Audio}

// holdback is how far (in stream time) one track may run ahead in the queue while the
// other has nothing to interleave with it, before the writer sends it anyway: audio and
// video go out in timestamp order, but a late or failed audio source never holds the
// video back for longer than this (nor a stalled video the audio).
const holdback = 500 * time.Millisecond

// tag is one message waiting for the writer. body is a buffer from the queue's free list.
type tag struct {
	kind     tagKind
	keyframe bool
	time     time.Duration // stream time (capture clock)
	body     []byte
	config   *decoderConfig // the SPS/PPS this video tag decodes with
	audio    *audioConfig   // the AudioSpecificConfig this audio tag decodes with
}

// track is 0 for video and what travels on its clock (data), 1 for audio.
func (t *tag) track() int {
	if t.kind == kindAudio {
		return 1
	}
	return 0
}

// queue is the bounded hand-off between the producers (the video source's goroutine and
// the audio source's) and the writer goroutine. It keeps tags in timestamp order, video
// before audio of the same time, and holds at most maxSpan of stream time (and maxBytes);
// past that it drops the oldest whole GOP — never part of one — with the audio of the same
// span, so what the writer sends always decodes and the tracks never drift apart.
type queue struct {
	maxSpan  time.Duration
	maxBytes int
	lossless bool // block the producer instead of dropping (unpaced files, benchmarks)
	// grace bounds how long a lossless producer waits for a writer that has sent nothing
	// for that long (0: no bound); past it the queue drops like a lossy one.
	grace time.Duration

	mu      sync.Mutex
	tags    ring
	bytes   int
	free    [][]byte
	small   [][]byte      // free audio buffers, apart from the video-sized ones
	notify  chan struct{} // a tag was pushed
	space   chan struct{} // a tag was popped (lossless producers wait on it)
	dropped uint64        // video frames dropped
	gops    uint64        // times a GOP (or its tail) was dropped
	waitKey bool          // after dropping everything, drop until the next keyframe
	closed  bool

	// With an audio track the writer waits for both tracks (see ready).
	hasAudio     bool
	newest       [2]time.Duration // time of the newest tag pushed, per track; -1 before the first
	pushedAt     [2]time.Time     // when the newest tag of each track was pushed
	floor        time.Duration    // audio before this time has no video left to go with
	popped       time.Duration    // time of the newest tag popped
	lastPop      time.Time        // when the writer last took a tag (with grace only)
	audioDropped uint64
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

// insert adds t in timestamp order: after every tag of an earlier time, and after the tags
// of the same time unless t is video and they are audio (video leads at equal times, so a
// keyframe comes before the audio it starts). Producers push in order per track, so t
// moves past a few tags of the other track at most.
func (r *ring) insert(t tag) {
	r.push(t)
	for i := r.n - 1; i > 0; i-- {
		prev := r.at(i - 1)
		if prev.time < t.time || prev.time == t.time && !(t.kind != kindAudio && prev.kind == kindAudio) {
			break
		}
		*r.at(i), *prev = *prev, *r.at(i)
	}
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
		notify: make(chan struct{}, 1), space: make(chan struct{}, 1), newest: [2]time.Duration{-1, -1}}
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

// audioBuffer returns an empty buffer for an audio tag: AAC frames are small, and keeping
// them out of the 64 KiB video buffers keeps a queue of audio from costing megabytes.
func (q *queue) audioBuffer() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n := len(q.small); n > 0 {
		b := q.small[n-1]
		q.small = q.small[:n-1]
		return b[:0]
	}
	return make([]byte, 0, 1024)
}

// freeLocked puts a body on the free list its size belongs to, if there is room.
func (q *queue) freeLocked(b []byte) {
	switch {
	case cap(b) == 0 || cap(b) > 4<<20:
	case cap(b) <= smallBuffer:
		if len(q.small) < 512 {
			q.small = append(q.small, b)
		}
	case len(q.free) < 256:
		q.free = append(q.free, b)
	}
}

// smallBuffer is the largest capacity kept on the audio free list.
const smallBuffer = 16 << 10

// recycle returns a body to the free list. The list is bounded: buffers beyond it are left
// to the garbage collector, so a burst never pins its peak memory.
func (q *queue) recycle(b []byte) {
	if cap(b) == 0 || cap(b) > 4<<20 {
		return
	}
	q.mu.Lock()
	q.freeLocked(b)
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
	if t.kind == kindAudio {
		q.hasAudio = true
		// Audio of a span whose video was dropped, or that would go out after later
		// tags already went: leave it out, so the tracks stay in step and in order.
		if q.waitKey || t.time < q.floor || t.time < q.popped {
			q.audioDropped++
			q.mu.Unlock()
			q.recycle(t.body)
			return
		}
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
	if q.lastPop.IsZero() {
		q.lastPop = time.Now() // the writer's grace starts with the first tag
	}
	for q.lossless && q.overLocked(t) && q.tags.len() > 0 {
		var grace *time.Timer
		var graceC <-chan time.Time
		if q.grace > 0 {
			left := q.grace - time.Since(q.lastPop)
			if left <= 0 {
				break // the writer sends nothing (a dead or stalled ingest): drop below
			}
			grace = time.NewTimer(left)
			graceC = grace.C
		}
		q.mu.Unlock()
		select {
		case <-q.space:
		case <-graceC:
		case <-ctx.Done():
			q.recycle(t.body)
			return
		}
		if grace != nil {
			grace.Stop()
		}
		q.mu.Lock()
	}
	// Over the bounds still (not lossless, or its writer past the grace): the oldest GOPs go.
	for q.overLocked(t) && q.tags.len() > 0 {
		q.dropGOPLocked()
	}
	if t.kind == kindAudio && (q.waitKey || t.time < q.floor) {
		q.audioDropped++
		q.mu.Unlock()
		q.recycle(t.body)
		return
	}
	if t.kind == kindVideo && q.waitKey && !t.keyframe {
		q.dropped++
		q.mu.Unlock()
		q.recycle(t.body)
		return
	}
	if t.kind == kindVideo && q.waitKey {
		q.floor = max(q.floor, t.time)
	}
	if t.kind != kindAudio {
		q.waitKey = false
	}
	wasReady := q.readyLocked()
	q.tags.insert(t)
	q.newest[t.track()] = max(q.newest[t.track()], t.time)
	if q.lossless && q.hasAudio {
		q.pushedAt[t.track()] = time.Now()
	}
	q.bytes += len(t.body)
	wake := q.wakeLocked(&t, wasReady)
	q.mu.Unlock()
	if wake {
		q.wake()
	}
}

// wakeLocked decides whether the push of t wakes the writer. A picture wakes it as soon
// as it may go: a picture that waited for the next one would be a picture interval (33 ms
// at 30 fps) older when a viewer sees it. Tags share a write only when the writer is
// already behind: it sends everything ready before it flushes (Publisher.session), so
// what came while it was writing goes out together. Audio that runs ahead of the video
// does not wake it (it waits in the queue for the picture it goes with).
func (q *queue) wakeLocked(t *tag, wasReady bool) bool {
	switch {
	case !q.readyLocked():
		return false
	case t.kind == kindVideo:
		return true
	default:
		// Audio or data: wake for what it made ready (the other track late or gone), not
		// for what was ready already (the writer was woken for it).
		return !wasReady
	}
}

// wake makes a waiting writer look at the queue.
func (q *queue) wake() {
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
	if q.tags.len() > 0 {
		q.floor = max(q.floor, q.tags.at(0).time)
	}
}

// readyLocked reports whether the oldest tag may go: with an audio track, once the other
// track has caught up with it (nothing older can come), or once its own track has run
// holdback ahead of it (the other is late or gone).
func (q *queue) readyLocked() bool {
	if q.tags.len() == 0 {
		return false
	}
	if !q.hasAudio {
		return true
	}
	h := q.tags.at(0)
	own := h.track()
	if h.time <= q.newest[1-own] {
		return true
	}
	if q.lossless {
		// Unpaced producers outrun each other by any amount of stream time, and nothing is
		// late: wait for the other track for as long as it is alive.
		return time.Since(q.pushedAt[1-own]) > losslessGiveUp
	}
	return q.newest[own]-h.time >= holdback
}

// losslessGiveUp is how long (wall time) a lossless queue waits for a track that pushes
// nothing before it sends the other alone: an audio source that is gone for good must not
// stop an unpaced video; one that lags keeps the order.
const losslessGiveUp = 10 * time.Second

// pop returns the oldest tag, waiting until there is one that may go or ctx ends.
func (q *queue) pop(ctx context.Context) (tag, bool) {
	for {
		q.mu.Lock()
		if t, ok := q.popLocked(); ok {
			q.mu.Unlock()
			q.madeSpace()
			return t, true
		}
		// A lossless queue that waits for a track re-checks when it may give up on it.
		var giveUp *time.Timer
		var giveUpC <-chan time.Time
		if q.lossless && q.hasAudio && q.tags.len() > 0 {
			giveUp = time.NewTimer(losslessGiveUp)
			giveUpC = giveUp.C
		}
		q.mu.Unlock()
		select {
		case <-q.notify:
		case <-giveUpC:
		case <-ctx.Done():
			return tag{}, false
		}
		if giveUp != nil {
			giveUp.Stop()
		}
	}
}

// popNow returns the oldest tag if it may go now, without waiting: the writer sends what
// is ready and flushes once before it waits.
func (q *queue) popNow() (tag, bool) {
	q.mu.Lock()
	t, ok := q.popLocked()
	q.mu.Unlock()
	if ok {
		q.madeSpace()
	}
	return t, ok
}

func (q *queue) popLocked() (tag, bool) {
	if !q.readyLocked() {
		return tag{}, false
	}
	t := q.tags.pop()
	q.popped = max(q.popped, t.time)
	q.bytes -= len(t.body)
	if q.grace > 0 {
		q.lastPop = time.Now()
	}
	return t, true
}

// madeSpace tells a lossless producer waiting for room that a tag went.
func (q *queue) madeSpace() {
	select {
	case q.space <- struct{}{}:
	default:
	}
}

// skipToKeyframe drops queued tags before the first keyframe (after a reconnect the first
// tag must be a keyframe, and no audio may come before it).
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
	} else {
		q.floor = max(q.floor, q.tags.at(0).time)
	}
}

// dropLocked drops the n oldest tags, counting the video and audio frames among them.
func (q *queue) dropLocked(n int) {
	for i := 0; i < n; i++ {
		t := q.tags.pop()
		switch t.kind {
		case kindVideo:
			q.dropped++
		case kindAudio:
			q.audioDropped++
		}
		q.bytes -= len(t.body)
		q.freeLocked(t.body)
	}
}

func (t *tag) isKeyframe() bool { return t.kind == kindVideo && t.keyframe }

// close drops everything and makes later pushes no-ops.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.tags, q.bytes, q.free, q.small = ring{}, 0, nil, nil
	q.mu.Unlock()
}

func (q *queue) stats() (dropped, gops uint64, queued int, bytes int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped, q.gops, q.tags.len(), q.bytes
}

// dropAudio counts an audio frame dropped outside the queue.
func (q *queue) dropAudio() {
	q.mu.Lock()
	q.audioDropped++
	q.mu.Unlock()
}

func (q *queue) audioStats() (dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.audioDropped
}

// expectAudio makes the writer wait for audio from the start (the track was announced).
func (q *queue) expectAudio() {
	q.mu.Lock()
	q.hasAudio = true
	q.mu.Unlock()
}
