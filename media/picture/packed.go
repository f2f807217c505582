package picture

import "encoding/binary"

// PackedToI420 converts packed 4:2:2 to I420 in dst (grown as needed, returned). Each
// row of src is bpl bytes; a pixel pair is Y0 Cb Y1 Cr (YUYV) or Cb Y0 Cr Y1 (UYVY); w is
// even. The chroma of two rows is averaged (rounding up) into one; an odd last row
// stands alone.
//
// The inner loop takes 8 pixels (16 bytes) of each row at a time as two little-endian
// uint64 words and averages the two rows' bytes in the word (SWAR); a tail of fewer than
// 8 pixels goes pair by pair.
func PackedToI420(dst, src []byte, w, h, bpl int, uyvy bool) []byte {
	dst = grow(dst, I420Size(w, h))
	cw, ch := (w+1)/2, (h+1)/2
	yp, up, vp := dst[:w*h], dst[w*h:w*h+cw*ch], dst[w*h+cw*ch:]
	yo, uo, vo := 0, 1, 3 // YUYV: Y0 at 0, Y1 at 2, Cb at 1, Cr at 3
	ys, cs := uint(0), uint(8)
	if uyvy {
		yo, uo, vo = 1, 0, 2
		ys, cs = 8, 0
	}
	wide := w / 8 * 8
	for cy := 0; cy < ch; cy++ {
		r0 := src[2*cy*bpl : 2*cy*bpl+2*w]
		r1 := r0
		y0 := yp[2*cy*w : 2*cy*w+w]
		y1 := y0
		if 2*cy+1 < h {
			r1 = src[(2*cy+1)*bpl : (2*cy+1)*bpl+2*w]
			y1 = yp[(2*cy+1)*w : (2*cy+1)*w+w]
		}
		u, v := up[cy*cw:cy*cw+cw], vp[cy*cw:cy*cw+cw]
		// Reslicing as the loop goes lets the compiler drop the bounds checks.
		s0, s1, d0, d1, du, dv := r0[:2*wide], r1[:2*wide], y0[:wide], y1[:wide], u[:wide/2], v[:wide/2]
		for len(s0) >= 16 && len(s1) >= 16 && len(d0) >= 8 && len(d1) >= 8 && len(du) >= 4 && len(dv) >= 4 {
			a0 := binary.LittleEndian.Uint64(s0)
			a1 := binary.LittleEndian.Uint64(s0[8:16])
			b0 := binary.LittleEndian.Uint64(s1)
			b1 := binary.LittleEndian.Uint64(s1[8:16])
			binary.LittleEndian.PutUint64(d0, lumaOf(a0, ys)|lumaOf(a1, ys)<<32)
			binary.LittleEndian.PutUint64(d1, lumaOf(b0, ys)|lumaOf(b1, ys)<<32)
			// Per byte, (a|b) - ((a^b)>>1) is (a+b+1)>>1 without carries between bytes.
			m0 := a0 | b0 - (a0^b0)&0xfefefefefefefefe>>1
			m1 := a1 | b1 - (a1^b1)&0xfefefefefefefefe>>1
			// The chroma bytes of a word (YUYV: 1 and 5 are Cb, 3 and 7 Cr).
			c0, c1 := m0>>cs, m1>>cs
			binary.LittleEndian.PutUint32(du, uint32(c0&0xff|c0>>24&0xff00|c1<<16&0xff0000|c1>>8&0xff000000))
			c0, c1 = c0>>16, c1>>16
			binary.LittleEndian.PutUint32(dv, uint32(c0&0xff|c0>>24&0xff00|c1<<16&0xff0000|c1>>8&0xff000000))
			s0, s1, d0, d1, du, dv = s0[16:], s1[16:], d0[8:], d1[8:], du[4:], dv[4:]
		}
		for x := wide; x < w; x += 2 {
			o := 2 * x
			y0[x], y0[x+1] = r0[o+yo], r0[o+yo+2]
			if 2*cy+1 < h {
				y1[x], y1[x+1] = r1[o+yo], r1[o+yo+2]
			}
			u[x/2] = byte((int(r0[o+uo]) + int(r1[o+uo]) + 1) >> 1)
			v[x/2] = byte((int(r0[o+vo]) + int(r1[o+vo]) + 1) >> 1)
		}
	}
	return dst
}

// lumaOf packs the luma bytes of a word of two pixel pairs (bytes 0, 2, 4, 6 after a
// shift of s bits) into the low 32 bits.
func lumaOf(a uint64, s uint) uint64 {
	a = a >> s & 0x00ff00ff00ff00ff
	a = (a | a>>8) & 0x0000ffff0000ffff
	return (a | a>>16) & 0xffffffff
}
