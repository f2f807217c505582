package v4l2

import (
	"testing"

	"github.com/camnode/camnode/media/h264"
)

// FuzzAccessUnit feeds driver buffers of any content through the access unit builder,
// two at a time (the builder carries parameter sets across buffers): it must not panic,
// must yield only units with a picture, mark exactly the IDR units as keyframes, and put
// the parameter sets of a buffer without a picture into the next unit.
func FuzzAccessUnit(f *testing.F) {
	f.Add(annexB(nalSPS, nalPPS), annexB(nalIDR))
	f.Add(annexB(nalAUD, nalSPS, nalPPS, nalSEI, nalIDR), annexB(nalAUD, nalIDR))
	f.Add(annexB(nalP), []byte{0, 0, 1, 0x65, 0, 0, 0, 1})
	f.Add([]byte{0, 0, 0, 1}, []byte{0, 0, 1, 0x68, 0, 0, 1, 0x67, 0, 0, 1, 0x25})
	f.Fuzz(func(t *testing.T, first, second []byte) {
		var a auBuilder
		carried := false // the last buffer had an SPS and no picture
		for _, buf := range [][]byte{first, second} {
			nalus, key, ok := a.build(buf)
			if !ok {
				if nalus != nil {
					t.Fatalf("no unit, but NAL units %x", nalus)
				}
				for n := range h264.NALUs(buf) {
					carried = carried || h264.NALType(n) == h264.TypeSPS
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
			if carried && !sps {
				t.Fatalf("the SPS of the buffer before is not in the unit: %x", nalus)
			}
			carried = false
		}
	})
}
