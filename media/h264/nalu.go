// Package h264 reads and writes the H.264 bitstream: Annex-B NAL units, access units, SPS and AVC decoder configuration.
package h264

import (
	"bytes"
	"iter"
)

// NAL unit types (H.264 table 7-1).
const (
	TypeSlice          = 1  // coded slice of a non-IDR picture
	TypeSliceA         = 2  // coded slice data partition A
	TypeSliceB         = 3  // coded slice data partition B
	TypeSliceC         = 4  // coded slice data partition C
	TypeIDR            = 5  // coded slice of an IDR picture
	TypeSEI            = 6  // supplemental enhancement information
	TypeSPS            = 7  // sequence parameter set
	TypePPS            = 8  // picture parameter set
	TypeAUD            = 9  // access unit delimiter
	TypeEndOfSequence  = 10 // end of sequence
	TypeEndOfStream    = 11 // end of stream
	TypeFiller         = 12 // filler data
	TypeSPSExtension   = 13 // sequence parameter set extension
	TypePrefix         = 14 // prefix NAL unit (SVC/MVC)
	TypeSubsetSPS      = 15 // subset sequence parameter set
	TypeDPS            = 16 // depth parameter set
	TypeAuxiliarySlice = 19 // coded slice of an auxiliary picture
	TypeSliceExtension = 20 // coded slice extension (SVC/MVC)
)

// NALType returns nal_unit_type, the low five bits of the first byte of a NAL unit without
// its start code, or 0 for an empty slice.
func NALType(nalu []byte) byte {
	if len(nalu) == 0 {
		return 0
	}
	return nalu[0] & 0x1f
}

// IsVCL reports whether a NAL unit type carries coded picture data (types 1 to 5).
func IsVCL(typ byte) bool {
	return typ >= TypeSlice && typ <= TypeIDR
}

// IsKeyframe reports whether an access unit contains a slice of an IDR picture.
func IsKeyframe(nalus [][]byte) bool {
	for _, n := range nalus {
		if NALType(n) == TypeIDR {
			return true
		}
	}
	return false
}

var startCode = []byte{0, 0, 1}

// NextNALU finds the first NAL unit in an Annex-B byte stream and returns it without its
// start code, together with the rest of the stream from the next start code on.
//
// Annex-B layout: [00] 00 00 01 NALU [00...] 00 00 01 NALU ... Bytes before the first start
// code are skipped, and trailing zero bytes (the leading zero of a 4-byte start code,
// trailing_zero_8bits) belong to no NAL unit. ok is false when stream holds no further NAL
// unit. The returned slices alias stream; nothing is allocated.
func NextNALU(stream []byte) (nalu, rest []byte, ok bool) {
	for {
		i := bytes.Index(stream, startCode)
		if i < 0 {
			return nil, nil, false
		}
		stream = stream[i+3:]
		end := bytes.Index(stream, startCode)
		if end < 0 {
			nalu, rest = stream, nil
		} else {
			nalu, rest = stream[:end], stream[end:]
		}
		nalu = trimTrailingZeros(nalu)
		if len(nalu) > 0 {
			return nalu, rest, true
		}
		if rest == nil {
			return nil, nil, false
		}
		stream = rest
	}
}

// NALUs iterates over the NAL units of an Annex-B byte stream as NextNALU finds them.
func NALUs(stream []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for {
			nalu, rest, ok := NextNALU(stream)
			if !ok || !yield(nalu) {
				return
			}
			stream = rest
		}
	}
}

func trimTrailingZeros(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// AppendAVCC appends the NAL units in AVCC form, each behind its length as a 4-byte
// big-endian integer (the framing FLV, MP4 and RTMP carry, lengthSizeMinusOne = 3):
//
//	[len u32][NALU][len u32][NALU]...
func AppendAVCC(dst []byte, nalus [][]byte) []byte {
	for _, n := range nalus {
		l := len(n)
		dst = append(dst, byte(l>>24), byte(l>>16), byte(l>>8), byte(l))
		dst = append(dst, n...)
	}
	return dst
}

// AppendAnnexB appends the NAL units each behind a 4-byte start code 00 00 00 01.
func AppendAnnexB(dst []byte, nalus [][]byte) []byte {
	for _, n := range nalus {
		dst = append(dst, 0, 0, 0, 1)
		dst = append(dst, n...)
	}
	return dst
}
