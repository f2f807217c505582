package picture

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"testing"
)

// withThumbnail puts an APP1 segment holding a whole small JPEG (its own FFD8…FFD9) right
// after the SOI of pic, as cameras with EXIF thumbnails do.
func withThumbnail(t testing.TB, pic []byte) []byte {
	thumb := encodeJPEG(t, gradient(8, 8))
	seg := append([]byte{0xff, 0xe1, byte((len(thumb) + 2) >> 8), byte(len(thumb) + 2)}, thumb...)
	return append(append(append([]byte(nil), pic[:2]...), seg...), pic[2:]...)
}

func TestCutJPEG(t *testing.T) {
	a := encodeJPEG(t, gradient(32, 16))
	var rb bytes.Buffer
	// A greyscale picture, a picture with a thumbnail in APP1 and without DHT.
	if err := jpeg.Encode(&rb, image.NewGray(image.Rect(0, 0, 24, 24)), nil); err != nil {
		t.Fatal(err)
	}
	b := withThumbnail(t, stripDHT(encodeJPEG(t, gradient(48, 32))))
	stream := append(append(append([]byte(nil), a...), b...), rb.Bytes()...)
	var got [][]byte
	for off := 0; off < len(stream); {
		n, err := CutJPEG(stream[off:])
		if err != nil || n == 0 {
			t.Fatalf("at %d: n %d, %v", off, n, err)
		}
		got = append(got, stream[off:off+n])
		off += n
	}
	if len(got) != 3 || !bytes.Equal(got[0], a) || !bytes.Equal(got[1], b) || !bytes.Equal(got[2], rb.Bytes()) {
		t.Fatalf("cut into %d pictures, want the 3 written", len(got))
	}
	// Every prefix of a picture asks for more, never cuts early.
	for i := 0; i < len(b); i++ {
		if n, err := CutJPEG(b[:i]); n != 0 || err != nil {
			t.Fatalf("prefix of %d bytes of %d: n %d, %v", i, len(b), n, err)
		}
	}
	for _, bad := range [][]byte{[]byte("GIF89a"), {0xff, 0xd8, 0x12, 0x34}, {0xff, 0xd8, 0xff, 0xd8}, {0xff, 0xd8, 0xff, 0xe0, 0, 1}} {
		if _, err := CutJPEG(bad); !errors.Is(err, ErrNotJPEG) {
			t.Errorf("% x: %v, want ErrNotJPEG", bad, err)
		}
	}
	huge := append([]byte{0xff, 0xd8, 0xff, 0xda, 0, 2}, make([]byte, MaxJPEGSize)...)
	if _, err := CutJPEG(huge); !errors.Is(err, ErrNotJPEG) {
		t.Errorf("a picture without end beyond MaxJPEGSize: %v", err)
	}
}

// FuzzCutJPEG: any bytes cut into pictures that start with SOI, end with EOI and fit in
// the input, or an error; never a panic.
func FuzzCutJPEG(f *testing.F) {
	f.Add(encodeJPEG(f, gradient(16, 16)))
	f.Add(withThumbnail(f, encodeJPEG(f, gradient(16, 8))))
	f.Add([]byte{0xff, 0xd8, 0xff, 0xff, 0xd9})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := CutJPEG(b)
		if err != nil || n == 0 {
			return
		}
		if n < 4 || n > len(b) || b[0] != 0xff || b[1] != 0xd8 || b[n-2] != 0xff || b[n-1] != 0xd9 {
			t.Fatalf("cut %d of %d bytes: % x … % x", n, len(b), b[:min(4, n)], b[max(0, n-2):n])
		}
	})
}
