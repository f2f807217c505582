// Package glass measures glass-to-viewer latency: a raw camera that shows its own clock
// (clockcam) is streamed through camnode and read back by a player, which reads in each
// picture when it was made (BenchmarkGlassToViewer).
package glass

// The clock in the picture: 48 bits of milliseconds since 1970, most significant first, as
// two rows of 16x16 blocks at the top left of the luma plane, black (16) for 0 and white
// (235) for 1.
const (
	Block = 16
	Bits  = 48
)

// MinWidth and MinHeight are the smallest picture that holds the clock.
const (
	MinWidth  = Block * Bits / 2
	MinHeight = 2 * Block
)

// Stamp draws t into luma, the luma plane of a picture of width w.
func Stamp(luma []byte, w int, t uint64) {
	for bit := range Bits {
		v := byte(16)
		if t>>(Bits-1-bit)&1 == 1 {
			v = 235
		}
		x0, y0 := (bit%(Bits/2))*Block, (bit/(Bits/2))*Block
		for y := y0; y < y0+Block; y++ {
			row := luma[y*w+x0 : y*w+x0+Block]
			for i := range row {
				row[i] = v
			}
		}
	}
}

// Read reads the clock from luma (width w), as it came out of an encoder and a decoder:
// each bit is the mean of its block's middle 8x8 pixels against mid-grey.
func Read(luma []byte, w int) uint64 {
	var t uint64
	for bit := range Bits {
		x0, y0 := (bit%(Bits/2))*Block+Block/4, (bit/(Bits/2))*Block+Block/4
		sum := 0
		for y := y0; y < y0+Block/2; y++ {
			for _, v := range luma[y*w+x0 : y*w+x0+Block/2] {
				sum += int(v)
			}
		}
		t <<= 1
		if sum > 128*Block/2*Block/2 {
			t |= 1
		}
	}
	return t
}
