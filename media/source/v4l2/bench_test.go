package v4l2

import (
	"testing"
)

// payload is n bytes of slice data without start codes or emulation-prevention issues.
func payload(header byte, n int) []byte {
	b := make([]byte, n)
	b[0] = header
	for i := 1; i < n; i++ {
		b[i] = byte(1 + i%250)
	}
	return b
}

// BenchmarkAccessUnit is the per-frame work of H.264 passthrough between the driver's
// buffer and deliver: splitting a 1080p-sized IDR frame (SPS, PPS, 120 KB slice) and
// P frames (15 KB) into NAL units.
func BenchmarkAccessUnit(b *testing.B) {
	idr := annexB(nalSPS, nalPPS, payload(0x65, 120_000))
	p := annexB(payload(0x41, 15_000))
	var a auBuilder
	b.SetBytes(int64(len(idr)+29*len(p)) / 30)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf := p
		if i%30 == 0 {
			buf = idr
		}
		if _, _, ok := a.build(buf); !ok {
			b.Fatal("no unit")
		}
	}
}
