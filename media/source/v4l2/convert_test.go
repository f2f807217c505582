package v4l2

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"reflect"
	"testing"

	"github.com/camnode/camnode/media"
)

func TestPackedToI420(t *testing.T) {
	// 4x3 with a padded stride of 10: rows of Y0 Cb Y1 Cr pairs, then two pad bytes.
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
	if got := packedToI420(nil, yuyv, 4, 3, 10, false); !bytes.Equal(got, want) {
		t.Errorf("YUYV -> I420\n got %v\nwant %v", got, want)
	}
	// The same picture as UYVY: Cb Y0 Cr Y1.
	uyvy := make([]byte, len(yuyv))
	for i := 0; i+4 <= len(yuyv); i += 10 {
		for p := i; p < i+8; p += 4 {
			uyvy[p], uyvy[p+1], uyvy[p+2], uyvy[p+3] = yuyv[p+1], yuyv[p], yuyv[p+3], yuyv[p+2]
		}
	}
	buf := make([]byte, 3, 64) // a reused buffer with room is reused
	if got := packedToI420(buf, uyvy, 4, 3, 10, true); !bytes.Equal(got, want) || &got[0] != &buf[:1][0] {
		t.Errorf("UYVY -> I420\n got %v\nwant %v (in the given buffer)", got, want)
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
		c := newConverter(code, Format{Width: 4, Height: 2, BytesPerLine: 6})
		if code == fccYUYV {
			c.f.BytesPerLine = 8
		}
		if _, err := c.convert(make([]byte, n)); !errors.Is(err, errShortFrame) {
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

// stripDHT removes the Huffman table segments, as many UVC cameras send their frames.
func stripDHT(b []byte) []byte {
	out := append([]byte(nil), b[:2]...)
	i := 2
	for i+4 <= len(b) && b[i+1] != 0xda {
		n := 2 + (int(b[i+2])<<8 | int(b[i+3]))
		if b[i+1] != 0xc4 {
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return append(out, b[i:]...)
}

func TestMJPEG(t *testing.T) {
	pic := encodeJPEG(t, gradient(48, 32))
	ref, err := jpeg.Decode(bytes.NewReader(pic))
	if err != nil {
		t.Fatal(err)
	}
	want := ref.(*image.YCbCr)
	noDHT := stripDHT(pic)
	if _, err := jpeg.Decode(bytes.NewReader(noDHT)); err == nil {
		t.Fatal("image/jpeg decodes a picture without Huffman tables: the test proves nothing")
	}
	if at, ok := missingHuffmanTables(pic); ok {
		t.Errorf("tables reported missing at %d in a complete picture", at)
	}
	c := newConverter(fccMJPEG, Format{Width: 48, Height: 32})
	for name, data := range map[string][]byte{"with tables": pic, "without tables (UVC)": noDHT} {
		f, err := c.convert(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f.Format != media.PixelI420 || f.Width != 48 || f.Height != 32 ||
			!bytes.Equal(f.Planes[0], want.Y) || !bytes.Equal(f.Planes[1], want.Cb) || !bytes.Equal(f.Planes[2], want.Cr) ||
			f.Strides != [3]int{want.YStride, want.CStride, want.CStride} {
			t.Errorf("%s: frame %dx%d format %d strides %v differs from image/jpeg's picture", name, f.Width, f.Height, f.Format, f.Strides)
		}
	}

	gray := image.NewGray(image.Rect(0, 0, 6, 4))
	for i := range gray.Pix {
		gray.Pix[i] = byte(i * 10)
	}
	f, err := c.convert(encodeJPEG(t, gray))
	if err != nil {
		t.Fatal(err)
	}
	g, _ := jpeg.Decode(bytes.NewReader(encodeJPEG(t, gray)))
	var wantY []byte
	for y := 0; y < 4; y++ {
		wantY = append(wantY, g.(*image.Gray).Pix[g.(*image.Gray).PixOffset(0, y):][:6]...)
	}
	if f.Width != 6 || f.Height != 4 || !bytes.Equal(f.Planes[0], wantY) ||
		!reflect.DeepEqual(f.Planes[1], bytes.Repeat([]byte{128}, 6)) || !reflect.DeepEqual(f.Planes[2], bytes.Repeat([]byte{128}, 6)) {
		t.Errorf("greyscale: %+v", f)
	}

	for _, bad := range [][]byte{nil, {0xff, 0xd8}, []byte("not a jpeg at all"), pic[:len(pic)/2]} {
		if _, err := c.convert(bad); err == nil {
			t.Errorf("%d bytes of garbage decoded", len(bad))
		}
	}
}

func TestMJPEGSubsampledChroma(t *testing.T) {
	// image/jpeg writes only 4:2:0 and greyscale: build the other layouts as the decoder
	// would return them and convert through the same path.
	img := image.NewYCbCr(image.Rect(0, 0, 4, 2), image.YCbCrSubsampleRatio422)
	for i := range img.Y {
		img.Y[i] = byte(i)
	}
	copy(img.Cb, []byte{10, 11, 12, 13}) // 2x2: one sample per pixel pair
	copy(img.Cr, []byte{20, 21, 22, 23})
	var d mjpegDecoder
	var f media.Frame
	if err := d.fromImage(img, &f); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Planes[1], []byte{10, 11}) || !bytes.Equal(f.Planes[2], []byte{20, 21}) {
		t.Errorf("4:2:2 chroma %v %v, want the top row's samples", f.Planes[1], f.Planes[2])
	}
	if err := d.fromImage(image.NewCMYK(image.Rect(0, 0, 2, 2)), &f); err == nil {
		t.Error("CMYK accepted")
	}
}
