package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/encoder/x264"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/picture"
)

// ffmpegRaw is the command line of an ffmpeg writing n pictures of its test pattern as
// raw video (or MJPEG) of pixfmt to standard output, through the filter vf if set.
func ffmpegRaw(w, h, n int, pixfmt, vf string) string {
	line := fmt.Sprintf("ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=%dx%d:rate=30 -frames:v %d", w, h, n)
	if vf != "" {
		line += " -vf " + vf
	}
	if pixfmt == "mjpeg" {
		return line + " -pix_fmt yuvj420p -q:v 3 -f mjpeg -"
	}
	return line + " -f rawvideo -pix_fmt " + pixfmt + " -"
}

// encodeRaw runs the source through x264 (ultrafast) and returns the Annex-B stream, the
// frames' times and how the source ended.
func encodeRaw(t *testing.T, src *Source) (stream []byte, times []time.Duration, err error) {
	t.Helper()
	var enc *x264.Encoder
	defer func() {
		if enc != nil {
			enc.Close()
		}
	}()
	err = src.RunFrames(context.Background(), func(f *media.Frame) error {
		if enc == nil {
			var err error
			if enc, err = x264.New(encoder.Options{Width: f.Width, Height: f.Height, FPS: 30, Preset: "ultrafast", Bitrate: 2_000_000}); err != nil {
				return err
			}
		}
		times = append(times, f.Time)
		return enc.Encode(f, false, func(au *media.AccessUnit) error {
			stream = h264.AppendAnnexB(stream, au.NALUs)
			return nil
		})
	})
	return stream, times, err
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRawThroughX264: ffmpeg's test pattern as raw yuv420, nv12, yuyv and MJPEG through
// the exec source and x264: ffprobe reads the stream at the size, with every picture
// ffmpeg sent, and the times increase.
func TestRawThroughX264(t *testing.T) {
	peers.Require(t, "ffmpeg", "ffprobe")
	const w, h, n = 320, 240, 45
	for _, c := range []struct{ format, pixfmt string }{
		{"yuv420", "yuv420p"}, {"nv12", "nv12"}, {"yuyv", "yuyv422"}, {"mjpeg", "mjpeg"},
	} {
		t.Run(c.format, func(t *testing.T) {
			src, err := New(ffmpegRaw(w, h, n, c.pixfmt, ""), Options{Format: c.format, Width: w, Height: h, FPS: 30})
			if err != nil {
				t.Fatal(err)
			}
			stream, times, err := encodeRaw(t, src)
			if !errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "ffmpeg ended with exit status 0") {
				t.Errorf("RunFrames = %v, want ffmpeg's end", err)
			}
			v := peers.ProbeVideo(t, writeTemp(t, c.format+".h264", stream))
			if v.Width != w || v.Height != h || v.Frames < n-1 || v.Frames > n+1 || v.DecodeErrors != "" {
				t.Errorf("ffprobe reads %dx%d, %d frames, errors %q; want %dx%d, %d frames", v.Width, v.Height, v.Frames, v.DecodeErrors, w, h, n)
			}
			if len(times) != n || !slices.IsSorted(times) || len(slices.Compact(slices.Clone(times))) != n {
				t.Errorf("%d frame times, want %d increasing: %v", len(times), n, times)
			}
		})
	}
}

// grabFrames returns the pictures of a raw source, each packed tightly as I420.
func grabFrames(t *testing.T, src *Source) ([][]byte, error) {
	t.Helper()
	var pics [][]byte
	err := src.RunFrames(context.Background(), func(f *media.Frame) error {
		if f.Format != media.PixelI420 {
			return fmt.Errorf("format %d", f.Format)
		}
		var b []byte
		for p, pw := range []int{f.Width, (f.Width + 1) / 2, (f.Width + 1) / 2} {
			ph := f.Height
			if p > 0 {
				ph = (f.Height + 1) / 2
			}
			for y := range ph {
				b = append(b, f.Planes[p][y*f.Strides[p]:][:pw]...)
			}
		}
		pics = append(pics, b)
		return nil
	})
	return pics, err
}

// TestRPiCamPaddedRows: rpicam-vid --codec yuv420 at a width that is not a multiple of
// 64 writes rows padded to 64 bytes. A stand-in named rpicam-vid writes the pattern so
// padded (ffmpeg's pad filter: 200 pixels in luma rows of 256 bytes, chroma rows of 128);
// the source strips the padding by itself and yields the same pictures as ffmpeg's
// unpadded output. Given the plain width, the same bytes fail naming the frame size.
func TestRPiCamPaddedRows(t *testing.T) {
	peers.Require(t, "ffmpeg")
	const w, h, n = 200, 120, 5
	if RPiCamStride(w) != 256 || RPiCamStride(1280) != 1280 {
		t.Fatalf("RPiCamStride(200) = %d", RPiCamStride(w))
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "rpicam-vid")
	script := "#!/bin/sh\nexec " + ffmpegRaw(w, h, n, "yuv420p", "pad=256:120:0:0:black") + "\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := Options{Format: "yuv420", Width: w, Height: h}
	src, err := New(fake+" -t 0 -n --codec yuv420 --width 200 --height 120 -o -", opts)
	if err != nil {
		t.Fatal(err)
	}
	if src.FrameSize() != 256*120*3/2 {
		t.Fatalf("frame size %d for rpicam-vid at 200x120, want %d", src.FrameSize(), 256*120*3/2)
	}
	got, err := grabFrames(t, src)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("padded: %v", err)
	}
	plain, err := New(ffmpegRaw(w, h, n, "yuv420p", ""), opts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := grabFrames(t, plain)
	if !errors.Is(err, io.EOF) || len(got) != n || len(want) != n {
		t.Fatalf("%d padded and %d plain pictures (%v), want %d", len(got), len(want), err, n)
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("picture %d with padded rows differs from the unpadded one", i)
		}
	}
	// Another program writing the same padded bytes: rows taken as 200 bytes, so the
	// output does not divide into frames of 36000 bytes.
	other := filepath.Join(dir, "camera")
	os.WriteFile(other, []byte(script), 0o755)
	src, _ = New(other, opts)
	_, err = grabFrames(t, src)
	if err == nil || !strings.Contains(err.Error(), "36000 bytes") {
		t.Errorf("padded rows read as unpadded: %v, want an error naming the 36000-byte frame", err)
	}
}

// TestTruncatedPicture: a program that ends inside a picture fails the source with an
// error naming the picture size it expected; so does MJPEG cut inside a picture.
func TestTruncatedPicture(t *testing.T) {
	peers.Require(t, "ffmpeg")
	for _, c := range []struct {
		format, pixfmt string
		cut            int // bytes of the last picture written
		want           string
	}{
		{"yuv420", "yuv420p", 1000, "1000 of 115200 bytes"},
		{"yuyv", "yuyv422", 1, "1 of 153600 bytes"},
		{"mjpeg", "mjpeg", 700, "ended inside JPEG picture 3"},
	} {
		t.Run(c.format, func(t *testing.T) {
			raw, err := exec.Command("sh", "-c", ffmpegRaw(320, 240, 3, c.pixfmt, "")).Output()
			if err != nil {
				t.Fatal(err)
			}
			if c.format == "mjpeg" {
				raw = raw[:len(raw)-c.cut]
			} else {
				raw = raw[:len(raw)/3*2+c.cut]
			}
			src, err := New("cat "+writeTemp(t, "cut", raw), Options{Format: c.format, Width: 320, Height: 240})
			if err != nil {
				t.Fatal(err)
			}
			pics, err := grabFrames(t, src)
			if err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, io.EOF) {
				t.Errorf("RunFrames = %v, want an error naming %q", err, c.want)
			}
			if len(pics) != 2 {
				t.Errorf("%d whole pictures delivered before the cut one, want 2", len(pics))
			}
		})
	}
}

// TestRotate180: the source turns raw pictures upside down when asked; every pixel is
// where the turn puts it.
func TestRotate180(t *testing.T) {
	peers.Require(t, "ffmpeg")
	line := ffmpegRaw(64, 48, 2, "yuv420p", "")
	plain, _ := New(line, Options{Format: "yuv420", Width: 64, Height: 48})
	turned, _ := New(line, Options{Format: "yuv420", Width: 64, Height: 48, Orientation: picture.Orientation{Rotate: 180}})
	a, err1 := grabFrames(t, plain)
	b, err2 := grabFrames(t, turned)
	if len(a) != 2 || len(b) != 2 {
		t.Fatalf("pictures %d, %d (%v, %v)", len(a), len(b), err1, err2)
	}
	for i := range a {
		// Each plane reversed byte for byte is the picture turned by 180°.
		want := slices.Concat(reversed(a[i][:64*48]), reversed(a[i][64*48:64*48+32*24]), reversed(a[i][64*48+32*24:]))
		if !bytes.Equal(b[i], want) {
			t.Fatalf("picture %d turned by 180 is not the original reversed plane by plane", i)
		}
	}
}

func reversed(b []byte) []byte {
	r := slices.Clone(b)
	slices.Reverse(r)
	return r
}

func TestRawOptions(t *testing.T) {
	for _, c := range []struct {
		opts Options
		want string
	}{
		{Options{Format: "rgb24", Width: 64, Height: 48}, `format "rgb24"`},
		{Options{Format: "yuv420"}, "yuv420 pictures of 0x0"},
		{Options{Format: "nv12", Width: 63, Height: 48}, "63x48"},
		{Options{Format: "yuyv", Width: 64, Height: 48, FPS: -1}, "frame rate -1"},
		{Options{Format: "yuv420", Width: 64, Height: 48, Stride: 32}, "stride 32"},
	} {
		if _, err := New("true", c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.opts, err, c.want)
		}
	}
	src, _ := New("true", Options{Format: "yuv420", Width: 64, Height: 48})
	if err := src.Run(context.Background(), func(*media.AccessUnit) error { return nil }); err == nil {
		t.Error("Run of a raw source did not fail")
	}
	h, _ := New("true", Options{})
	if err := h.RunFrames(context.Background(), func(*media.Frame) error { return nil }); err == nil {
		t.Error("RunFrames of an H.264 source did not fail")
	}
}

// TestFrameClock: arrivals that jitter around 30 fps give timestamps much closer to a
// regular 33.3 ms grid than the arrivals; a stall restarts at the arrival; times
// always increase.
func TestFrameClock(t *testing.T) {
	c := newFrameClock(30)
	period := time.Second / 30
	jitter := []time.Duration{0, 9, -7, 12, -11, 3, 8, -9, 10, -4}
	var worstIn, worstOut time.Duration
	var last time.Duration = -1
	for i := range 300 {
		ideal := time.Duration(i) * period
		arrival := ideal + jitter[i%len(jitter)]*time.Millisecond
		got := c.next(arrival)
		if got <= last {
			t.Fatalf("frame %d at %v after %v", i, got, last)
		}
		last = got
		if i > 30 {
			worstIn = max(worstIn, (arrival - ideal).Abs())
			worstOut = max(worstOut, (got - ideal).Abs())
		}
	}
	if worstOut*2 > worstIn {
		t.Errorf("smoothed timestamps stray up to %v from the grid; arrivals %v", worstOut, worstIn)
	}
	stall := last + 5*time.Second
	if got := c.next(stall); got != stall {
		t.Errorf("after a stall: %v, want the arrival %v", got, stall)
	}
}

func TestPacer(t *testing.T) {
	const period = 100 * time.Millisecond
	p := newPacer(10)
	// A camera at the rate, with jitter: nothing waits.
	for i, at := range []time.Duration{0, 104, 197, 330, 398} {
		if h := p.hold(at * time.Millisecond); h != 0 {
			t.Fatalf("picture %d at the rate waits %v", i, h)
		}
	}
	// Four pictures that the pipe held during a stall of the reader arrive together: all
	// behind their due times, none waits.
	for i := range 4 {
		if h := p.hold(800*time.Millisecond + time.Duration(i)*time.Millisecond); h != 0 {
			t.Fatalf("caught-up picture %d waits %v", i, h)
		}
	}
	// A program writing ten times the rate: each picture waits until its due time.
	p = newPacer(10)
	var at time.Duration
	for range 30 {
		at += p.hold(at) + period/10
	}
	if at < 2800*time.Millisecond || p.early < 25 {
		t.Fatalf("30 pictures at 100 fps paced to 10 fps took %v, %d held", at, p.early)
	}
}

// A raw program writing far faster than CAMNODE_FPS is read at the rate, with a warning.
func TestRawFasterThanRateIsPaced(t *testing.T) {
	const w, h, n, fps = 64, 48, 20, 10
	var warns []string
	s, err := New("head -c "+strconv.Itoa(w*h*3/2*n)+" /dev/zero", Options{Format: "yuv420", Width: w, Height: h, FPS: fps,
		Warn: func(m string) { warns = append(warns, m) }})
	if err != nil {
		t.Fatal(err)
	}
	var times []time.Duration
	start := time.Now()
	s.RunFrames(context.Background(), func(f *media.Frame) error { times = append(times, time.Since(start)); return nil })
	if len(times) != n {
		t.Fatalf("%d pictures of %d", len(times), n)
	}
	if span := times[n-1] - times[0]; span < (n-2)*time.Second/fps {
		t.Fatalf("%d pictures delivered within %v: not paced to %d fps", n, span, fps)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "faster than CAMNODE_FPS=10") {
		t.Fatalf("warnings %q", warns)
	}
}

// Pictures of another size than the settings say are noticed on the first picture, with
// the likely width; the right size says nothing.
func TestRawSizeMismatchWarns(t *testing.T) {
	peers.Require(t, "ffmpeg")
	for _, tc := range []struct {
		realW, realH, setW, setH int
		pixfmt, format           string
		want                     string
	}{
		{320, 240, 640, 480, "yuv420p", "yuv420", "likely 320 wide"},
		{640, 480, 1280, 720, "yuv420p", "yuv420", "likely 640 wide"},
		{640, 480, 320, 240, "nv12", "nv12", "likely 640 wide"},
		{320, 240, 640, 360, "yuyv422", "yuyv", "likely 320 wide"},
		{320, 240, 320, 240, "yuv420p", "yuv420", ""},
		{640, 360, 640, 360, "yuyv422", "yuyv", ""},
	} {
		var warns []string
		frames := max(4, tc.setW*tc.setH/(tc.realW*tc.realH)+2)
		s, err := New(ffmpegRaw(tc.realW, tc.realH, frames*2, tc.pixfmt, ""), Options{Format: tc.format, Width: tc.setW, Height: tc.setH, FPS: 240,
			Warn: func(m string) { warns = append(warns, m) }})
		if err != nil {
			t.Fatal(err)
		}
		s.RunFrames(context.Background(), func(*media.Frame) error { return nil })
		switch {
		case tc.want == "" && len(warns) > 0:
			t.Errorf("%dx%d %s read as %dx%d: warnings %q", tc.realW, tc.realH, tc.format, tc.setW, tc.setH, warns)
		case tc.want != "" && (len(warns) != 1 || !strings.Contains(warns[0], tc.want) || !strings.Contains(warns[0], "CAMNODE_WIDTH")):
			t.Errorf("%dx%d %s read as %dx%d: warnings %q, want one with %q", tc.realW, tc.realH, tc.format, tc.setW, tc.setH, warns, tc.want)
		}
	}
}
