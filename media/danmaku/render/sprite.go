package render

import (
	"github.com/camnode/camnode/media"
)

// sprite is one comment rasterized once with its colour, outline and opacity, ready to
// be blended into any frame at an even position. Only pixels that the text or its
// outline cover are stored, as runs along rows; everything else is left untouched.
//
// Blending a pixel: out = p + bg*(255-a)/255, where a is the pixel's alpha and p its
// colour premultiplied by a (p <= a, so out never exceeds 255).
type sprite struct {
	w, h   int    // even
	luma   []span // runs on the w x h luma grid
	chroma []span // runs on the (w/2) x (h/2) chroma grid
	ya, yp []byte // per luma run pixel: alpha, premultiplied Y
	ca     []byte // per chroma run sample: alpha,
	cu, cv []byte // premultiplied U and V
}

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
		for x := 0; x < w; {
			if row[x] == 0 {
				x++
				continue
			}
			x0 := x
			for x < w && row[x] != 0 {
				x++
			}
			s.luma = appendRuns(s.luma, y, row, x0, x, len(s.ya))
			s.ya = append(s.ya, row[x0:x]...)
			for i := x0; i < x; i++ {
				s.yp = append(s.yp, pre[y*w+i][0])
			}
		}
	}
	cw := w / 2
	ca, cu, cv := make([]byte, cw), make([]byte, cw), make([]byte, cw)
	for cy := range h / 2 {
		clear(ca)
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
		for x := 0; x < cw; {
			if ca[x] == 0 {
				x++
				continue
			}
			x0 := x
			for x < cw && ca[x] != 0 {
				x++
			}
			s.chroma = appendRuns(s.chroma, cy, ca, x0, x, len(s.ca))
			s.ca = append(s.ca, ca[x0:x]...)
			s.cu = append(s.cu, cu[x0:x]...)
			s.cv = append(s.cv, cv[x0:x]...)
		}
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
	yPlane, ys := f.Planes[0], f.Strides[0]
	for _, sp := range s.luma {
		py := y + int(sp.row)
		if py < 0 || py >= H {
			continue
		}
		x0, x1 := x+int(sp.x), x+int(sp.x)+int(sp.n)
		off := int(sp.off)
		if x0 < 0 {
			off -= x0
			x0 = 0
		}
		x1 = min(x1, W)
		if x0 >= x1 {
			continue
		}
		dst := yPlane[py*ys+x0 : py*ys+x1]
		p := s.yp[off : off+len(dst)]
		if sp.opaque {
			copy(dst, p)
			continue
		}
		a := s.ya[off : off+len(dst)]
		for i, bg := range dst {
			dst[i] = p[i] + div255(int(bg)*(255-int(a[i])))
		}
	}
	cw, ch := (W+1)/2, (H+1)/2
	cx, cy := x/2, y/2
	for _, sp := range s.chroma {
		py := cy + int(sp.row)
		if py < 0 || py >= ch {
			continue
		}
		x0, x1 := cx+int(sp.x), cx+int(sp.x)+int(sp.n)
		off := int(sp.off)
		if x0 < 0 {
			off -= x0
			x0 = 0
		}
		x1 = min(x1, cw)
		if x0 >= x1 {
			continue
		}
		n := x1 - x0
		a, pu, pv := s.ca[off:off+n], s.cu[off:off+n], s.cv[off:off+n]
		if f.Format == media.PixelNV12 {
			dst := f.Planes[1][py*f.Strides[1]+2*x0 : py*f.Strides[1]+2*x1]
			if sp.opaque {
				for i := range n {
					dst[2*i], dst[2*i+1] = pu[i], pv[i]
				}
				continue
			}
			for i := range n {
				k := 255 - int(a[i])
				dst[2*i] = pu[i] + div255(int(dst[2*i])*k)
				dst[2*i+1] = pv[i] + div255(int(dst[2*i+1])*k)
			}
			continue
		}
		du := f.Planes[1][py*f.Strides[1]+x0 : py*f.Strides[1]+x1]
		dv := f.Planes[2][py*f.Strides[2]+x0 : py*f.Strides[2]+x1]
		if sp.opaque {
			copy(du, pu)
			copy(dv, pv)
			continue
		}
		for i := range n {
			k := 255 - int(a[i])
			du[i] = pu[i] + div255(int(du[i])*k)
			dv[i] = pv[i] + div255(int(dv[i])*k)
		}
	}
}

// div255 is v/255 rounded, for 0 <= v <= 255*255.
func div255(v int) byte { return byte((v + 128 + (v+128)>>8) >> 8) }

// bytes is the memory the sprite holds.
func (s *sprite) bytes() int {
	return len(s.ya) + len(s.yp) + len(s.ca) + len(s.cu) + len(s.cv) + 20*(len(s.luma)+len(s.chroma))
}
