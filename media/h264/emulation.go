package h264

// RemoveEmulationPrevention appends src to dst without its emulation-prevention bytes: every
// 0x03 that follows two zero bytes (00 00 03 xx becomes 00 00 xx), which turns a NAL unit
// into its raw byte sequence payload (RBSP). dst may be src[:0] to unescape in place, since
// the output never runs ahead of the input.
func RemoveEmulationPrevention(dst, src []byte) []byte {
	zeros := 0
	for _, b := range src {
		if zeros >= 2 && b == 3 {
			zeros = 0
			continue
		}
		dst = append(dst, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return dst
}

// AppendEmulationPrevention appends rbsp to dst with emulation-prevention bytes inserted, so
// that the result never contains 00 00 00, 00 00 01, 00 00 02 or 00 00 03 and cannot be
// mistaken for a start code: a 0x03 goes in after every two zero bytes that are followed by a
// byte <= 0x03, and after two zero bytes that end the payload (H.264 7.4.1).
//
// A payload that ends in a single 0x00 cannot be carried in a NAL unit (the zero would read
// as trailing_zero_8bits); real RBSPs end in the stop bit and never do.
func AppendEmulationPrevention(dst, rbsp []byte) []byte {
	zeros := 0
	for _, b := range rbsp {
		if zeros >= 2 && b <= 3 {
			dst = append(dst, 3)
			zeros = 0
		}
		dst = append(dst, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	if zeros >= 2 {
		dst = append(dst, 3)
	}
	return dst
}
