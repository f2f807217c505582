package snapshot

import (
	"testing"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/h264"
)

// Whatever sizes, strides and plane lengths a source claims, FromFrame and Clone either
// refuse with an error or make a picture; they never read past a plane.
func FuzzFromFrame(f *testing.F) {
	f.Add(uint8(1), 16, 8, 16, 8, 8, 128, 32, 32)
	f.Add(uint8(2), 15, 7, 16, 16, 0, 120, 64, 0)
	f.Add(uint8(1), 3, 3, 3, 1, 2, 9, 1, 2)
	f.Fuzz(func(t *testing.T, format uint8, w, h, s0, s1, s2, l0, l1, l2 int) {
		if w > 256 || h > 256 || l0 > 1<<16 || l1 > 1<<16 || l2 > 1<<16 || l0 < 0 || l1 < 0 || l2 < 0 {
			return
		}
		fr := &media.Frame{Format: media.PixelFormat(format), Width: w, Height: h,
			Planes:  [3][]byte{make([]byte, l0), make([]byte, l1), make([]byte, l2)},
			Strides: [3]int{s0, s1, s2}}
		b, err := FromFrame(fr, 50)
		if err == nil && len(b) == 0 {
			t.Fatal("no error and no JPEG")
		}
		if c, err := Clone(fr); err == nil {
			if _, err := FromFrame(c, 50); err != nil {
				t.Fatalf("clone of an accepted frame refused: %v", err)
			}
		}
	})
}

// checkKeyframe takes any bytes as NAL units without panicking.
func FuzzCheckKeyframe(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47, 0xfe, 0xc8, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 0, 1, 0x65, 0x88, 0x84})
	f.Add([]byte{0, 0, 1, 0x65})
	f.Fuzz(func(t *testing.T, stream []byte) {
		var au [][]byte
		for n := range h264.NALUs(stream) {
			au = append(au, n)
		}
		checkKeyframe(au)
	})
}
