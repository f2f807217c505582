package cea608

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz608 encodes any text and decodes it again: the pairs have valid parity and only
// known codes, no row is wider than the screen, and the rows put together read as the
// text's Translate form with the wrapping spaces removed.
func Fuzz608(f *testing.F) {
	for _, s := range []string{"alice: 666", "你好 world", "♪♪ ÄÖÜ äöü ß", "a*b_c{d}", strings.Repeat("long ", 30), "😀👍🏽", "\x00\x7f", "e\u0301"} {
		f.Add(s, 2)
	}
	f.Fuzz(func(t *testing.T, text string, rows int) {
		pairs := AppendCaption(nil, rows, text)
		if len(pairs)%2 != 0 {
			t.Fatalf("odd number of bytes: %d", len(pairs))
		}
		var s screen
		s.feed(pairs)
		if s.lastErr != nil {
			t.Fatalf("decoder: %v", s.lastErr)
		}
		got := strings.Join(strings.Fields(s.text()), " ")
		want := strings.Join(strings.Fields(Translate(text)), " ")
		// Wrapping may split a word longer than a row; compare without any spaces then.
		if got != want && strings.ReplaceAll(got, " ", "") != strings.ReplaceAll(want, " ", "") {
			t.Fatalf("decoded %q, want %q", got, want)
		}
		if !utf8.ValidString(s.text()) {
			t.Fatalf("decoded text is not UTF-8")
		}
		payload := AppendCCData(nil, pairs)
		if len(payload) != CCDataSize(len(pairs)/2) {
			t.Fatalf("cc_data of %d bytes, CCDataSize says %d", len(payload), CCDataSize(len(pairs)/2))
		}
	})
}
