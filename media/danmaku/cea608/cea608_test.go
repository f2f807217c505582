package cea608

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParity(t *testing.T) {
	for b := 0; b < 128; b++ {
		p := withParity(byte(b))
		ones := 0
		for v := p; v != 0; v >>= 1 {
			ones += int(v & 1)
		}
		if ones%2 != 1 || p&0x7f != byte(b) {
			t.Fatalf("withParity(%#02x) = %#02x", b, p)
		}
	}
}

func TestAppendCaptionBytes(t *testing.T) {
	got := AppendCaption(nil, 2, "bob: Hi!")
	want := []byte{
		0x94, 0x25, 0x94, 0x25, // RU2 twice
		0x94, 0xe0, 0x94, 0xe0, // PAC row 15 twice
		0x94, 0xad, 0x94, 0xad, // CR twice
		0x62, 0xef, 0x62, 0xba, // "bo" "b:"
		0x20, 0xc8, 0xe9, 0xa1, // " H" "i!"
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendCaption\n got % x\nwant % x", got, want)
	}
	if got := AppendCaption(nil, 3, "x"); got[1] != 0x26 || got[3] != 0x26 {
		t.Fatalf("3 rows: % x", got[:4])
	}
	if got := AppendCaption(nil, 2, "  \u200d "); len(got) != 0 {
		t.Fatalf("blank text made pairs: % x", got)
	}
	if got := AppendErase(nil); !bytes.Equal(got, []byte{0x94, 0x2c, 0x94, 0x2c}) {
		t.Fatalf("AppendErase = % x", got)
	}
}

func TestTranslate(t *testing.T) {
	for in, want := range map[string]string{
		"Hello, world":    "Hello, world",
		"it's":            "it’s",
		"café Ñandú":      "café Ñandú",
		"Größe Ärger ß":   "Größe Ärger ß",
		"crème brûlée ♪":  "crème brûlée ♪",
		"a*b_c{d}|e~f\\g": "a*b_c{d}|e~f\\g",
		"naïve Øre «ok»":  "naïve Øre «ok»",
		"Łódź ōū ă":       "Lódz ou a",
		"ＡＢＣ１２３！":         "ABC123!",
		"你好":              "??",
		"😀 lol":           "? lol",
		"👍🏽 ok":           "? ok",
		"x — y… z":        "x - y... z",
		"œuvre € 5":       "oeuvre EUR 5",
		"`tick`":          "‘tick‘",
		"e\u0301":         "e",
	} {
		if got := Translate(in); got != want {
			t.Errorf("Translate(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every character 608 has comes out of a decoder as itself.
func TestEveryGlyphRoundTrips(t *testing.T) {
	var b strings.Builder
	for r := range glyphs {
		if r != '\'' {
			b.WriteRune(r)
		}
	}
	text := b.String()
	var s screen
	s.feed(AppendCaption(nil, 2, text))
	if s.lastErr != nil {
		t.Fatal(s.lastErr)
	}
	// Rows break at spaces, which the wrap drops: compare without them.
	got := strings.NewReplacer("\n", "", " ", "").Replace(s.text())
	if want := strings.ReplaceAll(Translate(text), " ", ""); got != want || utf8.RuneCountInString(want) != len(glyphs)-2 {
		t.Fatalf("decoded\n%q\nwant\n%q", got, want)
	}
}

func TestWrapAtSpaces(t *testing.T) {
	text := "alice: the quick brown fox jumps over the lazy dog and keeps running " + strings.Repeat("x", 40)
	var s screen
	s.feed(AppendCaption(nil, 2, text))
	if s.lastErr != nil {
		t.Fatal(s.lastErr)
	}
	want := "alice: the quick brown fox jumps\nover the lazy dog and keeps\nrunning\n" + strings.Repeat("x", 32) + "\n" + strings.Repeat("x", 8)
	if got := s.text(); got != want {
		t.Fatalf("rows\n%s\nwant\n%s", got, want)
	}
}

// Equal special characters in a row survive a decoder that drops repeated pairs.
func TestRepeatedSpecialCharacters(t *testing.T) {
	for _, text := range []string{"♪♪♪", "la ♪♪ la", "ÄÄÄ", "®®", "àà èè"} {
		var s screen
		s.feed(AppendCaption(nil, 2, text))
		if s.lastErr != nil || s.text() != text {
			t.Errorf("%q decoded as %q (%v)", text, s.text(), s.lastErr)
		}
	}
}

func TestAppendCCData(t *testing.T) {
	pairs := AppendErase(nil)
	got := AppendCCData(nil, pairs)
	want := []byte{0xb5, 0x00, 0x31, 'G', 'A', '9', '4', 0x03, 0xc3, 0xff,
		0xfc, 0x94, 0x2c, 0xfc, 0x94, 0x2c, 0xf9, 0x80, 0x80, 0xff}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendCCData\n got % x\nwant % x", got, want)
	}
	if len(got) != CCDataSize(2) {
		t.Fatalf("CCDataSize(2) = %d, payload is %d", CCDataSize(2), len(got))
	}
	many := AppendCCData(nil, make([]byte, 2*(MaxPairsPerSEI+5)))
	if many[8] != 0xc0|31 || len(many) != CCDataSize(MaxPairsPerSEI+5) {
		t.Fatalf("cc_count of an overfull cc_data: %#x, %d bytes", many[8], len(many))
	}
}

func TestAppendCaptionIsValidUTF8Safe(t *testing.T) {
	// Invalid UTF-8 reaches the encoder as U+FFFD, which 608 shows as '?'.
	var s screen
	s.feed(AppendCaption(nil, 2, "a\xffb"))
	if s.text() != "a?b" || !utf8.ValidString(s.text()) {
		t.Fatalf("decoded %q", s.text())
	}
}
