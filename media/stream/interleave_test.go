package stream

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// pushAudio pushes audio frames of 1024 samples at 48 kHz, frame i at i*21.33 ms, for
// frames [first, first+n).
func pushAudio(q *queue, first, n int) {
	for i := first; i < first+n; i++ {
		q.push(context.Background(), tag{kind: kindAudio, time: time.Duration(i) * 1024 * time.Second / 48000,
			body: append(q.audioBuffer(), 0xaf, 0x01, byte(i))})
	}
}

// popReady pops the tags that may go now, stopping at the first that has to wait.
func popReady(q *queue) []tag {
	var out []tag
	for {
		q.mu.Lock()
		ready := q.readyLocked()
		q.mu.Unlock()
		if !ready {
			return out
		}
		t, _ := q.pop(context.Background())
		out = append(out, t)
	}
}

// Tags leave in timestamp order whatever order the two producers pushed them in, video
// before audio of the same time.
func TestQueueInterleavesByTimestamp(t *testing.T) {
	q := newQueue(time.Hour, 1<<30, false)
	q.expectAudio()
	pushAudio(q, 0, 10) // audio ran ahead: 0 .. 192 ms
	pushGOP(q, 0, 8)    // video: 0 .. 233 ms
	pushAudio(q, 10, 2) // 213, 234 ms
	tags := popReady(q)
	var video, audio int
	for i, tg := range tags {
		if i > 0 && tg.time < tags[i-1].time {
			t.Fatalf("tag %d at %v after %v", i, tg.time, tags[i-1].time)
		}
		if i > 0 && tg.time == tags[i-1].time && tg.kind == kindVideo && tags[i-1].kind == kindAudio {
			t.Fatalf("tag %d: video after audio of the same time %v", i, tg.time)
		}
		if tg.kind == kindAudio {
			audio++
		} else {
			video++
		}
	}
	if !tags[0].keyframe {
		t.Fatalf("first tag %+v, want the keyframe", tags[0])
	}
	// The last audio frame (234 ms) waits: no video has reached it yet.
	if video != 8 || audio != 11 {
		t.Fatalf("%d video and %d audio tags went, want 8 and 11", video, audio)
	}
}

// With an audio track the writer waits for it, but never longer than holdback of video:
// a failed audio source does not stop the video.
func TestQueueHoldsVideoForAudioAtMostHoldback(t *testing.T) {
	q := newQueue(time.Hour, 1<<30, false)
	q.expectAudio()
	pushGOP(q, 0, 15) // 0 .. 467 ms: within holdback of the first
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if tg, ok := q.pop(ctx); ok {
		t.Fatalf("popped %+v while video is within holdback and no audio came", tg)
	}
	pushGOP(q, 15, 1) // 500 ms: the first frame is holdback behind
	if tg, ok := q.pop(context.Background()); !ok || !tg.keyframe || tg.time != 0 {
		t.Fatalf("popped %+v, %v; want the keyframe at 0", tg, ok)
	}
	// Audio that would now go out after later video is left out.
	pushAudio(q, 0, 1)
	if got := q.audioStats(); got != 0 {
		t.Fatalf("audio at 0 counted as dropped (%d) though only video at 0 went", got)
	}
	if tg := popReady(q); len(tg) != 1 || tg[0].kind != kindAudio {
		t.Fatalf("popped %+v, want the audio at 0 (it ties with the video that went)", tg)
	}
	pushGOP(q, 16, 1) // 533 ms: the video at 33 ms is holdback behind
	if tg := popReady(q); len(tg) != 1 || tg[0].time != 33333333 {
		t.Fatalf("popped %+v, want the video at 33 ms", tg)
	}
	pushAudio(q, 1, 1) // 21 ms: behind the video at 33 ms that went
	if got := q.audioStats(); got != 1 {
		t.Fatalf("%d audio frames dropped, want the late one", got)
	}
}

// A slow network drops whole GOPs, and the audio of the same span with them: what is left
// starts with a keyframe, has no audio before it, and the tracks cover the same time.
func TestQueueGOPDropTakesItsAudio(t *testing.T) {
	q := newQueue(time.Second, 1<<30, false)
	for g := 0; g < 5; g++ { // five GOPs of 0.5 s, audio beside them
		pushGOP(q, g*15, 15)
		a0 := g * 15 * 48000 / 30 / 1024
		pushAudio(q, a0, (g+1)*15*48000/30/1024-a0)
	}
	dropped, gops, _, _ := q.stats()
	audioDropped := q.audioStats()
	tags := popReady(q)
	if !tags[0].keyframe {
		t.Fatalf("first tag after drops %+v, want a keyframe", tags[0])
	}
	if gops == 0 || dropped%15 != 0 {
		t.Fatalf("dropped %d frames in %d GOPs", dropped, gops)
	}
	for _, tg := range tags {
		if tg.kind == kindAudio && tg.time < tags[0].time {
			t.Fatalf("audio at %v kept before the first video at %v", tg.time, tags[0].time)
		}
	}
	// Every audio frame before the first kept keyframe went with its GOP.
	wantAudioDropped := uint64((tags[0].time*48000/time.Second + 1023) / 1024)
	if audioDropped != wantAudioDropped {
		t.Fatalf("%d audio frames dropped, want %d (those before %v)", audioDropped, wantAudioDropped, tags[0].time)
	}
}

// After everything was dropped, audio waits for the keyframe that video waits for.
func TestQueueAudioWaitsForKeyframe(t *testing.T) {
	q := newQueue(time.Hour, 1<<30, false)
	q.expectAudio()
	q.skipToKeyframe() // a reconnect with an empty queue
	pushAudio(q, 0, 5)
	q.push(context.Background(), tag{kind: kindVideo, time: 40 * time.Millisecond, body: q.buffer()}) // P: dropped
	pushGOP(q, 2, 3)                                                                                  // keyframe at 66 ms
	pushAudio(q, 5, 10)                                                                               // 106 .. 298 ms
	tags := popReady(q)
	if len(tags) == 0 || !tags[0].keyframe {
		t.Fatalf("first tag %+v, want the keyframe", tags)
	}
	if got := q.audioStats(); got != 5 {
		t.Fatalf("%d audio frames dropped, want the 5 before the keyframe", got)
	}
}

// The steady state with audio allocates nothing either.
func TestQueueSteadyStateAllocsWithAudio(t *testing.T) {
	q := newQueue(time.Second, 1<<30, false)
	q.expectAudio()
	pushGOP(q, 0, 1)
	pushAudio(q, 0, 2)
	popReady(q)
	i := 1
	allocs := testing.AllocsPerRun(1000, func() {
		b := append(q.buffer(), 1, 2, 3)
		q.push(context.Background(), tag{kind: kindVideo, keyframe: i%30 == 0, time: time.Duration(i) * time.Second / 30, body: b})
		a := append(q.audioBuffer(), 0xaf, 1)
		q.push(context.Background(), tag{kind: kindAudio, time: time.Duration(i) * time.Second / 30, body: a})
		for range 2 {
			t, _ := q.pop(context.Background())
			q.recycle(t.body)
		}
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame", allocs)
	}
}

// The writer wakes for every picture, at once (a picture that waited for the next would be
// a picture interval older at the viewer); audio that runs ahead never wakes it, and audio
// that makes a tag ready by itself (the video late) does.
func TestQueueWakesTheWriterPerPicture(t *testing.T) {
	q := newQueue(time.Hour, 1<<30, false)
	q.expectAudio()
	woken := func() bool {
		select {
		case <-q.notify:
			return true
		default:
			return false
		}
	}
	const frame = time.Second / 30
	video := func(i int, key bool) {
		q.push(context.Background(), tag{kind: kindVideo, keyframe: key, time: time.Duration(i) * frame, body: append(q.buffer(), byte(i))})
	}
	next := 0                              // the next audio frame, 1024 samples at 48 kHz
	audioUntil := func(at time.Duration) { // up to at and one frame past it, as audio.VideoTrack
		for next == 0 || time.Duration(next-1)*1024*time.Second/48000 < at {
			q.push(context.Background(), tag{kind: kindAudio, time: time.Duration(next) * 1024 * time.Second / 48000,
				body: append(q.audioBuffer(), 0xaf, 0x01)})
			next++
		}
	}
	var wakes []int
	for i := 0; i < 10; i++ {
		audioUntil(time.Duration(i) * frame)
		if woken() {
			t.Fatalf("the audio up to picture %d woke the writer", i)
		}
		video(i, i == 0 || i == 7)
		if woken() {
			wakes = append(wakes, i)
			if !slices.ContainsFunc(popReady(q), func(tg tag) bool { return tg.kind == kindVideo && tg.time == time.Duration(i)*frame }) {
				t.Fatalf("woken for picture %d, the writer could not take it", i)
			}
		}
	}
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; fmt.Sprint(wakes) != fmt.Sprint(want) {
		t.Fatalf("the writer woke at pictures %v, want %v", wakes, want)
	}
	// The video stops; the audio runs holdback past it: it wakes the writer by itself.
	popReady(q)
	audioUntil(10*frame + holdback)
	if !woken() {
		t.Fatal("audio alone, holdback past the last picture, did not wake the writer")
	}
}
