package render

import (
	"github.com/camnode/camnode/media"
)

// sprite is one comment rasterized once with its colour, outline and opacity, ready to
// be blended into any frame at an even position. Only pixels that the text or its
// outline cover are stored, as runs along rows; everything else is left untouched.
//
// Blending a pixel: out = p + bg*(255-a)/255, where a is the pixel's alpha and p its
// colour premultiplied by a (p <= a). The division is kept out of the loop: each pixel
// stores its background weight k = (255-a)*256/255 (see weight), and out = p +
// (bg*k+128)>>8, within 1 of the exact value and never above 255.
type sprite struct {
	w, h   int      // even
	luma   []span   // runs on the w x h luma grid
	chroma []span   // runs on the (w/2) x (h/2) chroma grid
	yk     []uint16 // per luma run pixel: background weight,
	yp     []byte   // premultiplied Y
	ck     []uint16 // per chroma run sample: background weight,
	cu, cv []byte   // premultiplied U and V
}

// weight is the background's weight, 0..256, under a pixel of alpha a: 256 where a is 0
// (the background kept exactly), 0 where a is 255.
func weight(a byte) uint16 {
	k := 255 - uint16(a)
	return k + k>>7
}

// appendWeights appends the weights of alpha to ks.
func appendWeights(ks []uint16, alpha []byte) []uint16 {
	for _, a := range alpha {
		ks = append(ks, weight(a))
	}
	return ks
}

// blend is p laid over bg with background weight k.
func blend(p, bg byte, k uint16) byte { return p + byte((uint32(bg)*uint32(k)+128)>>8) }

// span is a run of n stored pixels on one row, starting at column x; off indexes the
// sprite's value slices. In an opaque run every alpha is 255: blending is a copy of the
// sprite's colours. Text drawn at full opacity is mostly such runs (the strokes and the
// outline's inside); the blended runs are their anti-aliased edges.
type span struct {
	row, x, n, off int32
	opaque         bool
}

// minOpaqueRun is the shortest run of opaque pixels that gets a span of its own: shorter
// ones cost more as a span than they save as a copy.
const minOpaqueRun = 8

// mergeGap is the shortest gap of clear pixels that ends a run: shorter gaps (between
// letters, inside them) are stored as clear pixels (alpha 0, a blend that changes
// nothing), which costs less than another span.
const mergeGap = 8

// inkRuns calls fn with each run [x0, x1) of row that starts and ends with a non-zero
// value and has no mergeGap zeros in a row inside it.
func inkRuns(row []byte, fn func(x0, x1 int)) {
	for x := 0; x < len(row); {
		if row[x] == 0 {
			x++
			continue
		}
		x0, end := x, x+1
		for x = end; x < len(row) && x-end < mergeGap; x++ {
			if row[x] != 0 {
				end = x + 1
			}
		}
		fn(x0, end)
		x = end
	}
}

// appendRuns appends the spans of one row's non-zero run alpha[x0:x1], starting at
// column x0 and at offset off of the value slices: opaque runs of at least minOpaqueRun
// pixels, and blended runs between them.
func appendRuns(spans []span, row int, alpha []byte, x0, x1, off int) []span {
	start := x0
	for x := x0; x < x1; {
		if alpha[x] != 255 {
			x++
			continue
		}
		o := x
		for x < x1 && alpha[x] == 255 {
			x++
		}
		if x-o < minOpaqueRun {
			continue
		}
		if o > start {
			spans = append(spans, span{row: int32(row), x: int32(start), n: int32(o - start), off: int32(off + start - x0)})
		}
		spans = append(spans, span{row: int32(row), x: int32(o), n: int32(x - o), off: int32(off + o - x0), opaque: true})
		start = x
	}
	if x1 > start {
		spans = append(spans, span{row: int32(row), x: int32(start), n: int32(x1 - start), off: int32(off + start - x0)})
	}
	return spans
}

// placedGlyph is a glyph at its pen position, in pixels from the text start.
type placedGlyph struct {
	g *glyph
	x int
}

// spriteStyle is everything about a comment's look but its glyphs.
type spriteStyle struct {
	fill, outline [3]byte // Y, U, V
	opacity       int     // 0..255
	radius        int     // outline thickness in pixels
	pad, height   int     // room around the text, sprite height
	ascent        int     // baseline below the sprite's text top
}

// buildSprite rasterizes glyphs (positions from 0, width the pen advance) into a sprite.
func buildSprite(glyphs []placedGlyph, width int, st spriteStyle) *sprite {
	left := 0 // leftmost ink, relative to the pen start
	right := width
	for _, pg := range glyphs {
		left = min(left, pg.x+pg.g.x)
		right = max(right, pg.x+pg.g.x+pg.g.w)
	}
	origin := st.pad - left // the pen start within the sprite
	w := (right - left + 2*st.pad + 1) &^ 1
	h := st.height
	baseline := st.pad + st.ascent

	fill := make([]byte, w*h)
	for _, pg := range glyphs {
		g := pg.g
		for gy := range g.h {
			y := baseline + g.y + gy
			if y < 0 || y >= h {
				continue
			}
			dst := fill[y*w+origin+pg.x+g.x:]
			for gx, a := range g.mask[gy*g.w : (gy+1)*g.w] {
				dst[gx] = max(dst[gx], a)
			}
		}
	}
	outline := dilate(fill, w, h, st.radius)

	// Per pixel alpha and premultiplied Y, U, V; the fill is laid over the outline.
	a := make([]byte, w*h)
	pre := make([][3]byte, w*h)
	for i := range fill {
		af, ao := int(fill[i]), int(outline[i])
		if af == 0 && ao == 0 {
			continue
		}
		under := ao * (255 - af) // outline weight, scaled by 255*255
		a[i] = byte((65025 - (255-ao)*(255-af)) * st.opacity / 65025)
		for c := range 3 {
			v := (int(st.outline[c])*under + int(st.fill[c])*af*255) / 65025
			pre[i][c] = byte(v * st.opacity / 255)
		}
	}

	s := &sprite{w: w, h: h}
	for y := range h {
		row := a[y*w : (y+1)*w]
		inkRuns(row, func(x0, x1 int) {
			s.luma = appendRuns(s.luma, y, row, x0, x1, len(s.yk))
			s.yk = appendWeights(s.yk, row[x0:x1])
			for i := x0; i < x1; i++ {
				s.yp = append(s.yp, pre[y*w+i][0])
			}
		})
	}
	cw := w / 2
	ca, cu, cv := make([]byte, cw), make([]byte, cw), make([]byte, cw)
	for cy := range h / 2 {
		clear(ca)
		clear(cu) // gaps inside a run are stored: clear, not stale
		clear(cv)
		for cx := range cw {
			i := 2*cy*w + 2*cx
			sumA := int(a[i]) + int(a[i+1]) + int(a[i+w]) + int(a[i+w+1])
			if sumA == 0 {
				continue
			}
			ca[cx] = byte((sumA + 2) / 4)
			u := (int(pre[i][1]) + int(pre[i+1][1]) + int(pre[i+w][1]) + int(pre[i+w+1][1])) / 4
			v := (int(pre[i][2]) + int(pre[i+1][2]) + int(pre[i+w][2]) + int(pre[i+w+1][2])) / 4
			// Keep p <= a after the rounding of the average.
			cu[cx], cv[cx] = byte(min(u, int(ca[cx]))), byte(min(v, int(ca[cx])))
		}
		inkRuns(ca, func(x0, x1 int) {
			s.chroma = appendRuns(s.chroma, cy, ca, x0, x1, len(s.ck))
			s.ck = appendWeights(s.ck, ca[x0:x1])
			s.cu = append(s.cu, cu[x0:x1]...)
			s.cv = append(s.cv, cv[x0:x1]...)
		})
	}
	return s
}

// dilate returns the mask grown by radius pixels in every direction (a square
// neighbourhood: a horizontal then a vertical running maximum).
func dilate(m []byte, w, h, radius int) []byte {
	tmp := make([]byte, len(m))
	for y := range h {
		row, out := m[y*w:(y+1)*w], tmp[y*w:(y+1)*w]
		for x := range w {
			var v byte
			for k := max(0, x-radius); k <= min(w-1, x+radius); k++ {
				v = max(v, row[k])
			}
			out[x] = v
		}
	}
	res := make([]byte, len(m))
	for y := range h {
		for x := range w {
			var v byte
			for k := max(0, y-radius); k <= min(h-1, y+radius); k++ {
				v = max(v, tmp[k*w+x])
			}
			res[y*w+x] = v
		}
	}
	return res
}

// blit blends the sprite into f with its top-left corner at (x, y), both even, clipped
// to the picture. f has been checked by checkFrame.
func (s *sprite) blit(f *media.Frame, x, y int) {
	W, H := f.Width, f.Height
	cw, ch := (W+1)/2, (H+1)/2
	// Wholly in the picture, as a comment is for most of its time: no clipping.
	inside := x >= 0 && y >= 0 && x+s.w <= W && y+s.h <= H
	blendPlane(f.Planes[0], f.Strides[0], s.luma, s.yk, s.yp, x, y, W, H, inside)
	if f.Format == media.PixelNV12 {
		s.blitNV12(f, x/2, y/2, cw, ch)
		return
	}
	blendPlane(f.Planes[1], f.Strides[1], s.chroma, s.ck, s.cu, x/2, y/2, cw, ch, inside)
	blendPlane(f.Planes[2], f.Strides[2], s.chroma, s.ck, s.cv, x/2, y/2, cw, ch, inside)
}

// blendPlane blends the runs of one w x h plane: without clipping when the sprite is
// inside it.
func blendPlane(plane []byte, stride int, spans []span, ks []uint16, ps []byte, x, y, w, h int, inside bool) {
	if inside {
		blendInside(plane, stride, spans, ks, ps, x, y)
		return
	}
	blendClipped(plane, stride, spans, ks, ps, x, y, w, h)
}

// blendInside blends the runs of one plane (weights ks, premultiplied values ps) into
// plane with the sprite's corner at (x, y), the sprite wholly inside the plane.
func blendInside(plane []byte, stride int, spans []span, ks []uint16, ps []byte, x, y int) {
	base := y*stride + x
	for _, sp := range spans {
		d, off, n := base+int(sp.row)*stride+int(sp.x), int(sp.off), int(sp.n)
		dst := plane[d : d+n]
		p := ps[off : off+len(dst)]
		if sp.opaque {
			copy(dst, p)
			continue
		}
		k := ks[off : off+len(dst)]
		for i, bg := range dst {
			dst[i] = blend(p[i], bg, k[i])
		}
	}
}

// blendClipped is blendInside for a sprite that may reach past any edge of the w x h
// plane. The two keep their own copy of the run loop: the loop shared through an inlined
// function made Draw720p 5-8% slower.
func blendClipped(plane []byte, stride int, spans []span, ks []uint16, ps []byte, x, y, w, h int) {
	for _, sp := range spans {
		py := y + int(sp.row)
		if py < 0 || py >= h {
			continue
		}
		x0, x1, off := x+int(sp.x), min(x+int(sp.x)+int(sp.n), w), int(sp.off)
		if x0 < 0 {
			off -= x0
			x0 = 0
		}
		if x0 >= x1 {
			continue
		}
		dst := plane[py*stride+x0 : py*stride+x1]
		p := ps[off : off+len(dst)]
		if sp.opaque {
			copy(dst, p)
			continue
		}
		k := ks[off : off+len(dst)]
		for i, bg := range dst {
			dst[i] = blend(p[i], bg, k[i])
		}
	}
}

// blitNV12 blends the chroma runs into an NV12 picture's interleaved plane, clipped to
// its cw x ch samples, with the sprite's chroma corner at (cx, cy).
func (s *sprite) blitNV12(f *media.Frame, cx, cy, cw, ch int) {
	plane, stride := f.Planes[1], f.Strides[1]
	for _, sp := range s.chroma {
		py := cy + int(sp.row)
		if py < 0 || py >= ch {
			continue
		}
		x0, x1, off := cx+int(sp.x), min(cx+int(sp.x)+int(sp.n), cw), int(sp.off)
		if x0 < 0 {
			off -= x0
			x0 = 0
		}
		if x0 >= x1 {
			continue
		}
		n := x1 - x0
		dst := plane[py*stride+2*x0 : py*stride+2*x1]
		k, pu, pv := s.ck[off:off+n], s.cu[off:off+n], s.cv[off:off+n]
		if sp.opaque {
			for i := range n {
				dst[2*i], dst[2*i+1] = pu[i], pv[i]
			}
			continue
		}
		for i := range n {
			dst[2*i] = blend(pu[i], dst[2*i], k[i])
			dst[2*i+1] = blend(pv[i], dst[2*i+1], k[i])
		}
	}
}

// bytes is the memory the sprite holds.
func (s *sprite) bytes() int {
	return 2*len(s.yk) + len(s.yp) + 2*len(s.ck) + len(s.cu) + len(s.cv) + 20*(len(s.luma)+len(s.chroma))
}
