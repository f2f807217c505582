package picture

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/camnode/camnode/media"
)

// packedRef is the plain pair-by-pair conversion PackedToI420 must match.
func packedRef(src []byte, w, h, bpl int, uyvy bool) []byte {
	cw, ch := (w+1)/2, (h+1)/2
	dst := make([]byte, I420Size(w, h))
	yp, up, vp := dst[:w*h], dst[w*h:w*h+cw*ch], dst[w*h+cw*ch:]
	yo, uo, vo := 0, 1, 3
	if uyvy {
		yo, uo, vo = 1, 0, 2
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			yp[y*w+x] = src[y*bpl+2*x-x%2*2+yo+x%2*2]
		}
	}
	for cy := 0; cy < ch; cy++ {
		r0, r1 := 2*cy*bpl, min(2*cy+1, h-1)*bpl
		for cx := 0; cx < cw; cx++ {
			up[cy*cw+cx] = byte((int(src[r0+4*cx+uo]) + int(src[r1+4*cx+uo]) + 1) / 2)
			vp[cy*cw+cx] = byte((int(src[r0+4*cx+vo]) + int(src[r1+4*cx+vo]) + 1) / 2)
		}
	}
	return dst
}

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
	if got := PackedToI420(nil, yuyv, 4, 3, 10, false); !bytes.Equal(got, want) {
		t.Errorf("YUYV -> I420\n got %v\nwant %v", got, want)
	}
	uyvy := make([]byte, len(yuyv))
	for i := 0; i+4 <= len(yuyv); i += 10 {
		for p := i; p < i+8; p += 4 {
			uyvy[p], uyvy[p+1], uyvy[p+2], uyvy[p+3] = yuyv[p+1], yuyv[p], yuyv[p+3], yuyv[p+2]
		}
	}
	buf := make([]byte, 3, 64) // a reused buffer with room is reused
	if got := PackedToI420(buf, uyvy, 4, 3, 10, true); !bytes.Equal(got, want) || &got[0] != &buf[:1][0] {
		t.Errorf("UYVY -> I420\n got %v\nwant %v (in the given buffer)", got, want)
	}
	// The word-at-a-time path (16 pixels a step) against the plain one: widths with and
	// without a tail of any length, odd and even heights, padded rows, random bytes
	// (averages that round up).
	rng := rand.New(rand.NewPCG(3, 4))
	for _, w := range []int{2, 6, 8, 10, 14, 16, 18, 22, 30, 32, 34, 46, 64, 1278, 1280} {
		for _, h := range []int{1, 2, 3, 7, 8} {
			for _, pad := range []int{0, 6} {
				bpl := 2*w + pad
				src := make([]byte, bpl*h)
				for i := range src {
					src[i] = byte(rng.Uint32())
				}
				for _, u := range []bool{false, true} {
					if got, want := PackedToI420(nil, src, w, h, bpl, u), packedRef(src, w, h, bpl, u); !bytes.Equal(got, want) {
						t.Fatalf("%dx%d stride %d uyvy %v: differs from the plain conversion", w, h, bpl, u)
					}
				}
			}
		}
	}
}

func TestConvertPlanar(t *testing.T) {
	// 4x2 pictures with a stride of 6: the planes are handed on without a copy.
	y := []byte{1, 2, 3, 4, 0, 0, 5, 6, 7, 8, 0, 0}
	nv12 := append(append([]byte(nil), y...), 10, 20, 11, 21, 0, 0)
	f, err := NewConverter(NV12, 4, 2, 6).Convert(nv12)
	if err != nil || f.Format != media.PixelNV12 || !bytes.Equal(f.Planes[0], y) || !bytes.Equal(f.Planes[1], nv12[12:18]) ||
		f.Strides != [3]int{6, 6, 0} || &f.Planes[0][0] != &nv12[0] {
		t.Errorf("NV12: %+v, %v", f, err)
	}
	yu12 := append(append([]byte(nil), y...), 10, 11, 0, 20, 21, 0)
	for l, u := range map[Layout][]byte{I420: {10, 11, 0}, YV12: {20, 21, 0}} {
		f, err := NewConverter(l, 4, 2, 6).Convert(yu12)
		v := yu12[15:18]
		if l == YV12 {
			v = yu12[12:15]
		}
		if err != nil || f.Format != media.PixelI420 || !bytes.Equal(f.Planes[1], u) || !bytes.Equal(f.Planes[2], v) || f.Strides != [3]int{6, 3, 3} {
			t.Errorf("%s: %+v, %v", l, f, err)
		}
	}
	for l, n := range map[Layout]int{NV12: 17, I420: 17, YUYV: 15} {
		stride := 6
		if l == YUYV {
			stride = 8
		}
		want := FrameSize(l, 4, 2, stride)
		if _, err := NewConverter(l, 4, 2, stride).Convert(make([]byte, n)); !errors.Is(err, ErrShortFrame) || n >= want {
			t.Errorf("%s with %d bytes (frame %d): %v, want a short-frame error", l, n, want, err)
		}
	}
	if _, err := NewConverter(YUYV, 3, 2, 0).Convert(make([]byte, 64)); err == nil {
		t.Error("YUYV with an odd width converted")
	}
}

func TestFrameSize(t *testing.T) {
	for _, c := range []struct {
		l            Layout
		w, h, stride int
		want         int
	}{
		{I420, 1280, 720, 0, 1280 * 720 * 3 / 2},
		{I420, 1000, 562, 1024, 1024*562 + 2*512*281}, // a padded stride
		{I420, 5, 3, 0, 15 + 2*3*2},
		{NV12, 6, 4, 0, 24 + 12},
		{YUYV, 640, 480, 0, 640 * 480 * 2},
		{MJPEG, 640, 480, 0, 0},
	} {
		if got := FrameSize(c.l, c.w, c.h, c.stride); got != c.want {
			t.Errorf("FrameSize(%s, %d, %d, %d) = %d, want %d", c.l, c.w, c.h, c.stride, got, c.want)
		}
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

// meanDiff is the mean absolute difference of the w x h samples of two planes.
func meanDiff(a []byte, as int, b []byte, bs int, w, h int) float64 {
	sum := 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			d := int(a[y*as+x]) - int(b[y*bs+x])
			sum += max(d, -d)
		}
	}
	return float64(sum) / float64(w*h)
}

// decoders are the two MJPEG decoders: libjpeg-turbo (required: scripts/deps.sh installs
// libturbojpeg0) and image/jpeg.
func decoders(t *testing.T) map[string]*JPEGDecoder {
	t.Helper()
	if err := TurboJPEGAvailable(); err != nil {
		t.Fatalf("libturbojpeg: %v", err)
	}
	d := NewJPEGDecoder()
	if !d.Turbo() {
		t.Fatal("NewJPEGDecoder does not use libjpeg-turbo although it is available")
	}
	return map[string]*JPEGDecoder{"libjpeg-turbo": d, "image/jpeg": newStdJPEGDecoder()}
}

func TestMJPEG(t *testing.T) {
	pic := encodeJPEG(t, gradient(48, 32))
	ref, err := jpeg.Decode(bytes.NewReader(pic))
	if err != nil {
		t.Fatal(err)
	}
	want := ref.(*image.YCbCr)
	// JPEG is full range, the decoders give video range (16-235 luma, 16-240 chroma).
	want.Y, want.Cb, want.Cr = videoRange(want.Y, 219), videoRange(want.Cb, 224), videoRange(want.Cr, 224)
	noDHT := stripDHT(pic)
	if _, err := jpeg.Decode(bytes.NewReader(noDHT)); err == nil {
		t.Fatal("image/jpeg decodes a picture without Huffman tables: the test proves nothing")
	}
	if at, ok := missingHuffmanTables(pic); ok {
		t.Errorf("tables reported missing at %d in a complete picture", at)
	}
	for dname, d := range decoders(t) {
		for name, data := range map[string][]byte{"with tables": pic, "without tables (UVC)": noDHT} {
			var f media.Frame
			if err := d.Decode(data, &f); err != nil {
				t.Fatalf("%s, %s: %v", dname, name, err)
			}
			if f.Format != media.PixelI420 || f.Width != 48 || f.Height != 32 {
				t.Fatalf("%s, %s: frame %dx%d format %d", dname, name, f.Width, f.Height, f.Format)
			}
			// Both decoders agree with image/jpeg's picture to within the rounding of a
			// fast DCT.
			for p, r := range []struct {
				plane  []byte
				stride int
			}{{want.Y, want.YStride}, {want.Cb, want.CStride}, {want.Cr, want.CStride}} {
				pw, ph := 48, 32
				if p > 0 {
					pw, ph = 24, 16
				}
				if md := meanDiff(f.Planes[p], f.Strides[p], r.plane, r.stride, pw, ph); md > 1 {
					t.Errorf("%s, %s: plane %d differs from image/jpeg's by %.2f on average", dname, name, p, md)
				}
			}
		}

		gray := image.NewGray(image.Rect(0, 0, 6, 4))
		for i := range gray.Pix {
			gray.Pix[i] = byte(i * 10)
		}
		var f media.Frame
		if err := d.Decode(encodeJPEG(t, gray), &f); err != nil {
			t.Fatal(dname, err)
		}
		g, _ := jpeg.Decode(bytes.NewReader(encodeJPEG(t, gray)))
		if f.Width != 6 || f.Height != 4 || meanDiff(f.Planes[0], f.Strides[0], videoRange(g.(*image.Gray).Pix, 219), g.(*image.Gray).Stride, 6, 4) > 1 ||
			!reflect.DeepEqual(f.Planes[1][:6], bytes.Repeat([]byte{128}, 6)) || !reflect.DeepEqual(f.Planes[2][:6], bytes.Repeat([]byte{128}, 6)) {
			t.Errorf("%s, greyscale: %+v", dname, f)
		}
		for _, bad := range [][]byte{nil, {0xff, 0xd8}, []byte("not a jpeg at all")} {
			if err := d.Decode(bad, &f); err == nil {
				t.Errorf("%s: %d bytes of garbage decoded", dname, len(bad))
			}
		}
	}
}

// TestMJPEGSubsamplings decodes pictures in the subsamplings webcams send (ffmpeg makes
// them; image/jpeg writes only 4:2:0): both decoders give the same I420 picture.
func TestMJPEGSubsamplings(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("PEERS_REQUIRED") == "1" {
			t.Fatal("ffmpeg missing")
		}
		t.Skip("ffmpeg missing")
	}
	for _, pixfmt := range []string{"yuvj420p", "yuvj422p", "yuvj444p", "gray"} {
		pic, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=66x38:rate=1",
			"-frames:v", "1", "-pix_fmt", pixfmt, "-q:v", "2", "-f", "mjpeg", "-").Output()
		if err != nil {
			t.Fatalf("ffmpeg %s: %v", pixfmt, err)
		}
		var got [2]media.Frame
		var planes [2][]byte
		i := 0
		for name, d := range decoders(t) {
			if err := d.Decode(pic, &got[i]); err != nil {
				t.Fatalf("%s %s: %v", name, pixfmt, err)
			}
			f := got[i]
			if f.Width != 66 || f.Height != 38 || f.Format != media.PixelI420 {
				t.Fatalf("%s %s: %dx%d format %d", name, pixfmt, f.Width, f.Height, f.Format)
			}
			for p := range 3 {
				pw, ph := 66, 38
				if p > 0 {
					pw, ph = 33, 19
				}
				for y := range ph {
					planes[i] = append(planes[i], f.Planes[p][y*f.Strides[p]:][:pw]...)
				}
			}
			i++
		}
		if md := meanDiff(planes[0], len(planes[0]), planes[1], len(planes[1]), len(planes[0]), 1); md > 1.5 {
			t.Errorf("%s: the decoders differ by %.2f on average", pixfmt, md)
		}
	}
}

func TestFromImageSubsampledChroma(t *testing.T) {
	img := image.NewYCbCr(image.Rect(0, 0, 4, 2), image.YCbCrSubsampleRatio422)
	for i := range img.Y {
		img.Y[i] = byte(i)
	}
	copy(img.Cb, []byte{10, 11, 12, 13}) // 2x2: one sample per pixel pair
	copy(img.Cr, []byte{20, 21, 22, 23})
	d := newStdJPEGDecoder()
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

// TestTurboJPEGMissing runs this test binary again with the library name pointing
// nowhere, as on a machine without libturbojpeg0: the decoder falls back to image/jpeg
// and still decodes, and TurboJPEGAvailable names the package.
func TestTurboJPEGMissing(t *testing.T) {
	if os.Getenv("PICTURE_TEST_CHILD") == "1" {
		err := TurboJPEGAvailable()
		if err == nil || !strings.Contains(err.Error(), "apt install libturbojpeg0") {
			t.Fatalf("TurboJPEGAvailable without the library: %v", err)
		}
		d := NewJPEGDecoder()
		var f media.Frame
		if d.Turbo() {
			t.Fatal("decoder uses libjpeg-turbo without the library")
		}
		if err := d.Decode(stripDHT(encodeJPEG(t, gradient(32, 16))), &f); err != nil || f.Width != 32 {
			t.Fatalf("fallback decode: %v %+v", err, f)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestTurboJPEGMissing$", "-test.v")
	cmd.Env = append(os.Environ(), "PICTURE_TEST_CHILD=1", TurboJPEGLibraryEnv+"=libturbojpeg-hidden-by-test.so.0")
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.ENOEXEC) {
		t.Skipf("this test binary cannot start itself (run under an emulator): %v", err)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestTurboJPEGMissing") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func checkFrame(t *testing.T, fr *media.Frame) {
	t.Helper()
	cw, ch := (fr.Width+1)/2, (fr.Height+1)/2
	if fr.Width <= 0 || fr.Height <= 0 || fr.Strides[0] < fr.Width || len(fr.Planes[0]) < fr.Strides[0]*(fr.Height-1)+fr.Width {
		t.Fatalf("luma plane of %d bytes, stride %d for %dx%d", len(fr.Planes[0]), fr.Strides[0], fr.Width, fr.Height)
	}
	switch fr.Format {
	case media.PixelI420:
		for p := 1; p <= 2; p++ {
			if fr.Strides[p] < cw || len(fr.Planes[p]) < fr.Strides[p]*(ch-1)+cw {
				t.Fatalf("chroma plane %d of %d bytes, stride %d for %dx%d", p, len(fr.Planes[p]), fr.Strides[p], fr.Width, fr.Height)
			}
		}
	case media.PixelNV12:
		if fr.Strides[1] < 2*cw || len(fr.Planes[1]) < fr.Strides[1]*(ch-1)+2*cw {
			t.Fatalf("CbCr plane of %d bytes, stride %d for %dx%d", len(fr.Planes[1]), fr.Strides[1], fr.Width, fr.Height)
		}
	default:
		t.Fatalf("pixel format %d", fr.Format)
	}
}

// FuzzMJPEG decodes any bytes as a camera's MJPEG frame with both decoders.
func FuzzMJPEG(f *testing.F) {
	var b bytes.Buffer
	jpeg.Encode(&b, gradient(24, 16), nil)
	f.Add(b.Bytes())
	f.Add(stripDHT(b.Bytes()))
	b.Reset()
	jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 9, 7)), nil)
	f.Add(b.Bytes())
	turbo, std := NewJPEGDecoder(), newStdJPEGDecoder()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		for _, d := range []*JPEGDecoder{turbo, std} {
			var fr media.Frame
			if err := d.Decode(data, &fr); err != nil {
				continue
			}
			checkFrame(t, &fr)
		}
	})
}

// FuzzConvert hands buffers of any length and content to the converter of every layout
// at small sizes: a bad buffer is an error, never a panic, and a frame's planes hold the
// picture its size and strides promise.
func FuzzConvert(f *testing.F) {
	f.Add(uint8(0), uint8(4), uint8(2), uint8(8), make([]byte, 16))
	f.Add(uint8(2), uint8(6), uint8(3), uint8(6), make([]byte, 28))
	f.Add(uint8(5), uint8(16), uint8(16), uint8(0), encodeJPEG(f, gradient(16, 16)))
	f.Fuzz(func(t *testing.T, which, w, h, stride uint8, data []byte) {
		l := Layout(int(which)%6 + 1)
		fr, err := NewConverter(l, int(w%64)+1, int(h%64)+1, int(stride)).Convert(data)
		if err != nil {
			return
		}
		checkFrame(t, fr)
	})
}

// videoRange maps full-range samples to video range: 0..255 onto 16..16+span.
func videoRange(full []byte, span float64) []byte {
	out := make([]byte, len(full))
	for i, v := range full {
		out[i] = byte(math.Round(16 + float64(v)*span/255))
	}
	return out
}

// TestVideoRangeWords: the word-at-a-time full-to-video range mapping gives what the
// tables say for every sample value, in word and tail positions alike, and leaves the
// bytes past each row's width alone.
func TestVideoRangeWords(t *testing.T) {
	for _, c := range []struct {
		span uint64
		lut  *[256]byte
	}{{lumaSpan, &videoLuma}, {chromaSpan, &videoChroma}} {
		for i := range 256 {
			if want := byte(16 + (i*int(c.span)+127)/255); c.lut[i] != want {
				t.Fatalf("span %d: table maps %d to %d, want %d", c.span, i, c.lut[i], want)
			}
		}
		for _, w := range []int{256, 259, 5} {
			stride := w + 3
			h := (256 + w - 1) / w
			p := make([]byte, stride*h)
			for i := range p {
				p[i] = byte(i%stride*7 + i/stride) // every value, at word and tail places
				if i%stride >= w {
					p[i] = 0xee
				}
			}
			want := slices.Clone(p)
			for i := range want {
				if i%stride < w {
					want[i] = c.lut[want[i]]
				}
			}
			mapPlane(p, stride, w, h, c.span, c.lut)
			if !bytes.Equal(p, want) {
				t.Errorf("span %d width %d: mapped plane differs from the table's", c.span, w)
			}
		}
	}
}
