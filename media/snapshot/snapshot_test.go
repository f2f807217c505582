package snapshot

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/danmaku/render"
	"github.com/camnode/camnode/media/h264"
)

// flat is a frame of one limited-range colour.
func flat(format media.PixelFormat, w, h int, y, u, v byte) *media.Frame {
	cw, ch := (w+1)/2, (h+1)/2
	f := &media.Frame{Format: format, Width: w, Height: h}
	f.Planes[0], f.Strides[0] = bytes.Repeat([]byte{y}, w*h), w
	switch format {
	case media.PixelI420:
		f.Planes[1], f.Planes[2] = bytes.Repeat([]byte{u}, cw*ch), bytes.Repeat([]byte{v}, cw*ch)
		f.Strides[1], f.Strides[2] = cw, cw
	case media.PixelNV12:
		f.Planes[1], f.Strides[1] = bytes.Repeat([]byte{u, v}, cw*ch), 2*cw
	}
	return f
}

func decode(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the snapshot is no JPEG: %v", err)
	}
	return img
}

// rgbAt is the 8-bit colour of a decoded picture at x, y.
func rgbAt(img image.Image, x, y int) (r, g, b int) {
	R, G, B, _ := img.At(x, y).RGBA()
	return int(R >> 8), int(G >> 8), int(B >> 8)
}

func near(a, b, tol int) bool { return a-b <= tol && b-a <= tol }

// A JPEG of the frame's size, decoded to the colours the frame holds: video's limited
// range made full, so black is black and white is white, in I420 and NV12 alike, odd
// sizes included.
func TestFromFrameColoursAndSize(t *testing.T) {
	for _, c := range []struct {
		name    string
		y, u, v byte
		r, g, b int
	}{
		{"black", 16, 128, 128, 0, 0, 0},
		{"white", 235, 128, 128, 255, 255, 255},
		{"red", 81, 90, 240, 255, 0, 0}, // BT.601 limited-range red (JFIF's matrix)
	} {
		for _, format := range []media.PixelFormat{media.PixelI420, media.PixelNV12} {
			for _, size := range [][2]int{{320, 240}, {161, 91}} {
				f := flat(format, size[0], size[1], c.y, c.u, c.v)
				b, err := FromFrame(f, 90)
				if err != nil {
					t.Fatalf("%s %d %v: %v", c.name, format, size, err)
				}
				img := decode(t, b)
				if got := img.Bounds().Size(); got.X != size[0] || got.Y != size[1] {
					t.Fatalf("%s: JPEG %v, frame %v", c.name, got, size)
				}
				r, g, bl := rgbAt(img, size[0]/2, size[1]/2)
				if !near(r, c.r, 12) || !near(g, c.g, 12) || !near(bl, c.b, 12) {
					t.Errorf("%s (format %d, %v): decoded %d,%d,%d, want %d,%d,%d", c.name, format, size, r, g, bl, c.r, c.g, c.b)
				}
			}
		}
	}
}

// Frames whose planes cannot hold their size are refused with a reason, not read past.
func TestFromFrameRefusesShortPlanes(t *testing.T) {
	f := flat(media.PixelI420, 64, 48, 16, 128, 128)
	f.Planes[2] = f.Planes[2][:10]
	if _, err := FromFrame(f, 0); err == nil || !strings.Contains(err.Error(), "plane 2") {
		t.Fatalf("short plane: %v", err)
	}
	if _, err := FromFrame(&media.Frame{Format: 9, Width: 2, Height: 2}, 0); err == nil {
		t.Fatal("unknown pixel format accepted")
	}
	if _, err := FromFrame(flat(media.PixelNV12, 5000, 2, 0, 0, 0), 0); err == nil {
		t.Fatal("a 5000-pixel-wide frame accepted")
	}
}

// Clone's copy survives the source reusing its buffers, and encodes as the original did.
func TestCloneOutlivesTheFrame(t *testing.T) {
	f := flat(media.PixelNV12, 64, 48, 235, 128, 128)
	c, err := Clone(f)
	if err != nil {
		t.Fatal(err)
	}
	clear(f.Planes[0])
	img := decode(t, must(FromFrame(c, 0)))
	if r, _, _ := rgbAt(img, 10, 10); r < 240 {
		t.Fatalf("clone changed with its source: %d", r)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// Burn-in's chat is in the snapshot: the picture as viewers see it.
func TestBurnedInChatIsVisible(t *testing.T) {
	r, err := render.New(render.Options{FontScale: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f := flat(media.PixelI420, 640, 360, 16, 128, 128) // black
	if !r.Add(render.Comment{Text: "HELLO CAMNODE", Color: 0xff0000, Mode: "top"}) {
		t.Fatal("comment refused")
	}
	if err := r.Draw(f); err != nil {
		t.Fatal(err)
	}
	vis := r.Visible()
	if len(vis) != 1 {
		t.Fatalf("visible: %v", vis)
	}
	img := decode(t, must(FromFrame(f, 85)))
	box := vis[0].Rect.Intersect(img.Bounds())
	red := 0
	for y := box.Min.Y; y < box.Max.Y; y++ {
		for x := box.Min.X; x < box.Max.X; x++ {
			if r, g, b := rgbAt(img, x, y); r > 180 && g < 90 && b < 90 {
				red++
			}
		}
	}
	if red < box.Dx()*box.Dy()/20 {
		t.Fatalf("%d red pixels in the comment's box %v: the chat is not in the snapshot", red, box)
	}
	// Outside the comment the picture stays black.
	if r, g, b := rgbAt(img, 320, 300); r+g+b > 30 {
		t.Fatalf("below the comment: %d,%d,%d", r, g, b)
	}
}

// ffmpegKeyframe makes a testsrc picture two ways with ffmpeg: the raw I420 frame and the
// first access unit of its x264 encoding (SPS, PPS, IDR).
func ffmpegKeyframe(t *testing.T, w, h int) (*media.Frame, [][]byte) {
	t.Helper()
	peers.Require(t, "ffmpeg")
	dir := t.TempDir()
	raw, es := filepath.Join(dir, "f.yuv"), filepath.Join(dir, "f.h264")
	src := "testsrc2=size=" + strconv.Itoa(w) + "x" + strconv.Itoa(h) + ":rate=10"
	for _, args := range [][]string{
		{"-f", "lavfi", "-i", src, "-frames:v", "1", "-pix_fmt", "yuv420p", "-f", "rawvideo", raw},
		{"-f", "lavfi", "-i", src, "-frames:v", "3", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-crf", "12", "-bf", "0", "-f", "h264", es},
	} {
		cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out)
		}
	}
	yuv, _ := os.ReadFile(raw)
	f := &media.Frame{Format: media.PixelI420, Width: w, Height: h}
	f.Planes[0], f.Planes[1], f.Planes[2] = yuv[:w*h], yuv[w*h:w*h*5/4], yuv[w*h*5/4:]
	f.Strides = [3]int{w, w / 2, w / 2}
	stream, _ := os.ReadFile(es)
	var au [][]byte
	for n := range h264.NALUs(stream) {
		au = append(au, n)
		if h264.NALType(n) == h264.TypeIDR {
			break
		}
	}
	return f, au
}

// meanDiff is the mean absolute difference of the green channel of two pictures of one size.
func meanDiff(a, b image.Image) float64 {
	var sum, n int
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y += 2 {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x += 2 {
			_, ga, _ := rgbAt(a, x, y)
			_, gb, _ := rgbAt(b, x, y)
			if ga > gb {
				sum += ga - gb
			} else {
				sum += gb - ga
			}
			n++
		}
	}
	return float64(sum) / float64(n)
}

// An H.264-only source: its keyframe, decoded by ffmpeg, is the same picture as the raw
// frame encoded here (a different picture is not).
func TestFromKeyframeWithFFmpeg(t *testing.T) {
	f, au := ffmpegKeyframe(t, 320, 240)
	want := decode(t, must(FromFrame(f, 90)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := Decoder{}.FromKeyframe(ctx, au)
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, b)
	if got.Bounds().Size() != (image.Point{320, 240}) {
		t.Fatalf("keyframe JPEG %v, want 320x240", got.Bounds().Size())
	}
	t.Logf("differs from the raw frame by %.1f", meanDiff(got, want))
	if d := meanDiff(got, want); d > 4 {
		t.Fatalf("keyframe picture differs from the raw frame by %.1f per pixel", d)
	}
	// The comparison can fail: the picture shifted by a quarter of its width is far off.
	shifted := *f
	shifted.Planes[0] = make([]byte, len(f.Planes[0]))
	for y := range 240 {
		row := f.Planes[0][y*320 : (y+1)*320]
		copy(shifted.Planes[0][y*320:(y+1)*320], append(append([]byte(nil), row[80:]...), row[:80]...))
	}
	d := meanDiff(got, decode(t, must(FromFrame(&shifted, 90))))
	t.Logf("differs from the shifted frame by %.1f", d)
	if d < 20 {
		t.Fatalf("a shifted picture differs by only %.1f: the comparison proves nothing", d)
	}
}

// Without a decoder the error says why, for the image entity's attributes.
func TestFromKeyframeWithoutDecoder(t *testing.T) {
	_, au := ffmpegKeyframe(t, 160, 120)
	_, err := Decoder{FFmpeg: filepath.Join(t.TempDir(), "ffmpeg")}.FromKeyframe(context.Background(), au)
	if !errors.Is(err, ErrNoDecoder) || !strings.Contains(err.Error(), "install ffmpeg") {
		t.Fatalf("no decoder: %v", err)
	}
}

// Bad input is refused before ffmpeg runs; a decoder that hangs ends at the deadline.
func TestFromKeyframeBounds(t *testing.T) {
	_, au := ffmpegKeyframe(t, 160, 120)
	var noSPS [][]byte
	for _, n := range au {
		if h264.NALType(n) != h264.TypeSPS {
			noSPS = append(noSPS, n)
		}
	}
	if _, err := (Decoder{}).FromKeyframe(context.Background(), noSPS); err == nil || !strings.Contains(err.Error(), "SPS or PPS") {
		t.Fatalf("no SPS: %v", err)
	}
	big := append(append([][]byte(nil), au...), append([]byte{6}, make([]byte, MaxAccessUnitSize)...))
	if _, err := (Decoder{}).FromKeyframe(context.Background(), big); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("oversize: %v", err)
	}
	if _, err := (Decoder{}).FromKeyframe(context.Background(), au[len(au)-1:][:0]); err == nil {
		t.Fatal("empty access unit accepted")
	}
	hang := filepath.Join(t.TempDir(), "ffmpeg")
	if err := os.WriteFile(hang, []byte("#!/bin/sh\nexec sleep 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := (Decoder{FFmpeg: hang}).FromKeyframe(ctx, au); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hanging decoder: %v", err)
	}
}
