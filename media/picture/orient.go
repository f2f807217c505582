package picture

import (
	"fmt"

	"github.com/camnode/camnode/media"
)

// Orientation is how to turn a picture: first rotate clockwise by Rotate degrees (0, 90,
// 180, 270), then mirror left-right (FlipH) and/or top-bottom (FlipV). The zero value
// leaves the picture as it is.
type Orientation struct {
	Rotate       int
	FlipH, FlipV bool
}

// ParseOrientation reads the settings' forms: rotate 0, 90, 180 or 270 and flip "", "h",
// "v" or "hv" (also "vh").
func ParseOrientation(rotate int, flip string) (Orientation, error) {
	o := Orientation{Rotate: rotate}
	switch rotate {
	case 0, 90, 180, 270:
	default:
		return o, fmt.Errorf("rotation %d: want 0, 90, 180 or 270", rotate)
	}
	switch flip {
	case "":
	case "h":
		o.FlipH = true
	case "v":
		o.FlipV = true
	case "hv", "vh":
		o.FlipH, o.FlipV = true, true
	default:
		return o, fmt.Errorf("flip %q: want h, v or hv (or nothing)", flip)
	}
	return o, nil
}

// IsIdentity tells whether o leaves pictures unchanged.
func (o Orientation) IsIdentity() bool { return o.normal() == Orientation{} }

// normal folds a 180° turn into the two flips, so that only 0, 90 and 270 remain.
func (o Orientation) normal() Orientation {
	if o.Rotate == 180 {
		return Orientation{FlipH: !o.FlipH, FlipV: !o.FlipV}
	}
	return o
}

func (o Orientation) String() string {
	s := fmt.Sprintf("rotate %d", o.Rotate)
	if o.FlipH || o.FlipV {
		s += " flip "
		if o.FlipH {
			s += "h"
		}
		if o.FlipV {
			s += "v"
		}
	}
	return s
}

// Apply writes src turned by o into dst (grown as needed; returned) and returns the new
// picture, tightly packed in dst, in src's pixel format (I420 or NV12). A rotation by 90
// or 270 swaps width and height. src is not changed.
func (o Orientation) Apply(dst []byte, src *media.Frame) (media.Frame, []byte, error) {
	n := o.normal()
	if n.Rotate != 0 && n.Rotate != 90 && n.Rotate != 270 {
		return media.Frame{}, dst, fmt.Errorf("picture: rotation %d: want 0, 90, 180 or 270", o.Rotate)
	}
	w, h := src.Width, src.Height
	ow, oh := w, h
	if n.Rotate != 0 {
		ow, oh = h, w
	}
	cw, ch := (w+1)/2, (h+1)/2
	ocw, och := (ow+1)/2, (oh+1)/2
	out := media.Frame{Format: src.Format, Width: ow, Height: oh, Time: src.Time}
	type plane struct{ w, h, ow, oh, px int }
	var planes []plane
	switch src.Format {
	case media.PixelI420:
		planes = []plane{{w, h, ow, oh, 1}, {cw, ch, ocw, och, 1}, {cw, ch, ocw, och, 1}}
	case media.PixelNV12:
		planes = []plane{{w, h, ow, oh, 1}, {cw, ch, ocw, och, 2}}
	default:
		return media.Frame{}, dst, fmt.Errorf("picture: cannot turn pixel format %d (want I420 or NV12)", src.Format)
	}
	total := 0
	for i, p := range planes {
		if s := src.Strides[i]; s < p.w*p.px || len(src.Planes[i]) < s*(p.h-1)+p.w*p.px {
			return media.Frame{}, dst, fmt.Errorf("picture: plane %d: %d bytes with stride %d, want %d rows of %d", i, len(src.Planes[i]), s, p.h, p.w*p.px)
		}
		total += p.ow * p.oh * p.px
	}
	dst = grow(dst, total)
	off := 0
	for i, p := range planes {
		size := p.ow * p.oh * p.px
		out.Planes[i] = dst[off : off+size : off+size]
		out.Strides[i] = p.ow * p.px
		off += size
		turnPlane(out.Planes[i], p.ow*p.px, src.Planes[i], src.Strides[i], p.w, p.h, p.px, n)
	}
	return out, dst, nil
}

// turnPlane writes the plane of w x h samples of px bytes each (src, rows of sstride)
// turned by o (Rotate 0, 90 or 270) into dst (rows of dstride). Source sample (x, y) goes
// to (X, Y): rotating 90° clockwise puts it at (h-1-y, x), 270° at (y, w-1-x); then FlipH
// mirrors X and FlipV mirrors Y within the turned plane.
func turnPlane(dst []byte, dstride int, src []byte, sstride, w, h, px int, o Orientation) {
	ow, oh := w, h
	if o.Rotate != 0 {
		ow, oh = h, w
	}
	for y := 0; y < h; y++ {
		row := src[y*sstride : y*sstride+w*px]
		if o.Rotate == 0 {
			Y := y
			if o.FlipV {
				Y = oh - 1 - y
			}
			out := dst[Y*dstride : Y*dstride+ow*px]
			if !o.FlipH {
				copy(out, row)
				continue
			}
			if px == 1 {
				for x, X := 0, len(out)-1; x < len(row) && X >= 0; x, X = x+1, X-1 {
					out[X] = row[x]
				}
				continue
			}
			for x, X := 0, len(out)-2; x+1 < len(row) && X >= 0; x, X = x+2, X-2 {
				out[X], out[X+1] = row[x], row[x+1]
			}
			continue
		}
		// A source row becomes a destination column.
		X := h - 1 - y
		if o.Rotate == 270 {
			X = y
		}
		if o.FlipH {
			X = ow - 1 - X
		}
		for x := 0; x < w; x++ {
			Y := x
			if o.Rotate == 270 {
				Y = w - 1 - x
			}
			if o.FlipV {
				Y = oh - 1 - Y
			}
			d := Y*dstride + X*px
			dst[d] = row[x*px]
			if px == 2 {
				dst[d+1] = row[x*px+1]
			}
		}
	}
}
