package v4l2

import (
	"testing"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/h264"
)

// FuzzAccessUnit feeds driver buffers of any content through the access unit builder,
// two at a time (the builder keeps parameter sets across buffers): it must not panic,
// must yield only units with a picture, mark exactly the IDR units as keyframes, and put
// remembered parameter sets before an IDR unit that lacks them.
func FuzzAccessUnit(f *testing.F) {
	f.Add(annexB(nalSPS, nalPPS), annexB(nalIDR))
	f.Add(annexB(nalAUD, nalSPS, nalPPS, nalSEI, nalIDR), annexB(nalAUD, nalIDR))
	f.Add(annexB(nalP), []byte{0, 0, 1, 0x65, 0, 0, 0, 1})
	f.Add([]byte{0, 0, 0, 1}, []byte{0, 0, 1, 0x68, 0, 0, 1, 0x67, 0, 0, 1, 0x25})
	f.Fuzz(func(t *testing.T, first, second []byte) {
		var a auBuilder
		for _, buf := range [][]byte{first, second} {
			hadSPS := false
			for _, p := range a.params {
				hadSPS = hadSPS || h264.NALType(p) == h264.TypeSPS
			}
			nalus, key, ok := a.build(buf)
			if !ok {
				if nalus != nil {
					t.Fatalf("no unit, but NAL units %x", nalus)
				}
				continue
			}
			vcl, sps := false, false
			for _, n := range nalus {
				if len(n) == 0 {
					t.Fatal("empty NAL unit in the unit")
				}
				vcl = vcl || h264.IsVCL(h264.NALType(n))
				sps = sps || h264.NALType(n) == h264.TypeSPS
			}
			if !vcl {
				t.Fatalf("unit without a picture: %x", nalus)
			}
			if key != h264.IsKeyframe(nalus) {
				t.Fatalf("keyframe %v for %x", key, nalus)
			}
			if key && hadSPS && !sps {
				t.Fatalf("keyframe without the remembered SPS: %x", nalus)
			}
		}
	})
}

// FuzzConvert hands buffers of any length and content to the converter of every raw
// format at small sizes: a bad buffer is an error, never a panic, and a frame's planes
// hold the picture its size and strides promise.
func FuzzConvert(f *testing.F) {
	f.Add(uint8(0), uint8(4), uint8(2), uint8(8), make([]byte, 16))
	f.Add(uint8(2), uint8(6), uint8(3), uint8(6), make([]byte, 28))
	f.Add(uint8(5), uint8(16), uint8(16), uint8(0), encodeJPEG(f, gradient(16, 16)))
	f.Fuzz(func(t *testing.T, which, w, h, bpl uint8, data []byte) {
		code := rawPreference[int(which)%len(rawPreference)]
		c := newConverter(code, Format{Width: int(w%64) + 1, Height: int(h%64) + 1, BytesPerLine: int(bpl)})
		fr, err := c.convert(data)
		if err != nil {
			return
		}
		checkFrame(t, fr)
	})
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
