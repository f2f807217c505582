package glass

import "testing"

// The clock reads back through the picture, with noise an encoder may add.
func TestClockReadsBack(t *testing.T) {
	const w, h = 640, 360
	luma := make([]byte, w*h)
	for _, at := range []uint64{0, 1, 1765000000123, 1<<48 - 1} {
		for i := range luma {
			luma[i] = 128
		}
		Stamp(luma, w, at)
		for i := range luma {
			luma[i] += byte(i%7) - 3 // ringing
		}
		if got := Read(luma, w); got != at {
			t.Errorf("stamped %d, read %d", at, got)
		}
	}
}
