package file

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/h264"
)

// testdata/gop10_25fps.h264: 320x240, 25 fps in its VUI, 30 frames, IDR every 10.
// testdata/three_10fps.h264: 64x48 4:2:2, 10 fps in its VUI, 3 frames.
const (
	clipFrames = 30
	clipFrame  = 40 * time.Millisecond
)

var errEnough = errors.New("enough")

type delivery struct {
	time     time.Duration
	keyframe bool
	nalus    int
	wall     time.Duration // fake wall clock at delivery, from the first frame
}

// fakeClock advances only when the source sleeps or a test moves it.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	return ctx.Err()
}

// collect runs src until it has delivered n access units (then Run's error must be
// errEnough) or Run ends by itself.
func collect(t *testing.T, src *Source, n int, during func(i int)) ([]delivery, error) {
	t.Helper()
	var got []delivery
	var start time.Time
	now := time.Now
	if src.clock != nil {
		now = src.clock.Now
	}
	err := src.Run(context.Background(), func(au *media.AccessUnit) error {
		now := now()
		if len(got) == 0 {
			start = now
		}
		got = append(got, delivery{au.Time, au.Keyframe, len(au.NALUs), now.Sub(start)})
		if au.Keyframe != h264.IsKeyframe(au.NALUs) {
			t.Errorf("frame %d: Keyframe %v disagrees with its NAL units", len(got)-1, au.Keyframe)
		}
		if during != nil {
			during(len(got) - 1)
		}
		if len(got) == n {
			return errEnough
		}
		return nil
	})
	return got, err
}

func TestLoopsWithContinuousTime(t *testing.T) {
	src, err := Open("testdata/gop10_25fps.h264", Options{Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	const passes = 3
	got, err := collect(t, src, passes*clipFrames, nil)
	if !errors.Is(err, errEnough) {
		t.Fatalf("Run returned %v, want the deliver error", err)
	}
	if len(got) != passes*clipFrames {
		t.Fatalf("got %d access units, want %d", len(got), passes*clipFrames)
	}
	for i, d := range got {
		if want := time.Duration(i) * clipFrame; d.time != want {
			t.Errorf("frame %d at %v, want %v", i, d.time, want)
		}
		if want := i%10 == 0; d.keyframe != want {
			t.Errorf("frame %d keyframe %v, want %v", i, d.keyframe, want)
		}
	}
	// Parameter sets come with each pass's first frame.
	if got[0].nalus < 3 || got[clipFrames].nalus != got[0].nalus {
		t.Errorf("first frames of passes hold %d and %d NAL units", got[0].nalus, got[clipFrames].nalus)
	}
}

func TestOnceEndsWithEOF(t *testing.T) {
	src, err := Open("testdata/gop10_25fps.h264", Options{Unpaced: true, Once: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect(t, src, 1000, nil)
	if !errors.Is(err, ErrPlayedOnce) || !errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "gop10_25fps.h264") {
		t.Fatalf("Run returned %v, want io.EOF naming the file", err)
	}
	if len(got) != clipFrames {
		t.Errorf("played %d frames once, want %d", len(got), clipFrames)
	}
}

func TestFrameRateChangeKeepsTimeContinuous(t *testing.T) {
	a, _ := os.ReadFile("testdata/gop10_25fps.h264")
	b, _ := os.ReadFile("testdata/three_10fps.h264")
	path := filepath.Join(t.TempDir(), "mixed.h264")
	if err := os.WriteFile(path, append(a, b...), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := Open(path, Options{Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := collect(t, src, 2*(clipFrames+3), nil)
	var want []time.Duration
	var at time.Duration
	for range 2 {
		for range clipFrames {
			want = append(want, at)
			at += clipFrame
		}
		for range 3 {
			want = append(want, at)
			at += 100 * time.Millisecond
		}
	}
	for i := range want {
		if i >= len(got) || got[i].time != want[i] {
			t.Fatalf("frame %d: got %+v, want time %v", i, got[min(i, len(got)-1)], want[i])
		}
	}
}

func TestFallbackFrameRate(t *testing.T) {
	// Slices without any SPS: the frame rate comes from Options.
	var stream []byte
	for i := range 5 {
		typ := byte(0x41)
		if i == 0 {
			typ = 0x65
		}
		stream = append(stream, 0, 0, 0, 1, typ, 0x88, 0x80)
	}
	src := New("synthetic", func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(stream)), nil },
		Options{FPS: 10, Unpaced: true, Once: true})
	got, err := collect(t, src, 100, nil)
	if !errors.Is(err, io.EOF) || len(got) != 5 {
		t.Fatalf("got %d frames and %v, want 5 and io.EOF", len(got), err)
	}
	for i, d := range got {
		if want := time.Duration(i) * 100 * time.Millisecond; d.time != want || d.keyframe != (i == 0) {
			t.Errorf("frame %d: %+v, want time %v", i, d, want)
		}
	}
}

func TestPacingFollowsMediaClock(t *testing.T) {
	src, err := Open("testdata/gop10_25fps.h264", Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: time.Unix(1e9, 0)}
	src.clock = clk
	// The consumer stalls for 60 ms at frame 5 (less than the catch-up limit) and for 2 s at
	// frame 15.
	got, _ := collect(t, src, 40, func(i int) {
		switch i {
		case 5:
			clk.now = clk.now.Add(60 * time.Millisecond)
		case 15:
			clk.now = clk.now.Add(2 * time.Second)
		}
	})
	for i, d := range got {
		if want := time.Duration(i) * clipFrame; d.time != want {
			t.Fatalf("frame %d at media time %v, want %v: stalls must not bend the media clock", i, d.time, want)
		}
		var wall time.Duration
		switch {
		case i <= 5:
			wall = d.time // on schedule
		case i == 6:
			wall = 5*clipFrame + 60*time.Millisecond // late, sent at once
		case i <= 15:
			wall = d.time // caught up with the original schedule
		default:
			// Too late to catch up: from frame 16 on, the schedule restarts where the
			// consumer is, one frame duration apart, without a burst.
			wall = 15*clipFrame + 2*time.Second + time.Duration(i-16)*clipFrame
		}
		if d.wall != wall {
			t.Errorf("frame %d delivered at wall %v, want %v", i, d.wall, wall)
		}
	}
}

func TestPacingRealClock(t *testing.T) {
	src, err := Open("testdata/gop10_25fps.h264", Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, _ := collect(t, src, 6, nil)
	// Frame 5 is due 200 ms after frame 0: a paced source cannot deliver it sooner.
	if el := time.Since(start); el < 5*clipFrame-10*time.Millisecond {
		t.Errorf("6 frames at 25 fps delivered within %v", el)
	}
	if len(got) != 6 {
		t.Errorf("got %d frames", len(got))
	}
}

func TestCancelReturnsNil(t *testing.T) {
	src, err := Open("testdata/gop10_25fps.h264", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err = src.Run(ctx, func(*media.AccessUnit) error {
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Errorf("after cancel Run returned %v having delivered %d frames, want nil and 3", err, n)
	}
}

func TestErrors(t *testing.T) {
	if _, err := Open("testdata/missing.h264", Options{}); err == nil || !strings.Contains(err.Error(), "testdata/missing.h264") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Open("testdata", Options{}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.h264")
	os.WriteFile(garbage, bytes.Repeat([]byte("not video "), 100), 0o644)
	src, err := Open(garbage, Options{Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Run(context.Background(), func(*media.AccessUnit) error { return nil }); err == nil ||
		!strings.Contains(err.Error(), "holds no H.264 picture") {
		t.Errorf("garbage: %v", err)
	}
}
