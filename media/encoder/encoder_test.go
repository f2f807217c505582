package encoder

import (
	"strings"
	"testing"

	"github.com/camnode/camnode/media"
)

func TestFrameRate(t *testing.T) {
	for _, c := range []struct {
		fps      float64
		num, den uint32
	}{{30, 30, 1}, {25, 25, 1}, {29.97, 30000, 1001}, {59.94, 60000, 1001}, {23.976, 24000, 1001},
		{12.5, 25, 2}, {7.5, 15, 2}, {0.5, 1, 2}, {15.25, 61, 4}, {60, 60, 1}} {
		if num, den := FrameRate(c.fps); num != c.num || den != c.den {
			t.Errorf("FrameRate(%v) = %d/%d, want %d/%d", c.fps, num, den, c.num, c.den)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	o, err := Options{Width: 1280, Height: 720, FPS: 25}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.GOP != 50 || o.Bitrate != DefaultBitrate || o.Preset != "veryfast" || o.Tune != "zerolatency" || o.Profile != "high" {
		t.Errorf("defaults: %+v", o)
	}
	for _, bad := range []Options{{Width: 1281, Height: 720}, {Width: 8, Height: 8}, {Width: 64, Height: 64, FPS: -1},
		{Width: 64, Height: 64, GOP: -5}, {Width: 64, Height: 64, Bitrate: 1}} {
		if _, err := bad.WithDefaults(); err == nil || !strings.HasPrefix(err.Error(), "encoder: ") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

func TestCheckFrame(t *testing.T) {
	i420 := &media.Frame{Format: media.PixelI420, Width: 4, Height: 2,
		Planes: [3][]byte{make([]byte, 8), make([]byte, 2), make([]byte, 2)}, Strides: [3]int{4, 2, 2}}
	if err := CheckFrame(i420, 4, 2); err != nil {
		t.Fatal(err)
	}
	padded := &media.Frame{Format: media.PixelNV12, Width: 4, Height: 4,
		Planes: [3][]byte{make([]byte, 8*3+4), make([]byte, 8+4)}, Strides: [3]int{8, 8}}
	if err := CheckFrame(padded, 4, 4); err != nil {
		t.Fatal(err)
	}
	short := *padded
	short.Planes[1] = short.Planes[1][:11]
	narrow := *i420
	narrow.Strides[0] = 3
	odd := *i420
	odd.Format = 9
	for name, f := range map[string]*media.Frame{"short": &short, "narrow": &narrow, "format": &odd} {
		if err := CheckFrame(f, f.Width, f.Height); err == nil {
			t.Errorf("%s frame accepted", name)
		}
	}
}
