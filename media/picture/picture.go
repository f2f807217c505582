// Package picture is camnode's raw-picture work: raw camera and program layouts (I420,
// NV12, YUYV, MJPEG …) turned into media.Frames, MJPEG decoding (libjpeg-turbo opened at
// run time, image/jpeg otherwise) and rotation and flips. The V4L2 and exec sources share
// it: one converter, one MJPEG decoder.
package picture

import (
	"errors"
	"fmt"

	"github.com/camnode/camnode/media"
)

// Layout is how the bytes of one raw picture lie in a buffer.
type Layout uint8

const (
	// I420 (YU12, yuv420p): Y rows of stride bytes, then Cb, then Cr rows of stride/2.
	I420 Layout = iota + 1
	// YV12: as I420 with Cr before Cb.
	YV12
	// NV12: Y rows of stride bytes, then (h+1)/2 rows of interleaved Cb,Cr of stride bytes.
	NV12
	// YUYV (YUY2): packed 4:2:2, Y0 Cb Y1 Cr per pixel pair, rows of stride bytes.
	YUYV
	// UYVY: packed 4:2:2, Cb Y0 Cr Y1 per pixel pair.
	UYVY
	// MJPEG: one JPEG picture per buffer.
	MJPEG
)

var layoutNames = map[Layout]string{I420: "I420", YV12: "YV12", NV12: "NV12", YUYV: "YUYV", UYVY: "UYVY", MJPEG: "MJPEG"}

func (l Layout) String() string {
	if s, ok := layoutNames[l]; ok {
		return s
	}
	return fmt.Sprintf("Layout(%d)", uint8(l))
}

// ErrShortFrame is wrapped by Convert's error for a buffer shorter than its picture.
var ErrShortFrame = errors.New("buffer shorter than the picture")

// MinStride is the shortest row, in bytes, of the first plane of a w pixels wide picture.
func MinStride(l Layout, w int) int {
	switch l {
	case YUYV, UYVY:
		return 2 * w
	case NV12:
		return (w + 1) / 2 * 2
	default:
		return w
	}
}

// FrameSize is the number of bytes one w x h picture of a raw layout takes with rows of
// stride bytes (0: MinStride), or 0 for MJPEG, whose pictures vary in size. Chroma rows
// of I420 and YV12 are half the stride (rounded up).
func FrameSize(l Layout, w, h, stride int) int {
	stride = max(stride, MinStride(l, w))
	ch := (h + 1) / 2
	switch l {
	case I420, YV12:
		return stride*h + 2*((stride+1)/2)*ch
	case NV12:
		return stride*h + stride*ch
	case YUYV, UYVY:
		return stride * h
	}
	return 0
}

// Converter turns the buffers of one raw layout and size into media.Frames: planar 4:2:0
// is passed through without a copy, packed 4:2:2 is converted to I420 in a buffer it
// reuses, MJPEG is decoded. Use it from one goroutine at a time.
type Converter struct {
	layout        Layout
	width, height int
	stride        int
	i420          []byte
	jpeg          *JPEGDecoder
	frame         media.Frame
}

// NewConverter returns a converter for w x h pictures of layout l with rows of stride
// bytes (0 or less than MinStride: MinStride). For MJPEG the size is what the pictures
// say; w and h are not checked.
func NewConverter(l Layout, w, h, stride int) *Converter {
	c := &Converter{layout: l, width: w, height: h, stride: max(stride, MinStride(l, w))}
	if l == MJPEG {
		c.jpeg = NewJPEGDecoder()
	}
	return c
}

// Convert returns the frame in data; it aliases data and the converter's buffers and is
// valid until the next call. Its Time is zero.
func (c *Converter) Convert(data []byte) (*media.Frame, error) {
	w, h, bpl := c.width, c.height, c.stride
	fr := &c.frame
	*fr = media.Frame{Width: w, Height: h}
	if c.layout != MJPEG {
		if w <= 0 || h <= 0 {
			return nil, fmt.Errorf("%s: empty picture size %dx%d", c.layout, w, h)
		}
		if need := FrameSize(c.layout, w, h, bpl); len(data) < need {
			return nil, fmt.Errorf("%s %dx%d: %w (%d bytes, want %d)", c.layout, w, h, ErrShortFrame, len(data), need)
		}
	}
	switch c.layout {
	case NV12:
		ySize := bpl * h
		fr.Format = media.PixelNV12
		fr.Planes = [3][]byte{data[:ySize], data[ySize : ySize+bpl*((h+1)/2)]}
		fr.Strides = [3]int{bpl, bpl}
	case I420, YV12:
		cbpl := (bpl + 1) / 2
		ySize, cSize := bpl*h, cbpl*((h+1)/2)
		u, v := data[ySize:ySize+cSize], data[ySize+cSize:ySize+2*cSize]
		if c.layout == YV12 {
			u, v = v, u
		}
		fr.Format = media.PixelI420
		fr.Planes = [3][]byte{data[:ySize], u, v}
		fr.Strides = [3]int{bpl, cbpl, cbpl}
	case YUYV, UYVY:
		if w%2 != 0 { // a pixel pair shares its chroma
			return nil, fmt.Errorf("%s with odd width %d", c.layout, w)
		}
		c.i420 = PackedToI420(c.i420, data, w, h, bpl, c.layout == UYVY)
		SetI420(fr, c.i420, w, h)
	case MJPEG:
		if err := c.jpeg.Decode(data, fr); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("no conversion from %s", c.layout)
	}
	return fr, nil
}

// I420Size is the size of a tightly packed w x h I420 picture.
func I420Size(w, h int) int {
	cw, ch := (w+1)/2, (h+1)/2
	return w*h + 2*cw*ch
}

// SetI420 points fr at the planes of a tightly packed I420 picture in buf: Y (w x h), then
// U and V ((w+1)/2 x (h+1)/2). buf holds at least I420Size(w, h) bytes.
func SetI420(fr *media.Frame, buf []byte, w, h int) {
	cw, ch := (w+1)/2, (h+1)/2
	ySize, cSize := w*h, cw*ch
	fr.Format = media.PixelI420
	fr.Width, fr.Height = w, h
	fr.Planes = [3][]byte{buf[:ySize], buf[ySize : ySize+cSize], buf[ySize+cSize : ySize+2*cSize]}
	fr.Strides = [3]int{w, cw, cw}
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
