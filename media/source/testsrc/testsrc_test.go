package testsrc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder/x264"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/source/file"
)

var errEnough = errors.New("enough")

type unit struct {
	time     time.Duration
	keyframe bool
	nalus    [][]byte
}

// take runs src until it has delivered n access units, copied.
func take(t *testing.T, src media.Source, n int, each func(i int)) []unit {
	t.Helper()
	var got []unit
	err := src.Run(context.Background(), func(au *media.AccessUnit) error {
		u := unit{time: au.Time, keyframe: au.Keyframe}
		for _, nalu := range au.NALUs {
			u.nalus = append(u.nalus, bytes.Clone(nalu))
		}
		got = append(got, u)
		if each != nil {
			each(len(got) - 1)
		}
		if len(got) == n {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("source stopped after %d units: %v", len(got), err)
	}
	return got
}

func checkSPS(t *testing.T, units []unit, width, height int, fps float64) (keys []int) {
	t.Helper()
	for i, u := range units {
		var sps, pps, idr bool
		for _, nalu := range u.nalus {
			switch h264.NALType(nalu) {
			case h264.TypeSPS:
				sps = true
				s, err := h264.ParseSPS(nalu)
				if err != nil {
					t.Fatal(err)
				}
				if s.Width != width || s.Height != height || s.FrameRate() != fps {
					t.Errorf("unit %d SPS: %dx%d %v fps, want %dx%d %v fps", i, s.Width, s.Height, s.FrameRate(), width, height, fps)
				}
			case h264.TypePPS:
				pps = true
			case h264.TypeIDR:
				idr = true
			}
		}
		if u.keyframe != idr || idr != h264.IsKeyframe(u.nalus) {
			t.Errorf("unit %d: keyframe flag %v, IDR slice %v", i, u.keyframe, idr)
		}
		if idr && !(sps && pps) {
			t.Errorf("unit %d: keyframe without SPS (%v) and PPS (%v)", i, sps, pps)
		}
		if !idr && sps {
			t.Errorf("unit %d: SPS outside a keyframe", i)
		}
		if idr {
			keys = append(keys, i)
		}
	}
	return keys
}

func TestClipIs720p30(t *testing.T) {
	src := file.New("clip", func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(Clip())), nil }, file.Options{Unpaced: true})
	units := take(t, src, 2*Frames, nil)
	for n, u := range units {
		if want := time.Duration(n) * time.Second / FPS; u.time != want {
			t.Errorf("frame %d at %v, want %v", n, u.time, want)
		}
	}
	if keys, want := checkSPS(t, units, Width, Height, FPS), []int{0, 30, 60, 90}; !slices.Equal(keys, want) {
		t.Errorf("keyframes at %v, want %v", keys, want)
	}
	if l := len(Clip()); l < 50_000 || l > 150_000 {
		t.Errorf("embedded clip is %d bytes", l)
	}
}

func TestLiveSourceEncodesThePattern(t *testing.T) {
	if !x264.Built {
		t.Skip("built without x264: TestFallbackClip covers this build")
	}
	src := New(Options{Width: 320, Height: 240, FPS: 25, GOP: 10, Bitrate: 300_000, Unpaced: true})
	if !src.Live() {
		t.Fatal("Live() is false with x264 built in")
	}
	units := take(t, src, 40, func(i int) {
		if i == 14 {
			if err := src.RequestKeyframe(); err != nil {
				t.Error(err)
			}
		}
	})
	for n, u := range units {
		if want := time.Duration(n) * 40 * time.Millisecond; u.time != want {
			t.Errorf("unit %d at %v, want %v", n, u.time, want)
		}
	}
	// The GOP of 10 counts again from the keyframe asked for after unit 14.
	if keys, want := checkSPS(t, units, 320, 240, 25), []int{0, 10, 15, 25, 35}; !slices.Equal(keys, want) {
		t.Errorf("keyframes at %v, want %v", keys, want)
	}

	// What ffmpeg makes of it.
	var stream []byte
	for _, u := range units {
		stream = h264.AppendAnnexB(stream, u.nalus)
	}
	path := filepath.Join(t.TempDir(), "pattern.h264")
	if err := os.WriteFile(path, stream, 0o644); err != nil {
		t.Fatal(err)
	}
	v := peers.ProbeVideo(t, path)
	if v.Codec != "h264" || v.Width != 320 || v.Height != 240 || v.Frames != 40 || v.DecodeErrors != "" {
		t.Fatalf("ffmpeg reads %s %dx%d, %d frames, errors %q", v.Codec, v.Width, v.Height, v.Frames, v.DecodeErrors)
	}
	var keys []int
	for i, p := range v.Packets {
		if p.Keyframe {
			keys = append(keys, i)
		}
	}
	if want := []int{0, 10, 15, 25, 35}; !slices.Equal(keys, want) {
		t.Errorf("ffprobe sees keyframes at %v, want %v", keys, want)
	}
}

// TestOverlay: the overlay sees every frame before it is encoded, and what it draws is
// in the picture.
func TestOverlay(t *testing.T) {
	if !x264.Built {
		t.Skip("built without x264: TestFallbackClip covers this build")
	}
	n := 0
	src := New(Options{Width: 64, Height: 48, Unpaced: true, Overlay: func(f *media.Frame) error {
		if d := f.Time - time.Duration(n)*time.Second/30; f.Width != 64 || f.Height != 48 || d < 0 || d > time.Microsecond {
			t.Errorf("overlay got a %dx%d frame at %v", f.Width, f.Height, f.Time)
		}
		n++
		return nil
	}})
	take(t, src, 5, nil)
	if n != 5 {
		t.Errorf("overlay saw %d frames for 5 access units", n)
	}
}

func TestLiveSourceRejectsBadSize(t *testing.T) {
	if !x264.Built {
		t.Skip("built without x264")
	}
	err := New(Options{Width: 321, Height: 240}).Run(context.Background(), func(*media.AccessUnit) error { return nil })
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("321x240")) {
		t.Fatalf("odd width: %v", err)
	}
}

func TestFrameSourcePacesAndSkips(t *testing.T) {
	// 10 fps: only a hiccup of the machine longer than 100 ms could skip a frame by itself.
	src, err := NewFrameSource(Options{Width: 64, Height: 48, FPS: 10})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var times []time.Duration
	err = src.RunFrames(context.Background(), func(f *media.Frame) error {
		if f.Format != media.PixelI420 || f.Width != 64 || f.Height != 48 {
			t.Fatalf("frame %v %dx%d", f.Format, f.Width, f.Height)
		}
		if early := f.Time - time.Since(start); early > 2*time.Millisecond {
			t.Errorf("frame at %v delivered %v early", f.Time, early)
		}
		times = append(times, f.Time)
		if len(times) == 4 {
			time.Sleep(450 * time.Millisecond) // a slow consumer: the source must drop, not lag
		}
		if len(times) == 8 {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatal(err)
	}
	frame := func(d time.Duration) int { return int((d + time.Millisecond) * 10 / time.Second) }
	for i := 0; i < 4; i++ {
		if frame(times[i]) != i {
			t.Errorf("frame %d at %v", i, times[i])
		}
	}
	jump := frame(times[4]) - frame(times[3])
	if jump < 4 || int64(jump-1) != src.Skipped() {
		t.Errorf("after a 450 ms stall the next frame is %d frames on (want >= 4), %d counted skipped; times %v", jump, src.Skipped(), times)
	}
	for i := 5; i < len(times); i++ {
		if frame(times[i]) != frame(times[i-1])+1 {
			t.Errorf("frames not consecutive again after the stall: %v", times)
		}
	}
}

func TestFrameSourceStopsWithContext(t *testing.T) {
	src, err := NewFrameSource(Options{Width: 64, Height: 48, FPS: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	n := 0
	if err := src.RunFrames(ctx, func(*media.Frame) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("RunFrames = %v after %d frames, want nil after the first (the next is due at 1 s)", err, n)
	}
}

// TestPatternMoves: the bars move, the ramp stays, the counter changes, and NV12 holds
// the same picture as I420.
func TestPatternMoves(t *testing.T) {
	p, err := NewPattern(320, 240, 30)
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	a, b := p.NewFrame(), p.NewFrame()
	p.Draw(a, 0, wall)
	p.Draw(b, 15, wall) // half a second: the bars moved by an eighth of the width
	rows := func(f *media.Frame, y0, y1 int) []byte { return f.Planes[0][y0*f.Strides[0] : y1*f.Strides[0]] }
	if bytes.Equal(rows(a, 0, p.barsEnd), rows(b, 0, p.barsEnd)) {
		t.Error("bars did not move in half a second")
	}
	if got, want := rows(b, 0, 1)[:300], rows(a, 0, 1)[40:340]; !bytes.Equal(got, want) {
		t.Error("bars after 0.5 s are not the first picture's shifted left by width/8")
	}
	if !bytes.Equal(rows(a, p.barsEnd, p.rampEnd), rows(b, p.barsEnd, p.rampEnd)) {
		t.Error("ramp changed")
	}
	if bytes.Equal(rows(a, p.rampEnd, 240), rows(b, p.rampEnd, 240)) {
		t.Error("text panel did not change with the frame counter")
	}
	if !bytes.Contains(rows(a, p.rampEnd, 240), []byte{textY}) {
		t.Error("no text drawn in the panel")
	}

	nv := &media.Frame{Format: media.PixelNV12, Width: 320, Height: 240,
		Planes: [3][]byte{make([]byte, 320*240), make([]byte, 320*120)}, Strides: [3]int{320, 320}}
	p.Draw(nv, 15, wall)
	if !bytes.Equal(nv.Planes[0], b.Planes[0]) {
		t.Error("NV12 luma differs from I420")
	}
	for i := range 160 * 120 {
		if nv.Planes[1][2*i] != b.Planes[1][i] || nv.Planes[1][2*i+1] != b.Planes[2][i] {
			t.Fatalf("NV12 chroma at %d is %d,%d, I420 has %d,%d", i, nv.Planes[1][2*i], nv.Planes[1][2*i+1], b.Planes[1][i], b.Planes[2][i])
		}
	}
}

func TestPatternSizes(t *testing.T) {
	for _, s := range [][2]int{{16, 16}, {3840, 2160}, {640, 480}, {1920, 1080}} {
		p, err := NewPattern(s[0], s[1], 30)
		if err != nil {
			t.Fatal(err)
		}
		f := p.NewFrame()
		p.Draw(f, 123456, time.Now()) // text clipped, never out of range
	}
	for _, s := range [][2]int{{15, 16}, {16, 14}, {0, 0}, {1281, 720}, {10000, 720}} {
		if _, err := NewPattern(s[0], s[1], 30); err == nil {
			t.Errorf("%dx%d accepted", s[0], s[1])
		}
	}
	if _, err := NewPattern(64, 64, 0); err == nil {
		t.Error("0 fps accepted")
	}
}
