package audio

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media"
)

// recorder keeps what an ExecSource delivered and reported.
type recorder struct {
	mu       sync.Mutex
	frames   []media.AudioFrame
	statuses []Status
}

func (r *recorder) deliver(f *media.AudioFrame) error {
	c := *f
	c.Data = bytes.Clone(f.Data)
	r.mu.Lock()
	r.frames = append(r.frames, c)
	r.mu.Unlock()
	return nil
}

func (r *recorder) status(s Status) {
	r.mu.Lock()
	r.statuses = append(r.statuses, s)
	r.mu.Unlock()
}

func (r *recorder) snapshot() ([]media.AudioFrame, []Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]media.AudioFrame(nil), r.frames...), append([]Status(nil), r.statuses...)
}

// runExec runs src until done says so (or a minute passes) and returns what it delivered.
func runExec(t *testing.T, src *ExecSource, done func([]media.AudioFrame, []Status) bool) ([]media.AudioFrame, []Status) {
	t.Helper()
	rec := &recorder{}
	src.OnStatus = rec.status
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() { ended <- src.RunAudio(ctx, rec.deliver) }()
	deadline := time.Now().Add(time.Minute)
	for !done(rec.snapshot()) {
		if time.Now().After(deadline) {
			cancel()
			<-ended
			f, s := rec.snapshot()
			t.Fatalf("gave up after a minute: %d frames, statuses %v", len(f), s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-ended; err != nil {
		t.Fatalf("RunAudio: %v", err)
	}
	return rec.snapshot()
}

// checkTimeline checks that every frame is stamped anchor + k*1024/rate for a k that grows
// by one from frame to frame, except across a stall, where whole frames may be left out.
// It returns the number of frames left out.
func checkTimeline(t *testing.T, frames []media.AudioFrame) (missing int64) {
	t.Helper()
	anchor, prev := frames[0].Time, int64(0)
	for i, f := range frames[1:] {
		rate := int64(f.Config.SampleRate)
		k := (int64(f.Time-anchor)*rate/int64(time.Second) + 512) / 1024
		if frameTime(k, f.Config.SampleRate) != f.Time-anchor || k <= prev {
			t.Fatalf("frame %d at %v is not on the timeline (anchor %v, previous k %d)", i+1, f.Time, anchor, prev)
		}
		missing += k - prev - 1
		prev = k
	}
	return missing
}

func isSilence(f media.AudioFrame) bool { return bytes.Equal(f.Data, silentFrame(f.Config.Channels)) }

// A program that plays a tone for a second and exits: its frames, then silence at once in
// the same format (audio_failed), then its frames again after the restart, on one unbroken
// timeline.
func TestExecFillsSilenceAndRestarts(t *testing.T) {
	peers.Require(t, "ffmpeg")
	src, err := Exec("ffmpeg -nostdin -v error -re -f lavfi -i sine=frequency=1000:sample_rate=48000 -t 1 -c:a aac -f adts -")
	if err != nil {
		t.Fatal(err)
	}
	src.RestartMin = 300 * time.Millisecond
	frames, statuses := runExec(t, src, func(f []media.AudioFrame, s []Status) bool {
		return len(s) >= 2 && !s[1].Failed && len(f) > 0 && !isSilence(f[len(f)-1])
	})
	if !statuses[0].Failed || !strings.Contains(statuses[0].Err.Error(), "audio: exec source: ffmpeg ended with exit status 0") || strings.Contains(statuses[0].Err.Error(), "sine") {
		t.Errorf("first status %+v, want a failure naming ffmpeg and not its arguments", statuses[0])
	}
	if n := checkTimeline(t, frames); n != 0 {
		t.Errorf("%d frames missing from the timeline", n)
	}
	// tone, silence, tone
	var runs []bool
	for _, f := range frames {
		if f.Config.SampleRate != 48000 || f.Config.Channels != 1 {
			t.Fatalf("frame config %+v", f.Config)
		}
		if s := isSilence(f); len(runs) == 0 || runs[len(runs)-1] != s {
			runs = append(runs, s)
		}
	}
	if len(runs) != 3 || runs[0] || !runs[1] || runs[2] {
		t.Fatalf("runs of silence %v, want [false true false]", runs)
	}
}

// What is not ADTS AAC-LC fails with a reason that says so, and silence stands in.
func TestExecRejectsWhatIsNotAAC(t *testing.T) {
	src, err := Exec("echo this is not audio")
	if err != nil {
		t.Fatal(err)
	}
	src.SampleRate, src.Channels = 44100, 2
	frames, statuses := runExec(t, src, func(f []media.AudioFrame, s []Status) bool { return len(s) > 0 && len(f) > 20 })
	if err := statuses[0].Err; !statuses[0].Failed || !errors.Is(err, ErrADTS) || !strings.Contains(err.Error(), "audio: echo output: ADTS frame 0: not ADTS AAC: no syncword") {
		t.Errorf("status %+v, want ErrADTS naming echo", statuses[0])
	}
	if n := checkTimeline(t, frames); n != 0 {
		t.Errorf("%d frames missing from the timeline", n)
	}
	for _, f := range frames {
		if !isSilence(f) || f.Config.SampleRate != 44100 || f.Config.Channels != 2 {
			t.Fatalf("frame % x %+v, want 44100 Hz stereo silence", f.Data, f.Config)
		}
	}
}

// A program that keeps running but stops writing is a stall: stopped, silence instead.
func TestExecStall(t *testing.T) {
	peers.Require(t, "ffmpeg")
	src, err := Exec(`sh -c "ffmpeg -nostdin -v error -f lavfi -i sine=sample_rate=48000 -t 0.5 -c:a aac -f adts -; exec sleep 600"`)
	if err != nil {
		t.Fatal(err)
	}
	src.StallTimeout = 500 * time.Millisecond
	src.RestartMin = time.Hour
	frames, statuses := runExec(t, src, func(f []media.AudioFrame, s []Status) bool {
		return len(s) > 0 && len(f) > 0 && isSilence(f[len(f)-1]) && f[len(f)-1].Time-s0(f) > 3*time.Second
	})
	if !statuses[0].Failed || !strings.Contains(statuses[0].Err.Error(), "sh wrote no audio for 500ms") {
		t.Errorf("status %+v, want a stall", statuses[0])
	}
	// The frames of the stall up to MaxLag before its detection are left out (they would
	// reach the publisher after video it sent), at most the stall timeout's worth.
	if n := checkTimeline(t, frames); n > int64(src.StallTimeout/frameTime(1, 48000))+1 {
		t.Errorf("%d frames left out for a 500 ms stall", n)
	}
}

func s0(f []media.AudioFrame) time.Duration { return f[0].Time }
