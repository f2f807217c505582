package v4l2

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"slices"
	"testing"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/picture"
)

// TestConvertYUYV: the converter hands the driver's bytesperline to media/picture as
// the stride (4x3 with rows padded to 10 bytes).
func TestConvertYUYV(t *testing.T) {
	yuyv := []byte{
		1, 100, 2, 200, 3, 110, 4, 210, 0xee, 0xee,
		5, 102, 6, 202, 7, 112, 8, 212, 0xee, 0xee,
		9, 50, 10, 60, 11, 70, 12, 80, 0xee, 0xee,
	}
	want := []byte{
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, // Y
		101, 111, 50, 70, // Cb: rows 0 and 1 averaged, row 2 alone
		201, 211, 60, 80, // Cr
	}
	f, err := newConverter(fccYUYV, Format{Width: 4, Height: 3, BytesPerLine: 10}).convert(yuyv)
	if err != nil || !bytes.Equal(slices.Concat(f.Planes[0], f.Planes[1], f.Planes[2]), want) {
		t.Errorf("YUYV: %v, %v", f, err)
	}
	if _, err := newConverter(mustFourCC("RGB3"), Format{Width: 4, Height: 3}).convert(yuyv); err == nil {
		t.Error("RGB3 converted")
	}
}

func TestConvertPlanar(t *testing.T) {
	// 4x2 pictures with bytesperline 6: the planes are handed on without a copy.
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
	for code, n := range map[uint32]int{fccNV12: 17, fccYU12: 17, fccYUYV: 15} {
		bpl := 6
		if code == fccYUYV {
			bpl = 8
		}
		c := newConverter(code, Format{Width: 4, Height: 2, BytesPerLine: bpl})
		if _, err := c.convert(make([]byte, n)); !errors.Is(err, picture.ErrShortFrame) {
			t.Errorf("%s with %d bytes: %v, want a short-frame error", fourccString(code), n, err)
		}
	}
	if _, err := newConverter(fccYUYV, Format{Width: 3, Height: 2}).convert(make([]byte, 64)); err == nil {
		t.Error("YUYV with an odd width converted")
	}
}

// gradient is a test picture with a different value in every pixel.
func gradient(w, h int) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Y[img.YOffset(x, y)] = byte(16 + (x*7+y*3)%220)
			ci := img.COffset(x, y)
			img.Cb[ci], img.Cr[ci] = byte(64+x*4), byte(192-y*4)
		}
	}
	return img
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
