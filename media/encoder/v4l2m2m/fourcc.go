package v4l2m2m

// FourCC returns the V4L2 pixel format code of a four-letter name such as "H264".
func FourCC(name string) uint32 {
	var b [4]byte
	copy(b[:], name+"    ")
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func fourCCName(c uint32) string {
	b := []byte{byte(c), byte(c >> 8), byte(c >> 16), byte(c >> 24)}
	for i, x := range b {
		if x < 0x20 || x > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// Pixel formats camnode hands to an encoder, and coded formats it knows.
var (
	fccI420 = FourCC("YU12") // V4L2_PIX_FMT_YUV420
	fccNV12 = FourCC("NV12")
	// CodedH264 is V4L2_PIX_FMT_H264, the Annex-B byte stream.
	CodedH264 = FourCC("H264")
	// CodedFWHT is V4L2_PIX_FMT_FWHT, vicodec's Fast Walsh Hadamard Transform codec.
	CodedFWHT = FourCC("FWHT")
)
