package render

import (
	"container/list"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"strings"
	"unicode"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// SystemFonts are the CJK-capable fonts looked for, in order, when Options.FontPath is
// empty: Debian's fonts-noto-cjk, fonts-wqy-zenhei, fonts-wqy-microhei and the Droid
// fallback font.
var SystemFonts = []string{
	"/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
	"/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
	"/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
	"/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
	"/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
	"/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
	"/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
}

// typeface is one font file's chosen face.
type typeface struct {
	name string
	font *sfnt.Font
	face font.Face // at the current pixel size
}

// fontSet finds each rune's glyph in the first typeface that has it (the CJK font, then
// Go Bold) and rasterizes it once, at the current size, into the glyph cache.
type fontSet struct {
	faces  []*typeface
	closer io.Closer // the CJK font file, read on demand
	buf    sfnt.Buffer
	px     int // pixel size of the faces
	ascent int // of the first face at px, pixels
	height int // ascent + descent, pixels
	cache  glyphCache
}

// loadFonts opens the CJK font at path, or the first of SystemFonts found when path is
// empty (none found is not an error: Go's font then draws Latin text and boxes for
// the rest). A path that cannot be used is an error.
func loadFonts(path string, cacheBytes int) (*fontSet, error) {
	fs := &fontSet{cache: newGlyphCache(cacheBytes)}
	candidates := SystemFonts
	if path != "" {
		candidates = []string{path}
	}
	for _, p := range candidates {
		tf, closer, err := openTypeface(p)
		if err != nil {
			if path == "" && errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		fs.faces, fs.closer = append(fs.faces, tf), closer
		break
	}
	g, err := opentype.Parse(gobold.TTF)
	if err != nil {
		return nil, fmt.Errorf("danmaku font: Go Bold: %w", err)
	}
	fs.faces = append(fs.faces, &typeface{name: "Go Bold", font: g})
	return fs, nil
}

// openTypeface opens a .ttf, .otf, .ttc or .otc file and picks its face: in a
// collection, the Simplified Chinese one (Noto's "… SC") when there is one, else the
// first that is not monospaced.
func openTypeface(path string) (*typeface, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("danmaku font: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	coll, err := sfnt.ParseCollectionReaderAt(f)
	if err != nil {
		return nil, nil, fmt.Errorf("danmaku font %s: %w", path, err)
	}
	var buf sfnt.Buffer
	best, bestScore := -1, -1
	var fonts []*sfnt.Font
	for i := range coll.NumFonts() {
		fnt, err := coll.Font(i)
		if err != nil {
			// Some fonts (WenQuanYi) do not start their tables on 4-byte boundaries,
			// which x/image/font/sfnt rejects; rebuild such a face in memory.
			fnt, err = repackFace(f, i)
		}
		fonts = append(fonts, fnt)
		if err != nil {
			continue
		}
		name, _ := fnt.Name(&buf, sfnt.NameIDFull)
		score := 1
		if strings.Contains(name, " SC") {
			score = 3
		}
		if strings.Contains(name, "Mono") {
			score = 0
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	if best < 0 {
		return nil, nil, fmt.Errorf("danmaku font %s: no usable face", path)
	}
	fnt := fonts[best]
	if gi, err := fnt.GlyphIndex(&buf, 'A'); err != nil || gi == 0 {
		return nil, nil, fmt.Errorf("danmaku font %s: no glyph for 'A' (not a text font?)", path)
	}
	name, _ := fnt.Name(&buf, sfnt.NameIDFull)
	ok = true
	return &typeface{name: name + " (" + path + ")", font: fnt}, f, nil
}

// repackFace copies face i of the font file r into a single-font SFNT whose tables start
// on 4-byte boundaries, and parses that. Layouts (OpenType "Font Collections" and
// "Table Directory"):
//
//	TTC header: "ttcf", u16 major, u16 minor, u32 numFonts, u32 offset[numFonts]
//	offset table: u32 sfntVersion, u16 numTables, u16 searchRange, u16 entrySelector,
//	              u16 rangeShift, then numTables records of
//	              tag[4], u32 checksum, u32 offset (from the file start), u32 length
func repackFace(r io.ReaderAt, i int) (*sfnt.Font, error) {
	read := func(off int64, n int) ([]byte, error) {
		b := make([]byte, n)
		_, err := r.ReadAt(b, off)
		return b, err
	}
	hdr, err := read(0, 12)
	if err != nil {
		return nil, err
	}
	var dir int64
	if string(hdr[:4]) == "ttcf" {
		if i >= int(binary.BigEndian.Uint32(hdr[8:])) {
			return nil, errors.New("face index out of range")
		}
		o, err := read(12+4*int64(i), 4)
		if err != nil {
			return nil, err
		}
		dir = int64(binary.BigEndian.Uint32(o))
	}
	head, err := read(dir, 12)
	if err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(head[4:]))
	recs, err := read(dir+12, 16*n)
	if err != nil {
		return nil, err
	}
	out := append(head, recs...)
	const maxTotal = 64 << 20
	for k := range n {
		rec := 12 + 16*k // out grows below: index it afresh each time
		off, length := binary.BigEndian.Uint32(out[rec+8:]), binary.BigEndian.Uint32(out[rec+12:])
		if int(length) > maxTotal-len(out) {
			return nil, errors.New("font tables too large")
		}
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
		table, err := read(int64(off), int(length))
		if err != nil {
			return nil, err
		}
		binary.BigEndian.PutUint32(out[rec+8:], uint32(len(out)))
		out = append(out, table...)
	}
	return sfnt.Parse(out)
}

// setSize makes the faces rasterize at px pixels per em and empties the glyph cache.
func (fs *fontSet) setSize(px int) error {
	fs.px = px
	fs.cache.clear()
	for i, tf := range fs.faces {
		face, err := opentype.NewFace(tf.font, &opentype.FaceOptions{Size: float64(px), DPI: 72, Hinting: font.HintingNone})
		if err != nil {
			return fmt.Errorf("danmaku font %s at %d px: %w", tf.name, px, err)
		}
		tf.face = face
		if i == 0 {
			// A line as tall as the text needs rather than the font's line spacing
			// (Noto CJK's is 1.45 em): lanes sit closer, as on Bilibili. Ink beyond it
			// (stacked diacritics) is clipped.
			m := face.Metrics()
			fs.ascent = min(m.Ascent.Ceil(), (px*95+99)/100)
			fs.height = fs.ascent + min(m.Descent.Ceil(), (px+3)/4)
		}
	}
	return nil
}

// glyph is one rasterized rune: an alpha mask placed relative to the pen position on
// the baseline, and the pen advance.
type glyph struct {
	r       rune
	mask    []byte // w*h coverage bytes, row by row
	w, h    int
	x, y    int // top-left of the mask relative to the pen (y < 0: above the baseline)
	advance fixed.Int26_6
}

// glyph returns the cached glyph of r, rasterizing it on a miss.
func (fs *fontSet) glyph(r rune) *glyph {
	if g, ok := fs.cache.get(r); ok {
		return g
	}
	g := fs.rasterize(r)
	fs.cache.put(r, g)
	return g
}

func (fs *fontSet) rasterize(r rune) *glyph {
	if r == ' ' || r == '\u3000' {
		// Spaces: the advance alone.
		adv, _ := fs.faces[0].face.GlyphAdvance(r)
		if adv <= 0 {
			adv = fixed.I(fs.px / 3)
		}
		return &glyph{r: r, advance: adv}
	}
	for _, tf := range fs.faces {
		if gi, err := tf.font.GlyphIndex(&fs.buf, r); err != nil || gi == 0 {
			continue
		}
		dr, mask, mp, adv, ok := tf.face.Glyph(fixed.Point26_6{}, r)
		if !ok {
			continue
		}
		g := &glyph{r: r, w: dr.Dx(), h: dr.Dy(), x: dr.Min.X, y: dr.Min.Y, advance: adv}
		g.mask = make([]byte, g.w*g.h)
		if a, isAlpha := mask.(*image.Alpha); isAlpha {
			for row := range g.h {
				start := a.PixOffset(mp.X, mp.Y+row)
				copy(g.mask[row*g.w:(row+1)*g.w], a.Pix[start:start+g.w])
			}
		} else {
			for row := range g.h {
				for col := range g.w {
					_, _, _, al := mask.At(mp.X+col, mp.Y+row).RGBA()
					g.mask[row*g.w+col] = byte(al >> 8)
				}
			}
		}
		return g
	}
	if unicode.In(r, unicode.Mn, unicode.Me) {
		return &glyph{r: r} // a combining mark nobody can draw: leave the base letter alone
	}
	return fs.box(r)
}

// box is the glyph of a rune no font has (emoji, rare scripts): a hollow rectangle, so
// that the viewer sees something was there.
func (fs *fontSet) box(r rune) *glyph {
	w, h := max(3, fs.px*6/10), max(4, fs.ascent*8/10)
	t := max(1, fs.px/14)
	g := &glyph{r: r, w: w, h: h, x: max(1, fs.px/10), y: -h, advance: fixed.I(w + 2*max(1, fs.px/10))}
	g.mask = make([]byte, w*h)
	for y := range h {
		for x := range w {
			if x < t || y < t || x >= w-t || y >= h-t {
				g.mask[y*w+x] = 0xff
			}
		}
	}
	return g
}

func (fs *fontSet) Close() error {
	if fs.closer == nil {
		return nil
	}
	return fs.closer.Close()
}

// glyphCache keeps the glyphs last used, up to a number of mask bytes, dropping the
// least recently used beyond that.
type glyphCache struct {
	limit, bytes int
	byRune       map[rune]*list.Element
	lru          list.List // of *glyph, most recent first
	hits, misses uint64
}

func newGlyphCache(limit int) glyphCache {
	return glyphCache{limit: limit, byRune: make(map[rune]*list.Element)}
}

// entryOverhead approximates the bookkeeping bytes of one cached glyph (map slot, list
// element, glyph struct), counted against the limit with its mask.
const entryOverhead = 160

func (c *glyphCache) get(r rune) (*glyph, bool) {
	e, ok := c.byRune[r]
	if !ok {
		c.misses++
		return nil, false
	}
	c.hits++
	c.lru.MoveToFront(e)
	return e.Value.(*glyph), true
}

func (c *glyphCache) put(r rune, g *glyph) {
	c.byRune[r] = c.lru.PushFront(g)
	c.bytes += len(g.mask) + entryOverhead
	for c.bytes > c.limit && c.lru.Len() > 1 {
		old := c.lru.Remove(c.lru.Back()).(*glyph)
		delete(c.byRune, old.r)
		c.bytes -= len(old.mask) + entryOverhead
	}
}

func (c *glyphCache) clear() {
	clear(c.byRune)
	c.lru.Init()
	c.bytes = 0
}
