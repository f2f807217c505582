package render

import (
	"container/list"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"slices"
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
// fallback font. The first found heads the font chain.
var SystemFonts = []string{
	"/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
	"/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
	"/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
	"/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
	"/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
	"/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
	"/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
}

// EmojiFonts are the outline fonts with emoji that follow the CJK font (or the fonts
// Options.FontPath names) in the chain, every one found, in this order: Symbola
// (Debian's fonts-symbola: emoji up to Unicode 9, drawn as line art), then GNU Unifont's
// upper planes (fonts-unifont: the later emoji, 🥰 🥺 🥳…, as pixel art). Colour emoji
// fonts (Noto Color Emoji: PNG bitmaps in CBDT/CBLC tables; Apple's sbix) cannot be drawn
// by golang.org/x/image and are refused (see errColourBitmap).
var EmojiFonts = []string{
	"/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf",
	"/usr/share/fonts/truetype/ttf-ancient-scripts/Symbola_hint.ttf",
	"/usr/share/fonts/opentype/unifont/unifont_upper.otf",
}

// EmojiPackages are the Debian packages of EmojiFonts, for the warning when they are missing.
const EmojiPackages = "fonts-symbola fonts-unifont"

// SplitFontPath splits a list of font files separated by ':' (the form of
// CAMNODE_DANMAKU_FONT and Options.FontPath), leaving out empty entries.
func SplitFontPath(s string) []string {
	var paths []string
	for p := range strings.SplitSeq(s, ":") {
		if p = strings.TrimSpace(p); p != "" {
			paths = append(paths, p)
		}
	}
	return paths
}

// typeface is one font file's chosen face.
type typeface struct {
	name    string
	path    string // empty for Go's built-in font
	font    *sfnt.Font
	face    font.Face // at the current pixel size
	lineArt bool      // thin-stroked drawings (Symbola's emoji): embolden them
}

// lineArtFamilies are the font families whose emoji are drawn with thin strokes: under
// the dark outline of a comment the stroke's colour would hardly show, so their glyphs
// are drawn a little bolder.
var lineArtFamilies = []string{"Symbola"}

// fontSet is the font chain: each rune's glyph comes from the first typeface that has
// it (the CJK font or the fonts named, then the emoji fonts, then Go Bold), rasterized
// once at the current size into the glyph cache. The chain picks the same face for a
// rune every time, so the cache is keyed by the rune alone.
type fontSet struct {
	faces    []*typeface
	closers  []io.Closer // the font files, read on demand
	warnings []string    // what the chain lacks, and which package brings it
	buf      sfnt.Buffer
	px       int // pixel size of the faces
	ascent   int // of the first face at px, pixels
	height   int // ascent + descent, pixels
	cache    glyphCache
}

// loadFonts builds the font chain. fontPath names font files separated by ':'; empty
// takes the first of SystemFonts found. EmojiFonts found follow, then Go Bold; with
// neither a font named nor a CJK font found, Go Bold comes first and draws Latin text
// (CJK characters are then boxes: not an error, a warning). A font
// named that cannot be used is an error; an emoji font found that cannot be is a warning.
func loadFonts(fontPath string, cacheBytes int) (*fontSet, error) {
	fs := &fontSet{cache: newGlyphCache(cacheBytes)}
	add := func(tf *typeface, c io.Closer) {
		fs.faces, fs.closers = append(fs.faces, tf), append(fs.closers, c)
	}
	named := SplitFontPath(fontPath)
	for _, p := range named {
		tf, c, err := openTypeface(p)
		if err != nil {
			fs.Close()
			return nil, err
		}
		add(tf, c)
	}
	if len(named) == 0 {
		for _, p := range SystemFonts {
			tf, c, err := openTypeface(p)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				fs.Close()
				return nil, err
			}
			add(tf, c)
			break
		}
	}
	g, err := opentype.Parse(gobold.TTF)
	if err != nil {
		fs.Close()
		return nil, fmt.Errorf("danmaku font: Go Bold: %w", err)
	}
	goBold := &typeface{name: "Go Bold", font: g}
	if len(fs.faces) == 0 {
		// No CJK font: Latin text keeps Go's letters rather than Symbola's.
		fs.faces = append(fs.faces, goBold)
	}
	for _, p := range EmojiFonts {
		if slices.ContainsFunc(fs.faces, func(tf *typeface) bool { return tf.path == p }) {
			continue
		}
		tf, c, err := openTypeface(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			fs.warnings = append(fs.warnings, err.Error())
			continue
		}
		add(tf, c)
	}
	if fs.faces[0] != goBold {
		fs.faces = append(fs.faces, goBold)
	}

	if !fs.has(cjkProbe) {
		fs.warnings = append(fs.warnings, "no CJK font: Chinese, Japanese and Korean text shows as boxes "+
			"(apt install fonts-noto-cjk, or name a font in CAMNODE_DANMAKU_FONT)")
	}
	switch {
	case !fs.has('😀'):
		fs.warnings = append(fs.warnings, "no emoji font: emoji show as boxes (apt install "+EmojiPackages+")")
	case !fs.has('🥰'):
		fs.warnings = append(fs.warnings, "no font for the emoji of Unicode 11 and later (🥰 🥺 🥳): they show as boxes (apt install fonts-unifont)")
	}
	return fs, nil
}

// cjkProbe is the character whose glyph tells a CJK font: the most common Chinese one
// ('中' will not do: Symbola has that one alone).
const cjkProbe = '的'

// has tells whether a face of the chain has a glyph for r.
func (fs *fontSet) has(r rune) bool {
	for _, tf := range fs.faces {
		if gi, err := tf.font.GlyphIndex(&fs.buf, r); err == nil && gi != 0 {
			return true
		}
	}
	return false
}

// errColourBitmap is the error of a font whose glyphs are colour bitmaps only.
var errColourBitmap = errors.New("a colour bitmap font (emoji as PNG images), which golang.org/x/image cannot draw: " +
	"use an outline font; for emoji, apt install " + EmojiPackages)

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
	if tags, err := faceTables(f, 0); err == nil && colourBitmapOnly(tags) {
		return nil, nil, fmt.Errorf("danmaku font %s: %w", path, errColourBitmap)
	}
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
	drawable := false
	for _, r := range []rune{'A', '中', '😀'} {
		if gi, err := fnt.GlyphIndex(&buf, r); err == nil && gi != 0 {
			drawable = true
		}
	}
	if !drawable {
		return nil, nil, fmt.Errorf("danmaku font %s: no glyph for 'A', '中' or '😀' (not a text font?)", path)
	}
	name, _ := fnt.Name(&buf, sfnt.NameIDFull)
	family, _ := fnt.Name(&buf, sfnt.NameIDFamily)
	ok = true
	return &typeface{name: name + " (" + path + ")", path: path, font: fnt, lineArt: slices.Contains(lineArtFamilies, family)}, f, nil
}

// colourBitmapOnly tells whether a face with these tables has colour bitmaps (CBDT,
// sbix) and no outlines (glyf, CFF, CFF2) to draw instead.
func colourBitmapOnly(tags []string) bool {
	bitmaps, outlines := false, false
	for _, t := range tags {
		switch t {
		case "CBDT", "sbix":
			bitmaps = true
		case "glyf", "CFF ", "CFF2":
			outlines = true
		}
	}
	return bitmaps && !outlines
}

// faceTables reads the table tags of face i of the font file r (layouts at repackFace).
func faceTables(r io.ReaderAt, i int) ([]string, error) {
	_, recs, err := tableDirectory(r, i)
	if err != nil {
		return nil, err
	}
	tags := make([]string, 0, len(recs)/16)
	for k := 0; k+16 <= len(recs); k += 16 {
		tags = append(tags, string(recs[k:k+4]))
	}
	return tags, nil
}

// tableDirectory returns the offset table (12 bytes) and the table records (16 bytes
// each) of face i of the font file r.
func tableDirectory(r io.ReaderAt, i int) (head, recs []byte, err error) {
	read := func(off int64, n int) ([]byte, error) {
		b := make([]byte, n)
		_, err := r.ReadAt(b, off)
		return b, err
	}
	hdr, err := read(0, 12)
	if err != nil {
		return nil, nil, err
	}
	var dir int64
	if string(hdr[:4]) == "ttcf" {
		if i < 0 || i >= int(binary.BigEndian.Uint32(hdr[8:])) {
			return nil, nil, errors.New("face index out of range")
		}
		o, err := read(12+4*int64(i), 4)
		if err != nil {
			return nil, nil, err
		}
		dir = int64(binary.BigEndian.Uint32(o))
	}
	if head, err = read(dir, 12); err != nil {
		return nil, nil, err
	}
	n := int(binary.BigEndian.Uint16(head[4:]))
	if recs, err = read(dir+12, 16*n); err != nil {
		return nil, nil, err
	}
	return head, recs, nil
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
	head, recs, err := tableDirectory(r, i)
	if err != nil {
		return nil, err
	}
	n := len(recs) / 16
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
	tofu    bool // no font of the chain has r: the mask is a hollow box
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
		if tf.lineArt {
			g = embolden(g, max(1, fs.px/36))
		}
		return g
	}
	if unicode.In(r, unicode.Mn, unicode.Me) {
		return &glyph{r: r} // a combining mark nobody can draw: leave the base letter alone
	}
	return fs.box(r)
}

// embolden returns g with its strokes grown by radius pixels on every side, and its
// advance by twice that so that it keeps its distance to its neighbours.
func embolden(g *glyph, radius int) *glyph {
	if g.w == 0 || g.h == 0 {
		return g
	}
	w, h := g.w+2*radius, g.h+2*radius
	padded := make([]byte, w*h)
	for row := range g.h {
		copy(padded[(row+radius)*w+radius:], g.mask[row*g.w:(row+1)*g.w])
	}
	grown := dilate(padded, w, h, radius)
	for i, a := range grown {
		// Half strength beyond the stroke: the colour shows, the details stay apart.
		grown[i] = max(padded[i], byte(int(a)*5/8))
	}
	return &glyph{r: g.r, mask: grown, w: w, h: h, x: g.x, y: g.y - radius,
		advance: g.advance + fixed.I(2*radius)}
}

// box is the glyph of a rune no font has (emoji, rare scripts): a hollow rectangle, so
// that the viewer sees something was there.
func (fs *fontSet) box(r rune) *glyph {
	w, h := max(3, fs.px*6/10), max(4, fs.ascent*8/10)
	t := max(1, fs.px/14)
	g := &glyph{r: r, w: w, h: h, x: max(1, fs.px/10), y: -h, advance: fixed.I(w + 2*max(1, fs.px/10)), tofu: true}
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
	var errs []error
	for _, c := range fs.closers {
		errs = append(errs, c.Close())
	}
	fs.closers = nil
	return errors.Join(errs...)
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
