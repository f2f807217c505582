package v4l2

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"sync"

	"github.com/camnode/camnode/media"
)

// mjpegDecoder decodes the JPEG pictures of an MJPEG camera with the standard library
// into I420 frames.
type mjpegDecoder struct {
	fixed []byte // the picture with the standard Huffman tables put in, reused
	i420  []byte
}

// decode sets fr to the picture in data. A 4:2:0 picture is passed on in the decoder's
// own planes; other subsamplings and greyscale are converted into a reused buffer.
func (d *mjpegDecoder) decode(data []byte, fr *media.Frame) error {
	src := data
	if at, ok := missingHuffmanTables(data); ok {
		d.fixed = append(append(append(d.fixed[:0], data[:at]...), standardDHT()...), data[at:]...)
		src = d.fixed
	}
	img, err := jpeg.Decode(bytes.NewReader(src))
	if err != nil {
		return fmt.Errorf("MJPEG: %w", err)
	}
	return d.fromImage(img, fr)
}

// fromImage sets fr to the decoded picture img.
func (d *mjpegDecoder) fromImage(img image.Image, fr *media.Frame) error {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return errors.New("MJPEG: empty picture")
	}
	switch m := img.(type) {
	case *image.YCbCr:
		if m.SubsampleRatio == image.YCbCrSubsampleRatio420 && b.Min == (image.Point{}) {
			*fr = media.Frame{Format: media.PixelI420, Width: w, Height: h,
				Planes:  [3][]byte{m.Y, m.Cb, m.Cr},
				Strides: [3]int{m.YStride, m.CStride, m.CStride}}
			return nil
		}
		d.grow(w, h)
		setI420(fr, d.i420, w, h)
		for y := 0; y < h; y++ {
			copy(fr.Planes[0][y*w:(y+1)*w], m.Y[m.YOffset(b.Min.X, b.Min.Y+y):])
		}
		// Chroma sample (cx, cy) of I420 covers luma (2cx, 2cy): take the source's
		// sample there, whatever its subsampling (4:2:2 webcams, 4:4:4, 4:4:0, 4:1:1).
		cw, ch := (w+1)/2, (h+1)/2
		for cy := 0; cy < ch; cy++ {
			for cx := 0; cx < cw; cx++ {
				ci := m.COffset(b.Min.X+2*cx, b.Min.Y+2*cy)
				fr.Planes[1][cy*cw+cx] = m.Cb[ci]
				fr.Planes[2][cy*cw+cx] = m.Cr[ci]
			}
		}
	case *image.Gray:
		d.grow(w, h)
		setI420(fr, d.i420, w, h)
		for y := 0; y < h; y++ {
			copy(fr.Planes[0][y*w:(y+1)*w], m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):])
		}
		for i := range fr.Planes[1] {
			fr.Planes[1][i], fr.Planes[2][i] = 128, 128
		}
	default:
		return fmt.Errorf("MJPEG: unsupported colour model %T", img)
	}
	return nil
}

func (d *mjpegDecoder) grow(w, h int) {
	if n := i420Size(w, h); cap(d.i420) < n {
		d.i420 = make([]byte, n)
	} else {
		d.i420 = d.i420[:n]
	}
}

// missingHuffmanTables reports where to insert the standard Huffman tables: many UVC
// cameras send MJPEG frames without a DHT segment (AVI1 MJPEG relies on the tables of
// JPEG Annex K.3), which image/jpeg refuses. It returns the offset of the SOS marker when
// no DHT precedes it.
//
// Layout: FFD8 (SOI), then segments FFxx LLLL (LLLL counts itself, big-endian) up to
// FFDA (SOS), after which the entropy-coded data follows.
func missingHuffmanTables(b []byte) (int, bool) {
	if len(b) < 4 || b[0] != 0xff || b[1] != 0xd8 {
		return 0, false
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xff {
			return 0, false // not a marker: corrupt, let the decoder say so
		}
		switch m := b[i+1]; {
		case m == 0xff: // fill byte
			i++
		case m == 0xc4: // DHT
			return 0, false
		case m == 0xda: // SOS
			return i, true
		case m == 0x01 || m >= 0xd0 && m <= 0xd7: // markers without a length
			i += 2
		default:
			i += 2 + (int(b[i+2])<<8 | int(b[i+3]))
		}
	}
	return 0, false
}

// standardDHT is a DHT segment with the four tables of JPEG Annex K.3, which are the
// tables image/jpeg's encoder writes: taken from a tiny picture it encodes.
var standardDHT = sync.OnceValue(func() []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewYCbCr(image.Rect(0, 0, 16, 16), image.YCbCrSubsampleRatio420), nil); err != nil {
		panic("v4l2: encoding the Huffman table template: " + err.Error())
	}
	b := buf.Bytes()
	var dht []byte
	for i := 2; i+4 <= len(b) && b[i] == 0xff && b[i+1] != 0xda; {
		n := 2 + (int(b[i+2])<<8 | int(b[i+3]))
		if b[i+1] == 0xc4 {
			dht = append(dht, b[i:i+n]...)
		}
		i += n
	}
	if len(dht) == 0 {
		panic("v4l2: image/jpeg wrote no DHT segment")
	}
	return dht
})
