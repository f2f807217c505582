package picture

import (
	"bytes"
	"testing"

	"github.com/camnode/camnode/media"
)

// numbered is a w x h frame (I420 or NV12) whose every sample is distinct enough to
// tell where it went: luma y*w+x (mod 251), chroma planes offset by 100 and 200.
func numbered(format media.PixelFormat, w, h, pad int) media.Frame {
	cw, ch := (w+1)/2, (h+1)/2
	f := media.Frame{Format: format, Width: w, Height: h}
	f.Strides[0] = w + pad
	f.Planes[0] = make([]byte, f.Strides[0]*h)
	for y := range h {
		for x := range w {
			f.Planes[0][y*f.Strides[0]+x] = byte((y*w + x) % 251)
		}
	}
	if format == media.PixelI420 {
		for p := 1; p <= 2; p++ {
			f.Strides[p] = cw + pad
			f.Planes[p] = make([]byte, f.Strides[p]*ch)
			for y := range ch {
				for x := range cw {
					f.Planes[p][y*f.Strides[p]+x] = byte(100*p + y*cw + x)
				}
			}
		}
	} else {
		f.Strides[1] = 2*cw + pad
		f.Planes[1] = make([]byte, f.Strides[1]*ch)
		for y := range ch {
			for x := range cw {
				f.Planes[1][y*f.Strides[1]+2*x] = byte(100 + y*cw + x)
				f.Planes[1][y*f.Strides[1]+2*x+1] = byte(200 + y*cw + x)
			}
		}
	}
	return f
}

// sample returns the sample at (x, y) of plane p (for NV12's plane 1, component c).
func sample(f *media.Frame, p, c, x, y int) byte {
	if f.Format == media.PixelNV12 && p == 1 {
		return f.Planes[1][y*f.Strides[1]+2*x+c]
	}
	return f.Planes[p][y*f.Strides[p]+x]
}

// TestOrientationPixels compares every sample of every plane with where the definition
// puts it: out(X, Y) = in(x, y) for the rotation, then the flips.
func TestOrientationPixels(t *testing.T) {
	for _, format := range []media.PixelFormat{media.PixelI420, media.PixelNV12} {
		for _, size := range [][2]int{{8, 4}, {6, 10}, {16, 6}} {
			in := numbered(format, size[0], size[1], 3)
			for _, rot := range []int{0, 90, 180, 270} {
				for _, flip := range []string{"", "h", "v", "hv"} {
					o, err := ParseOrientation(rot, flip)
					if err != nil {
						t.Fatal(err)
					}
					out, _, err := o.Apply(nil, &in)
					if err != nil {
						t.Fatal(err)
					}
					if rot%180 == 90 && (out.Width != in.Height || out.Height != in.Width) || rot%180 == 0 && (out.Width != in.Width || out.Height != in.Height) {
						t.Fatalf("%v: %dx%d -> %dx%d", o, in.Width, in.Height, out.Width, out.Height)
					}
					planes, comps := 3, 1
					if format == media.PixelNV12 {
						planes = 2
					}
					for p := range planes {
						w, h := in.Width, in.Height
						if p > 0 {
							w, h = (w+1)/2, (h+1)/2
							if format == media.PixelNV12 {
								comps = 2
							}
						}
						ow, oh := w, h
						if rot%180 == 90 {
							ow, oh = h, w
						}
						for y := range h {
							for x := range w {
								var X, Y int
								switch rot {
								case 0:
									X, Y = x, y
								case 90:
									X, Y = h-1-y, x
								case 180:
									X, Y = w-1-x, h-1-y
								case 270:
									X, Y = y, w-1-x
								}
								if o.FlipH {
									X = ow - 1 - X
								}
								if o.FlipV {
									Y = oh - 1 - Y
								}
								for c := range comps {
									if got, want := sample(&out, p, c, X, Y), sample(&in, p, c, x, y); got != want {
										t.Fatalf("format %d %dx%d %v: plane %d (%d,%d) -> (%d,%d) holds %d, want %d", format, w, h, o, p, x, y, X, Y, got, want)
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestOrientationCompose: four quarter turns, and 90 then 270, give the picture back;
// 180 is both flips.
func TestOrientationCompose(t *testing.T) {
	in := numbered(media.PixelI420, 12, 8, 0)
	pack := func(f *media.Frame) []byte { return bytes.Join(f.Planes[:], nil) }
	f := in
	for range 4 {
		out, _, err := Orientation{Rotate: 90}.Apply(nil, &f)
		if err != nil {
			t.Fatal(err)
		}
		f = out
	}
	if !bytes.Equal(pack(&f), pack(&in)) {
		t.Error("four quarter turns changed the picture")
	}
	a, _, _ := Orientation{Rotate: 180}.Apply(nil, &in)
	b, _, _ := Orientation{FlipH: true, FlipV: true}.Apply(nil, &in)
	if !bytes.Equal(pack(&a), pack(&b)) {
		t.Error("180 differs from flip hv")
	}
	if !(Orientation{Rotate: 180, FlipH: true, FlipV: true}).IsIdentity() || (Orientation{Rotate: 90}).IsIdentity() {
		t.Error("IsIdentity")
	}
}

func TestOrientationErrors(t *testing.T) {
	for _, c := range []struct {
		rot  int
		flip string
	}{{45, ""}, {-90, ""}, {0, "x"}, {0, "hh"}} {
		if _, err := ParseOrientation(c.rot, c.flip); err == nil {
			t.Errorf("ParseOrientation(%d, %q) accepted", c.rot, c.flip)
		}
	}
	in := numbered(media.PixelI420, 8, 4, 0)
	in.Planes[2] = in.Planes[2][:3]
	if _, _, err := (Orientation{Rotate: 90}).Apply(nil, &in); err == nil {
		t.Error("short plane accepted")
	}
	if _, _, err := (Orientation{Rotate: 91}).Apply(nil, &in); err == nil {
		t.Error("rotation 91 applied")
	}
}
