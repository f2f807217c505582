package chat

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// skeleton is the form of s that moderation compares: what a reader sees, without the
// tricks that hide a word from a plain comparison while it still shows the same.
//
//  1. Compatibility decomposition (NFKD): fullwidth ｂ, mathematical 𝐛 and the like become
//     b, and accented letters split into the letter and its marks.
//  2. Invisible characters go: format characters (Unicode Cf: zero-width space and
//     joiners, the soft hyphen, bidi marks), the Hangul fillers, and combining marks
//     (Mn, Me: b̈ is b), so that bad\u200bword and b\u0308adword read as badword.
//  3. Look-alikes from Cyrillic, Greek, Armenian, Cherokee and Latin small capitals fold
//     to the Latin letter they pass for (Cyrillic а is a), after the TR39 skeleton; then
//     lower case.
//
// The table of step 3 is written by hand: Unicode's confusables.txt is not shipped by a
// Debian package, golang.org/x/text has no confusables table, and the one Go library that
// carries the whole table has not been kept since Unicode 13 and builds a 6,000-entry map
// at start-up. NFKD already covers the fullwidth and mathematical forms, which are the
// bulk of that table for the Latin alphabet.
//
// The text shown keeps its original form; only the comparisons use the skeleton.
func skeleton(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	var it norm.Iter
	it.InitString(norm.NFKD, s)
	for !it.Done() {
		seg := it.Next()
		for len(seg) > 0 {
			r, n := utf8.DecodeRune(seg)
			seg = seg[n:]
			if invisible(r) {
				continue
			}
			b.WriteRune(fold(r))
		}
	}
	return b.String()
}

// fold is the lower-case Latin letter r is drawn like, or r in lower case. The table is
// asked again after lower-casing, so that a capital whose small letter is a look-alike
// (Greek Σ, σ) folds as the small letter does, and a skeleton is its own skeleton.
func fold(r rune) rune {
	if l, ok := lookalike[r]; ok {
		r = l
	}
	r = unicode.ToLower(r)
	if l, ok := lookalike[r]; ok {
		r = l
	}
	return r
}

// invisible reports the characters that show nothing of their own: format characters,
// combining marks (once decomposed) and the Hangul fillers, which render blank.
func invisible(r rune) bool {
	switch r {
	case 0x115f, 0x1160, 0x3164, 0xffa0, 0x034f:
		return true
	}
	return unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me)
}

// lookalike maps letters of other scripts to the Latin letter they are drawn like, in
// the case they are drawn in (Greek Η is H, η is n).
var lookalike = map[rune]rune{
	// Cyrillic
	'А': 'A', 'В': 'B', 'С': 'C', 'Е': 'E', 'Н': 'H', 'І': 'I', 'Ј': 'J', 'К': 'K', 'М': 'M',
	'О': 'O', 'Р': 'P', 'Ѕ': 'S', 'Т': 'T', 'Х': 'X', 'Ү': 'Y', 'Ԁ': 'D', 'Ԛ': 'Q', 'Ԝ': 'W',
	'Ӏ': 'l', 'а': 'a', 'с': 'c', 'ԁ': 'd', 'е': 'e', 'һ': 'h', 'і': 'i', 'ј': 'j', 'ӏ': 'l',
	'о': 'o', 'р': 'p', 'ԛ': 'q', 'ѕ': 's', 'у': 'y', 'ү': 'y', 'х': 'x', 'ԝ': 'w', 'ѵ': 'v',
	'ь': 'b', 'ɡ': 'g',
	// Greek
	'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Ζ': 'Z', 'Η': 'H', 'Ι': 'I', 'Κ': 'K', 'Μ': 'M', 'Ν': 'N',
	'Ο': 'O', 'Ρ': 'P', 'Τ': 'T', 'Υ': 'Y', 'Χ': 'X', 'Ϲ': 'C', 'Ϳ': 'J',
	'α': 'a', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'σ': 'o', 'τ': 't', 'υ': 'u',
	'χ': 'x', 'ω': 'w', 'η': 'n', 'ϲ': 'c', 'ϳ': 'j', 'γ': 'y',
	// Armenian
	'օ': 'o', 'ս': 'u', 'ց': 'g', 'հ': 'h', 'ո': 'n', 'զ': 'q', 'Ս': 'U', 'Տ': 'S', 'Օ': 'O',
	// Cherokee
	'Ꭺ': 'A', 'Ᏼ': 'B', 'Ꮯ': 'C', 'Ꭼ': 'E', 'Ꮋ': 'H', 'Ꭻ': 'J', 'Ꮶ': 'K', 'Ꮇ': 'M', 'Ꮲ': 'P',
	'Ꮪ': 'S', 'Ꭲ': 'T', 'Ꮩ': 'V', 'Ꮃ': 'W', 'Ꮓ': 'Z', 'Ꮐ': 'G',
	// Latin: dotless i, script a and g, small capitals
	'ı': 'i', 'ɑ': 'a', 'ᴀ': 'a', 'ʙ': 'b', 'ᴄ': 'c', 'ᴅ': 'd', 'ᴇ': 'e', 'ɢ': 'g', 'ʜ': 'h',
	'ɪ': 'i', 'ᴊ': 'j', 'ᴋ': 'k', 'ʟ': 'l', 'ᴍ': 'm', 'ɴ': 'n', 'ᴏ': 'o', 'ᴘ': 'p', 'ʀ': 'r',
	'ꜱ': 's', 'ᴛ': 't', 'ᴜ': 'u', 'ᴠ': 'v', 'ᴡ': 'w', 'ʏ': 'y', 'ᴢ': 'z',
}
