//go:build linux

package v4l2m2m

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
)

func TestOpenErrors(t *testing.T) {
	o := encoder.Options{Width: 320, Height: 240}
	for _, c := range []struct {
		name string
		o    encoder.Options
		p    Params
		want string
	}{
		{"missing device", o, Params{Device: "/nonexistent/video11"}, "open /nonexistent/video11"},
		{"not a video device", o, Params{Device: "/dev/null"}, "not a V4L2 memory-to-memory device"},
		{"odd size", encoder.Options{Width: 321, Height: 240}, Params{Device: "/dev/null"}, "picture size 321x240"},
		{"bad raw format", o, Params{Device: "/dev/null", Raw: media.PixelFormat(99)}, "raw pixel format 99"},
		{"bad buffer count", o, Params{Device: "/dev/null", OutputBuffers: 100}, "want 1 to 32"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := Open(c.o, c.p)
			if err == nil {
				e.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
	if _, err := Open(o, Params{Device: "/dev/null"}); !errors.Is(err, ErrNotM2M) {
		t.Errorf("Open(/dev/null): %v, want ErrNotM2M", err)
	}
	if _, err := Probe("/dev/null"); !errors.Is(err, ErrNotM2M) {
		t.Errorf("Probe(/dev/null): %v, want ErrNotM2M", err)
	}
}

func TestOpenDoesNotLeakDescriptors(t *testing.T) {
	before := openFDs(t)
	for range 50 {
		Open(encoder.Options{Width: 320, Height: 240}, Params{Device: "/dev/null"})
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open before 50 failed Opens, %d after", before, after)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	return len(es)
}

func TestH264Level(t *testing.T) {
	for _, c := range []struct {
		w, h int
		fps  float64
		want string
	}{
		{320, 240, 30, "1.3"}, {640, 480, 30, "3"}, {1280, 720, 30, "3.1"}, {1280, 720, 60, "3.2"},
		{1920, 1080, 30, "4"}, {1920, 1080, 60, "4.2"}, {3840, 2160, 30, "5.1"},
	} {
		if got, _ := h264Level(encoder.Options{Width: c.w, Height: c.h, FPS: c.fps}); got != c.want {
			t.Errorf("%dx%d@%v: level %s, want %s", c.w, c.h, c.fps, got, c.want)
		}
	}
	if i, ok := levelIndex("4.1"); !ok || i != 12 {
		t.Errorf("levelIndex(4.1) = %d, %v; V4L2_MPEG_VIDEO_H264_LEVEL_4_1 is 12", i, ok)
	}
	if i, ok := levelIndex("3.0"); !ok || i != 8 {
		t.Errorf("levelIndex(3.0) = %d, %v", i, ok)
	}
	if _, ok := profileIndex("extended"); ok {
		t.Error("profile extended accepted")
	}
}

// vicodec's FWHT frame header: the two magic words, version 3, 8x8, then flags.
func fwhtHeader(flags uint32) []byte {
	b := []byte{0x4f, 0x4f, 0x4f, 0x4f, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 3, 0, 0, 0, 8, 0, 0, 0, 8}
	return append(b, byte(flags>>24), byte(flags>>16), byte(flags>>8), byte(flags), 0, 0, 0, 0)
}

func TestFWHTIntra(t *testing.T) {
	if !FWHTIntra(fwhtHeader(1 << 10)) {
		t.Error("I-frame flag not seen")
	}
	if FWHTIntra(fwhtHeader(1 << 9)) {
		t.Error("P-frame taken for an I-frame")
	}
	bad := fwhtHeader(1 << 10)
	bad[0] = 0
	if FWHTIntra(bad) || FWHTIntra(bad[:10]) || FWHTIntra(nil) {
		t.Error("a frame without the magic words taken for an I-frame")
	}
}

func FuzzFWHTIntra(f *testing.F) {
	f.Add(fwhtHeader(1 << 10))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if FWHTIntra(b) && len(b) < 24 {
			t.Fatal("I-frame on a short buffer")
		}
	})
}

// FuzzUnit feeds coded buffers of any content through the code that turns them into
// access units: never a panic, and an H.264 picture always carries its NAL units.
func FuzzUnit(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 0x42, 0, 0x1f, 0, 0, 0, 1, 0x68, 0xce}, true)
	f.Add([]byte{0, 0, 1, 0x65, 0x88, 0x84}, true)
	f.Add(fwhtHeader(1<<10), false)
	f.Fuzz(func(t *testing.T, data []byte, isH264 bool) {
		e := &Encoder{p: Params{Coded: CodedFWHT}}
		if isH264 {
			e.p.Coded = CodedH264
		}
		for range 2 {
			e.unit(data, dequeued{}, func(au *media.AccessUnit) error {
				if len(au.NALUs) == 0 {
					t.Fatal("an access unit without NAL units")
				}
				return nil
			})
		}
	})
}

func TestNewReturnsNilInterfaceOnError(t *testing.T) {
	e, err := New(encoder.Options{Width: 320, Height: 240}, Params{Device: "/dev/null"})
	if err == nil || e != nil {
		t.Errorf("New(/dev/null) = %v, %v; want a nil Encoder and an error", e, err)
	}
	if _, ok := FindH264(); ok {
		t.Log("this machine has a memory-to-memory H.264 encoder")
	}
}
