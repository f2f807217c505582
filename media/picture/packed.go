package picture

import "encoding/binary"

// PackedToI420 converts packed 4:2:2 to I420 in dst (grown as needed, returned). Each
// row of src is bpl bytes; a pixel pair is Y0 Cb Y1 Cr (YUYV) or Cb Y0 Cr Y1 (UYVY); w is
// even. The chroma of two rows is averaged (rounding up) into one; an odd last row
// stands alone.
//
// The inner loop takes 16 pixels (32 bytes) of each row at a time as four little-endian
// uint64 words and averages the two rows' bytes in the word (SWAR); a tail of fewer than
// 16 pixels goes pair by pair.
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
	wide := w / 16 * 16
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
		for len(s0) >= 32 && len(s1) >= 32 && len(d0) >= 16 && len(d1) >= 16 && len(du) >= 8 && len(dv) >= 8 {
			a0 := binary.LittleEndian.Uint64(s0[0:8])
			a1 := binary.LittleEndian.Uint64(s0[8:16])
			a2 := binary.LittleEndian.Uint64(s0[16:24])
			a3 := binary.LittleEndian.Uint64(s0[24:32])
			b0 := binary.LittleEndian.Uint64(s1[0:8])
			b1 := binary.LittleEndian.Uint64(s1[8:16])
			b2 := binary.LittleEndian.Uint64(s1[16:24])
			b3 := binary.LittleEndian.Uint64(s1[24:32])
			binary.LittleEndian.PutUint64(d0[0:8], lumaOf(a0, ys)|lumaOf(a1, ys)<<32)
			binary.LittleEndian.PutUint64(d0[8:16], lumaOf(a2, ys)|lumaOf(a3, ys)<<32)
			binary.LittleEndian.PutUint64(d1[0:8], lumaOf(b0, ys)|lumaOf(b1, ys)<<32)
			binary.LittleEndian.PutUint64(d1[8:16], lumaOf(b2, ys)|lumaOf(b3, ys)<<32)
			// Per byte, (a|b) - ((a^b)>>1) is (a+b+1)>>1 without carries between bytes.
			// The chroma bytes of a word (YUYV: 1 and 5 are Cb, 3 and 7 Cr) then go
			// to their planes, four pixel pairs a word of each row.
			c0 := (a0 | b0 - (a0^b0)&0xfefefefefefefefe>>1) >> cs
			c1 := (a1 | b1 - (a1^b1)&0xfefefefefefefefe>>1) >> cs
			c2 := (a2 | b2 - (a2^b2)&0xfefefefefefefefe>>1) >> cs
			c3 := (a3 | b3 - (a3^b3)&0xfefefefefefefefe>>1) >> cs
			binary.LittleEndian.PutUint64(du[0:8], chromaOf(c0, c1)|chromaOf(c2, c3)<<32)
			binary.LittleEndian.PutUint64(dv[0:8], chromaOf(c0>>16, c1>>16)|chromaOf(c2>>16, c3>>16)<<32)
			s0, s1, d0, d1, du, dv = s0[32:], s1[32:], d0[16:], d1[16:], du[8:], dv[8:]
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

// chromaOf packs bytes 0 and 4 of c0, then of c1, into the low 32 bits.
func chromaOf(c0, c1 uint64) uint64 {
	return c0&0xff | c0>>24&0xff00 | c1<<16&0xff0000 | c1>>8&0xff000000
}

// lumaOf packs the luma bytes of a word of two pixel pairs (bytes 0, 2, 4, 6 after a
// shift of s bits) into the low 32 bits.
func lumaOf(a uint64, s uint) uint64 {
	a = a >> s & 0x00ff00ff00ff00ff
	a = (a | a>>8) & 0x0000ffff0000ffff
	return (a | a>>16) & 0xffffffff
}
