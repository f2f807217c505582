package v4l2

import (
	"errors"
	"fmt"

	"github.com/camnode/camnode/media"
)

var errShortFrame = errors.New("buffer shorter than the picture")

// converter turns the driver's raw buffers of one granted format into media.Frames:
// planar 4:2:0 buffers are passed through without a copy, packed 4:2:2 is converted to
// I420 in a buffer it reuses, (M)JPEG is decoded.
type converter struct {
	code  uint32
	f     Format
	i420  []byte
	mjpeg mjpegDecoder
	frame media.Frame
}

func newConverter(code uint32, f Format) *converter {
	return &converter{code: code, f: f}
}

// convert returns the frame in data; it aliases data and the converter's buffers, and is
// valid until the next call.
func (c *converter) convert(data []byte) (*media.Frame, error) {
	w, h := c.f.Width, c.f.Height
	fr := &c.frame
	*fr = media.Frame{Width: w, Height: h}
	switch c.code {
	case fccNV12:
		// Single-planar NV12: bytesperline for both planes, the interleaved CbCr plane
		// right after the luma plane. A chroma row holds (w+1)/2 Cb,Cr pairs.
		bpl := max(c.f.BytesPerLine, (w+1)/2*2)
		ySize, cSize := bpl*h, bpl*((h+1)/2)
		if len(data) < ySize+cSize {
			return nil, fmt.Errorf("NV12 %dx%d: %w (%d bytes, want %d)", w, h, errShortFrame, len(data), ySize+cSize)
		}
		fr.Format = media.PixelNV12
		fr.Planes = [3][]byte{data[:ySize], data[ySize : ySize+cSize]}
		fr.Strides = [3]int{bpl, bpl}
	case fccYU12, fccYV12:
		// YU12: Y, then Cb, then Cr, each chroma plane with half the luma bytesperline.
		// YV12 has Cr before Cb.
		bpl := max(c.f.BytesPerLine, w)
		cbpl := max(bpl/2, (w+1)/2)
		ySize, cSize := bpl*h, cbpl*((h+1)/2)
		if len(data) < ySize+2*cSize {
			return nil, fmt.Errorf("%s %dx%d: %w (%d bytes, want %d)", fourccString(c.code), w, h, errShortFrame, len(data), ySize+2*cSize)
		}
		u, v := data[ySize:ySize+cSize], data[ySize+cSize:ySize+2*cSize]
		if c.code == fccYV12 {
			u, v = v, u
		}
		fr.Format = media.PixelI420
		fr.Planes = [3][]byte{data[:ySize], u, v}
		fr.Strides = [3]int{bpl, cbpl, cbpl}
	case fccYUYV, fccUYVY:
		bpl := max(c.f.BytesPerLine, 2*w)
		if w%2 != 0 { // a pixel pair shares its chroma: no driver grants an odd width
			return nil, fmt.Errorf("%s with odd width %d", fourccString(c.code), w)
		}
		if h <= 0 || len(data) < bpl*(h-1)+2*w {
			return nil, fmt.Errorf("%s %dx%d: %w (%d bytes)", fourccString(c.code), w, h, errShortFrame, len(data))
		}
		c.i420 = packedToI420(c.i420, data, w, h, bpl, c.code == fccUYVY)
		setI420(fr, c.i420, w, h)
	case fccMJPEG, fccJPEG:
		if err := c.mjpeg.decode(data, fr); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("no conversion from %s", fourccString(c.code))
	}
	return fr, nil
}

// i420Size is the size of a tightly packed I420 picture.
func i420Size(w, h int) int {
	cw, ch := (w+1)/2, (h+1)/2
	return w*h + 2*cw*ch
}

// setI420 points fr at the planes of a tightly packed I420 picture in buf:
// Y (w x h), then U and V ((w+1)/2 x (h+1)/2).
func setI420(fr *media.Frame, buf []byte, w, h int) {
	cw, ch := (w+1)/2, (h+1)/2
	ySize, cSize := w*h, cw*ch
	fr.Format = media.PixelI420
	fr.Width, fr.Height = w, h
	fr.Planes = [3][]byte{buf[:ySize], buf[ySize : ySize+cSize], buf[ySize+cSize : ySize+2*cSize]}
	fr.Strides = [3]int{w, cw, cw}
}

// packedToI420 converts packed 4:2:2 to I420 in dst (grown as needed, returned). Each
// row of src is bpl bytes; a pixel pair is Y0 Cb Y1 Cr (YUYV) or Cb Y0 Cr Y1 (UYVY). The
// chroma of two rows is averaged into one; an odd last row stands alone.
func packedToI420(dst, src []byte, w, h, bpl int, uyvy bool) []byte {
	n := i420Size(w, h)
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	cw, ch := (w+1)/2, (h+1)/2
	yp, up, vp := dst[:w*h], dst[w*h:w*h+cw*ch], dst[w*h+cw*ch:]
	yo, uo, vo := 0, 1, 3 // YUYV: Y0 at 0, Y1 at 2, Cb at 1, Cr at 3
	if uyvy {
		yo, uo, vo = 1, 0, 2
	}
	for cy := 0; cy < ch; cy++ {
		r0 := src[2*cy*bpl:]
		r1 := r0
		if 2*cy+1 < h {
			r1 = src[(2*cy+1)*bpl:]
		}
		y0 := yp[2*cy*w : 2*cy*w+w]
		var y1 []byte
		if 2*cy+1 < h {
			y1 = yp[(2*cy+1)*w : (2*cy+1)*w+w]
		}
		u, v := up[cy*cw:cy*cw+cw], vp[cy*cw:cy*cw+cw]
		for cx := 0; cx < cw; cx++ {
			o := 4 * cx
			x := 2 * cx
			y0[x] = r0[o+yo]
			if x+1 < w {
				y0[x+1] = r0[o+yo+2]
			}
			if y1 != nil {
				y1[x] = r1[o+yo]
				if x+1 < w {
					y1[x+1] = r1[o+yo+2]
				}
			}
			u[cx] = byte((int(r0[o+uo]) + int(r1[o+uo]) + 1) >> 1)
			v[cx] = byte((int(r0[o+vo]) + int(r1[o+vo]) + 1) >> 1)
		}
	}
	return dst
}
