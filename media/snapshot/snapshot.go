// Package snapshot makes the JPEG pictures of the stream that Home Assistant's image entity
// shows: from a raw frame (as viewers see it, burn-in included) with Go's image/jpeg, or
// from an H.264 keyframe through ffmpeg where the source yields only H.264.
package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"

	"github.com/camnode/camnode/media"
)

// Limits of one snapshot. A picture larger than MaxWidth x MaxHeight is refused before any
// decoder allocates for it; MaxJPEGSize bounds what a snapshot can add to a retained MQTT
// message (Mosquitto's default message_size_limit is far above it).
const (
	MaxWidth    = 4096
	MaxHeight   = 4096
	MaxJPEGSize = 4 << 20
	// DefaultQuality is the JPEG quality when 0 is asked for: a 1280x720 picture is then
	// some 100 kB.
	DefaultQuality = 80
)

// Info is the retained JSON beside the picture (mqtt.Topics.SnapshotInfo): what the last
// snapshot is, or why there is none. Home Assistant shows it as the image entity's
// attributes.
type Info struct {
	TS     string `json:"ts"`               // RFC 3339 UTC, when it was taken or failed
	Width  int    `json:"width,omitempty"`  // of the picture
	Height int    `json:"height,omitempty"` //
	Bytes  int    `json:"bytes,omitempty"`  // of the JPEG
	Error  string `json:"error,omitempty"`  // why there is no picture
}

// FromFrame encodes a raw I420 or NV12 frame as a JPEG of the frame's size. It reads the
// frame's planes only during the call; quality 0 means DefaultQuality.
//
// Encoding takes tens of milliseconds on a Pi: on the frame path, Clone the frame and
// encode the copy on another goroutine, so a snapshot never delays a frame of the stream.
func FromFrame(f *media.Frame, quality int) ([]byte, error) {
	img, err := ycbcr(f)
	if err != nil {
		return nil, err
	}
	if quality <= 0 || quality > 100 {
		quality = DefaultQuality
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("snapshot: encode %dx%d JPEG: %w", f.Width, f.Height, err)
	}
	if b.Len() > MaxJPEGSize {
		return nil, fmt.Errorf("snapshot: %dx%d JPEG of %d bytes exceeds %d", f.Width, f.Height, b.Len(), MaxJPEGSize)
	}
	return b.Bytes(), nil
}

// Clone copies f into one new buffer, tightly packed, in the same pixel format: a frame
// that outlives the source's deliver call.
func Clone(f *media.Frame) (*media.Frame, error) {
	if err := check(f); err != nil {
		return nil, err
	}
	cw, ch := (f.Width+1)/2, (f.Height+1)/2
	c := &media.Frame{Format: f.Format, Width: f.Width, Height: f.Height, Time: f.Time}
	switch f.Format {
	case media.PixelI420:
		buf := make([]byte, f.Width*f.Height+2*cw*ch)
		c.Planes[0], c.Planes[1], c.Planes[2] = buf[:f.Width*f.Height], buf[f.Width*f.Height:f.Width*f.Height+cw*ch], buf[f.Width*f.Height+cw*ch:]
		c.Strides = [3]int{f.Width, cw, cw}
		copyPlane(c.Planes[0], f.Planes[0], f.Width, f.Height, f.Strides[0])
		copyPlane(c.Planes[1], f.Planes[1], cw, ch, f.Strides[1])
		copyPlane(c.Planes[2], f.Planes[2], cw, ch, f.Strides[2])
	case media.PixelNV12:
		buf := make([]byte, f.Width*f.Height+2*cw*ch)
		c.Planes[0], c.Planes[1] = buf[:f.Width*f.Height], buf[f.Width*f.Height:]
		c.Strides = [3]int{f.Width, 2 * cw}
		copyPlane(c.Planes[0], f.Planes[0], f.Width, f.Height, f.Strides[0])
		copyPlane(c.Planes[1], f.Planes[1], 2*cw, ch, f.Strides[1])
	}
	return c, nil
}

// copyPlane copies rows of w bytes, h of them, from src with stride into dst packed.
func copyPlane(dst, src []byte, w, h, stride int) {
	for y := range h {
		copy(dst[y*w:(y+1)*w], src[y*stride:y*stride+w])
	}
}

// check reports a frame whose planes cannot hold its size.
func check(f *media.Frame) error {
	if f == nil {
		return errors.New("snapshot: no frame")
	}
	if f.Width <= 0 || f.Height <= 0 || f.Width > MaxWidth || f.Height > MaxHeight {
		return fmt.Errorf("snapshot: frame size %dx%d outside 1x1..%dx%d", f.Width, f.Height, MaxWidth, MaxHeight)
	}
	cw, ch := (f.Width+1)/2, (f.Height+1)/2
	type plane struct{ w, h int }
	var planes []plane
	switch f.Format {
	case media.PixelI420:
		planes = []plane{{f.Width, f.Height}, {cw, ch}, {cw, ch}}
	case media.PixelNV12:
		planes = []plane{{f.Width, f.Height}, {2 * cw, ch}}
	default:
		return fmt.Errorf("snapshot: pixel format %d: want I420 or NV12", f.Format)
	}
	for i, p := range planes {
		if f.Strides[i] < p.w || len(f.Planes[i]) < f.Strides[i]*(p.h-1)+p.w {
			return fmt.Errorf("snapshot: %dx%d frame: plane %d of %d bytes, stride %d, too small for %dx%d", f.Width, f.Height, i, len(f.Planes[i]), f.Strides[i], p.w, p.h)
		}
	}
	return nil
}

// ycbcr converts f into a new full-range 4:2:0 image as JPEG (JFIF) expects: video frames
// are limited range (Y 16-235, Cb/Cr 16-240), and taken as they are the picture would look
// grey and flat. NV12's interleaved chroma is split on the way.
func ycbcr(f *media.Frame) (*image.YCbCr, error) {
	if err := check(f); err != nil {
		return nil, err
	}
	w, h := f.Width, f.Height
	cw, ch := (w+1)/2, (h+1)/2
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for y := range h {
		src, dst := f.Planes[0][y*f.Strides[0]:][:w], img.Y[y*img.YStride:][:w]
		for x, v := range src {
			dst[x] = lumaFull[v]
		}
	}
	for y := range ch {
		cb, cr := img.Cb[y*img.CStride:][:cw], img.Cr[y*img.CStride:][:cw]
		switch f.Format {
		case media.PixelI420:
			u, v := f.Planes[1][y*f.Strides[1]:][:cw], f.Planes[2][y*f.Strides[2]:][:cw]
			for x := range cw {
				cb[x], cr[x] = chromaFull[u[x]], chromaFull[v[x]]
			}
		case media.PixelNV12:
			uv := f.Planes[1][y*f.Strides[1]:][:2*cw]
			for x := range cw {
				cb[x], cr[x] = chromaFull[uv[2*x]], chromaFull[uv[2*x+1]]
			}
		}
	}
	return img, nil
}

// lumaFull and chromaFull map limited-range samples to full range.
var lumaFull, chromaFull = rangeTables()

func rangeTables() (luma, chroma [256]byte) {
	for i := range 256 {
		luma[i] = clamp(((i-16)*255*2/219 + 1) / 2)
		chroma[i] = clamp(((i-128)*255*2/224+1)/2 + 128)
	}
	return luma, chroma
}

func clamp(v int) byte {
	return byte(min(max(v, 0), 255))
}
