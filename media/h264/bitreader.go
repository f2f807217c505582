package h264

import "errors"

var errShort = errors.New("bitstream ends early")

// bitReader reads an RBSP most significant bit first, with the Exp-Golomb codes of H.264
// 9.1. Reading past the end sets err and returns zeros, so a parser can read a whole
// structure and check err once.
type bitReader struct {
	b   []byte
	pos int // bit position
	err error
}

func (r *bitReader) bit() uint32 {
	if r.pos >= len(r.b)*8 {
		r.err = errShort
		return 0
	}
	v := uint32(r.b[r.pos>>3]>>(7-r.pos&7)) & 1
	r.pos++
	return v
}

// bits reads n <= 32 bits as an unsigned integer, u(n).
func (r *bitReader) bits(n int) uint32 {
	var v uint32
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

func (r *bitReader) flag() bool { return r.bit() == 1 }

// ue reads an unsigned Exp-Golomb code, ue(v): n leading zero bits, a one, then n bits.
// Codes longer than 32 bits do not occur in valid streams and set err.
func (r *bitReader) ue() uint32 {
	zeros := 0
	for r.bit() == 0 {
		if r.err != nil {
			return 0
		}
		zeros++
		if zeros > 31 {
			r.err = errors.New("exp-golomb code longer than 32 bits")
			return 0
		}
	}
	return uint32((uint64(1)<<zeros)-1) + r.bits(zeros)
}

// se reads a signed Exp-Golomb code, se(v): 1, 2, 3... map to 1, -1, 2, -2...
func (r *bitReader) se() int32 {
	k := r.ue()
	if k&1 == 1 {
		return int32((k + 1) / 2)
	}
	return -int32(k / 2)
}
