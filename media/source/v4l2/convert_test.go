package v4l2

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/picture"
)

// TestConvertYUYV: the converter hands the driver's bytesperline to media/picture as
// the stride (2x2 with rows padded to 6 bytes), and refuses a format it has no layout for.
func TestConvertYUYV(t *testing.T) {
	yuyv := []byte{1, 100, 2, 200, 0xee, 0xee, 3, 102, 4, 204, 0xee, 0xee}
	f, err := newConverter(fccYUYV, Format{Width: 2, Height: 2, BytesPerLine: 6}).convert(yuyv)
	if want := []byte{1, 2, 3, 4, 101, 202}; err != nil || !bytes.Equal(slices.Concat(f.Planes[0], f.Planes[1], f.Planes[2]), want) {
		t.Errorf("YUYV: %v, %v; want planes %v", f, err, want)
	}
	if _, err := newConverter(mustFourCC("RGB3"), Format{Width: 2, Height: 2}).convert(yuyv); err == nil {
		t.Error("RGB3 converted")
	}
}

// TestConvertPlanar: each planar FourCC maps to its media/picture layout with the
// driver's bytesperline as the stride (4x2 pictures, rows of 6 bytes: the planes are
// handed on without a copy).
func TestConvertPlanar(t *testing.T) {
	y := []byte{1, 2, 3, 4, 0, 0, 5, 6, 7, 8, 0, 0}
	nv12 := append(append([]byte(nil), y...), 10, 20, 11, 21, 0, 0)
	c := newConverter(fccNV12, Format{Width: 4, Height: 2, BytesPerLine: 6})
	f, err := c.convert(nv12)
	if err != nil || f.Format != media.PixelNV12 || !bytes.Equal(f.Planes[0], y) || !bytes.Equal(f.Planes[1], nv12[12:18]) ||
		f.Strides != [3]int{6, 6, 0} || &f.Planes[0][0] != &nv12[0] {
		t.Errorf("NV12: %+v, %v", f, err)
	}
	yu12 := append(append([]byte(nil), y...), 10, 11, 0, 20, 21, 0)
	for code, u := range map[uint32][]byte{fccYU12: {10, 11, 0}, fccYV12: {20, 21, 0}} {
		c := newConverter(code, Format{Width: 4, Height: 2, BytesPerLine: 6})
		f, err := c.convert(yu12)
		v := yu12[15:18]
		if code == fccYV12 {
			v = yu12[12:15]
		}
		if err != nil || f.Format != media.PixelI420 || !bytes.Equal(f.Planes[1], u) || !bytes.Equal(f.Planes[2], v) || f.Strides != [3]int{6, 3, 3} {
			t.Errorf("%s: %+v, %v", fourccString(code), f, err)
		}
	}
	// Short buffers, odd widths, every layout's sizes and fuzzing are media/picture's tests.
	if _, err := newConverter(fccNV12, Format{Width: 4, Height: 2, BytesPerLine: 6}).convert(nv12[:17]); !errors.Is(err, picture.ErrShortFrame) {
		t.Errorf("NV12 with 17 bytes: %v, want a short-frame error", err)
	}
}
