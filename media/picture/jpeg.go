package picture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"sync"

	"github.com/camnode/camnode/media"
)

// JPEGDecoder decodes the JPEG pictures of MJPEG cameras and programs into I420 frames:
// with libjpeg-turbo when the library is on this machine (TurboJPEGAvailable), with
// image/jpeg otherwise. Use it from one goroutine at a time.
type JPEGDecoder struct {
	turbo *turboDecoder // nil: image/jpeg
	fixed []byte        // the picture with the standard Huffman tables put in, reused
	i420  []byte
}

// NewJPEGDecoder returns a decoder that uses libjpeg-turbo when it is available.
func NewJPEGDecoder() *JPEGDecoder {
	d := &JPEGDecoder{}
	if TurboJPEGAvailable() == nil {
		d.turbo = newTurboDecoder()
	}
	return d
}

// newStdJPEGDecoder returns a decoder that uses image/jpeg only.
func newStdJPEGDecoder() *JPEGDecoder { return &JPEGDecoder{} }

// Turbo tells whether the decoder uses libjpeg-turbo.
func (d *JPEGDecoder) Turbo() bool { return d.turbo != nil }

// Decode sets fr to the picture in data, in the decoder's own buffers (valid until the
// next call). Pictures in 4:2:2, 4:4:4 and other subsamplings and greyscale come out as
// I420 too.
//
// JPEG (JFIF) samples are full range, 0 to 255; camnode's H.264 is video range like every
// camera's, 16 to 235 for luma and 16 to 240 for chroma, so Decode maps them: without it
// blacks and whites clip and the picture has too much contrast.
func (d *JPEGDecoder) Decode(data []byte, fr *media.Frame) error {
	var err error
	if d.turbo != nil {
		err = d.turbo.decode(data, fr)
	} else {
		err = d.decodeStd(data, fr)
	}
	if err != nil {
		return err
	}
	toVideoRange(fr)
	return nil
}

// decodeStd decodes with image/jpeg.
func (d *JPEGDecoder) decodeStd(data []byte, fr *media.Frame) error {
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
func (d *JPEGDecoder) fromImage(img image.Image, fr *media.Frame) error {
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
		d.i420 = grow(d.i420, I420Size(w, h))
		SetI420(fr, d.i420, w, h)
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
		d.i420 = grow(d.i420, I420Size(w, h))
		SetI420(fr, d.i420, w, h)
		for y := 0; y < h; y++ {
			copy(fr.Planes[0][y*w:(y+1)*w], m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):])
		}
		fillGrey(fr)
	default:
		return fmt.Errorf("MJPEG: unsupported colour model %T", img)
	}
	return nil
}

func fillGrey(fr *media.Frame) {
	for i := range fr.Planes[1] {
		fr.Planes[1][i], fr.Planes[2][i] = 128, 128
	}
}

// missingHuffmanTables reports where to insert the standard Huffman tables: many UVC
// cameras send MJPEG frames without a DHT segment (AVI1 MJPEG relies on the tables of
// JPEG Annex K.3), which image/jpeg refuses (libjpeg-turbo supplies them itself). It
// returns the offset of the SOS marker when no DHT precedes it.
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
		panic("picture: encoding the Huffman table template: " + err.Error())
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
		panic("picture: image/jpeg wrote no DHT segment")
	}
	return dht
})

// videoLuma and videoChroma map a full-range sample to video range (ITU-R BT.601/709
// "studio swing"): 0..255 to 16..235 and 16..240, rounded.
var videoLuma, videoChroma = func() (l, c [256]byte) {
	for i := range 256 {
		l[i] = byte(16 + (i*219+127)/255)
		c[i] = byte(16 + (i*224+127)/255)
	}
	return l, c
}()

// toVideoRange maps the I420 picture fr from full to video range, in place.
func toVideoRange(fr *media.Frame) {
	mapPlane(fr.Planes[0], fr.Strides[0], fr.Width, fr.Height, lumaSpan, &videoLuma)
	cw, ch := (fr.Width+1)/2, (fr.Height+1)/2
	mapPlane(fr.Planes[1], fr.Strides[1], cw, ch, chromaSpan, &videoChroma)
	mapPlane(fr.Planes[2], fr.Strides[2], cw, ch, chromaSpan, &videoChroma)
}

// The spans of video range: 16 + 219 for luma, 16 + 224 for chroma.
const lumaSpan, chromaSpan = 219, 224

// mapPlane maps the w x h samples of a plane with rows of stride bytes to 16 +
// (v*span+127)/255, as lut does: eight samples a step as one little-endian word, each
// half of its bytes spread to 16-bit lanes, where v*span+127 (at most 57247) fits. x/255
// rounded down is (x + x>>8 + 1) >> 8 for such x (TestVideoRangeWords checks every v).
// A row's last w%8 samples go through lut.
func mapPlane(p []byte, stride, w, h int, span uint64, lut *[256]byte) {
	const lanes = 0x00ff00ff00ff00ff
	const one, half = 0x0001000100010001, 0x007f007f007f007f
	for y := range h {
		row := p[y*stride : y*stride+w]
		words := row[:w/8*8]
		for len(words) >= 8 {
			x := binary.LittleEndian.Uint64(words)
			e, o := x&lanes*span+half, x>>8&lanes*span+half
			e = (e + e>>8&lanes + one) >> 8 & lanes
			o = (o + o>>8&lanes + one) >> 8 & lanes
			binary.LittleEndian.PutUint64(words, e|o<<8+0x1010101010101010)
			words = words[8:]
		}
		for i := w / 8 * 8; i < w; i++ {
			row[i] = lut[row[i]]
		}
	}
}
