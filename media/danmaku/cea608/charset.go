package cea608

import (
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// glyph is how one displayed character is sent on CC1:
//
//	basic:    one byte 0x20-0x7F, two of them share a byte pair
//	special:  the pair 0x11 0x30-0x3F
//	extended: a basic fallback byte, then the pair 0x12/0x13 0x20-0x3F, which makes the
//	          decoder step back over the fallback and overwrite it
type glyph struct {
	hi, lo   byte // hi == 0: basic character lo
	fallback byte // extended only: what decoders without the extended set keep showing
}

func (g glyph) basic() bool    { return g.hi == 0 }
func (g glyph) extended() bool { return g.hi == 0x12 || g.hi == 0x13 }

// basicOverrides are the basic codes that do not show their ASCII character, with what
// decoders (ffmpeg's ccaption decoder among them) show instead: ten accented letters and
// signs, a block, and 0x27 as the typographic apostrophe.
var basicOverrides = map[byte]rune{
	0x27: '’', 0x2a: 'á', 0x5c: 'é', 0x5e: 'í', 0x5f: 'ó', 0x60: 'ú',
	0x7b: 'ç', 0x7c: '÷', 0x7d: 'Ñ', 0x7e: 'ñ', 0x7f: '█',
}

// special is the special North American set, 0x11 0x30-0x3F (0x39, the transparent
// space, is not used: a plain space does the job).
var special = [16]rune{'®', '°', '½', '¿', '™', '¢', '£', '♪', 'à', 0, 'è', 'â', 'ê', 'î', 'ô', 'û'}

// extended12 is the extended Spanish/French/miscellaneous set, 0x12 0x20-0x3F, and
// extended13 the Portuguese/German/Danish set, 0x13 0x20-0x3F, as ffmpeg shows them
// (0x12 0x26 ´, 0x12 0x2A -, 0x12 0x2D · and 0x13 0x37 ¦ are rendered so).
var (
	extended12 = [32]rune{
		'Á', 'É', 'Ó', 'Ú', 'Ü', 'ü', '´', '¡', '*', '‘', '-', '©', '℠', '·', '“', '”',
		'À', 'Â', 'Ç', 'È', 'Ê', 'Ë', 'ë', 'Î', 'Ï', 'ï', 'Ô', 'Ù', 'ù', 'Û', '«', '»',
	}
	extended13 = [32]rune{
		'Ã', 'ã', 'Í', 'Ì', 'ì', 'Ò', 'ò', 'Õ', 'õ', '{', '}', '\\', '^', '_', '|', '~',
		'Ä', 'ä', 'Ö', 'ö', 'ß', '¥', '¤', '¦', 'Å', 'å', 'Ø', 'ø', '┌', '┐', '└', '┘',
	}
)

// glyphs maps every character 608 can show to its code; built once from the tables.
var glyphs = buildGlyphs()

func buildGlyphs() map[rune]glyph {
	m := make(map[rune]glyph, 200)
	for b := byte(0x20); b <= 0x7f; b++ {
		r := rune(b)
		if o, ok := basicOverrides[b]; ok {
			r = o
		}
		m[r] = glyph{lo: b}
	}
	for i, r := range special {
		if r != 0 {
			m[r] = glyph{hi: 0x11, lo: 0x30 + byte(i)}
		}
	}
	for hi, set := range map[byte]*[32]rune{0x12: &extended12, 0x13: &extended13} {
		for i, r := range set {
			if _, ok := m[r]; ok {
				continue // '-' is basic already
			}
			m[r] = glyph{hi: hi, lo: 0x20 + byte(i), fallback: basicFallback(r)}
		}
	}
	// The ASCII characters whose basic codes show something else are reached through
	// the extended sets; the apostrophe is the basic 0x27.
	m['\''] = glyph{lo: 0x27}
	return m
}

// basicFallback is the basic character shown by decoders that lack the extended sets.
func basicFallback(r rune) byte {
	switch r {
	case '{', '«':
		return '<'
	case '}', '»':
		return '>'
	case '\\', '|', '¦', '┌', '┐', '└', '┘':
		return '+'
	case '^', '´', '‘':
		return '\''
	case '_', '~':
		return '-'
	case '*', '·':
		return '.'
	case '“', '”':
		return '"'
	case '¡':
		return '!'
	case '©', '℠':
		return 'C'
	case '¥':
		return 'Y'
	case '¤':
		return '$'
	case 'ß':
		return 's'
	case 'Ø':
		return 'O'
	case 'ø':
		return 'o'
	}
	if s := stripMarks(r); len(s) == 1 && s[0] >= 0x20 && s[0] < 0x7f {
		return s[0]
	}
	return '?'
}

// substitutes are the closest basic forms of common characters outside the 608 set that
// have no canonical decomposition to strip.
var substitutes = map[rune]string{
	'—': "-", '–': "-", '‐': "-", '‑': "-", '−': "-", '…': "...", '′': "'", '″': "\"",
	'‚': ",", '„': "\"", '‹': "<", '›': ">", '•': "·", '×': "x", '€': "EUR",
	'Æ': "AE", 'æ': "ae", 'Œ': "OE", 'œ': "oe", 'Ł': "L", 'ł': "l", 'Đ': "D", 'đ': "d",
	'Ð': "D", 'ð': "d", 'Þ': "Th", 'þ': "th", 'ı': "i", 'ĸ': "k", 'ŀ': "l", 'Ŀ': "L",
	'`': "‘", '\u00a0': " ", '\u3000': " ",
}

// appendGlyphs appends the glyphs that show r best: r itself when 608 has it; else its
// closest basic form (accents stripped, full-width folded, a listed substitute); else '?'.
func appendGlyphs(dst []glyph, r rune) []glyph {
	if g, ok := glyphs[r]; ok {
		return append(dst, g)
	}
	if r >= 0xff01 && r <= 0xff5e { // full-width ASCII, common in CJK chat
		return appendGlyphs(dst, r-0xff01+'!')
	}
	if s, ok := substitutes[r]; ok {
		for _, c := range s {
			dst = appendGlyphs(dst, c)
		}
		return dst
	}
	if invisible(r) {
		return dst
	}
	if s := stripMarks(r); s != string(r) && s != "" {
		n := len(dst)
		for _, c := range s {
			if g, ok := glyphs[c]; ok {
				dst = append(dst, g)
			}
		}
		if len(dst) > n {
			return dst
		}
	}
	if unicode.IsSpace(r) {
		return append(dst, glyphs[' '])
	}
	return append(dst, glyphs['?'])
}

// invisible reports characters that only modify their neighbours (combining marks,
// zero-width joiners and spaces, variation selectors, emoji skin tones): alone they add
// nothing a viewer could read, so they are dropped rather than shown as '?'.
func invisible(r rune) bool {
	switch {
	case unicode.Is(unicode.Mn, r), unicode.Is(unicode.Me, r):
		return true
	case r >= 0x200b && r <= 0x200d, r == 0x2060, r == 0xfeff:
		return true
	case r >= 0xfe00 && r <= 0xfe0f, r >= 0xe0100 && r <= 0xe01ef:
		return true
	case r >= 0x1f3fb && r <= 0x1f3ff:
		return true
	}
	return false
}

// stripMarks decomposes r (NFKD) and drops the combining marks: é -> e, ﬁ -> fi.
func stripMarks(r rune) string {
	var out []rune
	for _, c := range norm.NFKD.String(string(r)) {
		if !unicode.Is(unicode.Mn, c) {
			out = append(out, c)
		}
	}
	return string(out)
}

// Translate returns text as a 608 decoder shows it: each character that 608 has kept,
// every other one replaced by its closest basic form or '?'. Nothing is dropped except
// characters that only modify their neighbours: combining marks, zero-width joiners,
// variation selectors, emoji skin tones.
func Translate(text string) string {
	var gs []glyph
	for _, r := range text {
		gs = appendGlyphs(gs, r)
	}
	out := make([]rune, 0, len(gs))
	for _, g := range gs {
		out = append(out, g.rune())
	}
	return string(out)
}

// rune is the character a decoder shows for g.
func (g glyph) rune() rune {
	switch g.hi {
	case 0:
		if r, ok := basicOverrides[g.lo]; ok {
			return r
		}
		return rune(g.lo)
	case 0x11:
		return special[g.lo-0x30]
	case 0x12:
		return extended12[g.lo-0x20]
	default:
		return extended13[g.lo-0x20]
	}
}
