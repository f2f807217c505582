package chat

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzSkeleton: the skeleton of any text is valid UTF-8 with nothing invisible left in
// it, is its own skeleton, and a blocked word hidden in it by zero-width characters is
// still found.
func FuzzSkeleton(f *testing.F) {
	for _, s := range []string{"badword", "bad\u200bword", "ｂａｄｗｏｒｄ", "b\u0308adword", "bаdwоrd",
		"İstanbul", "ǅ", "ﷺ", "\u3164", "👨\u200d👩\u200d👧", "\xff\xfe", "ΣΑΣ", "ﬁ"} {
		f.Add(s)
	}
	m := NewModerator(ModerationOptions{Blocklist: []string{"badword"}})
	f.Fuzz(func(t *testing.T, s string) {
		k := skeleton(s)
		if utf8.ValidString(s) && !utf8.ValidString(k) {
			t.Fatalf("skeleton(%+q) = %+q: not valid UTF-8", s, k)
		}
		for _, r := range k {
			if invisible(r) {
				t.Fatalf("skeleton(%+q) = %+q keeps the invisible %U", s, k, r)
			}
		}
		if kk := skeleton(k); kk != k {
			t.Fatalf("skeleton(%+q) = %+q, but its skeleton is %+q", s, k, kk)
		}
		hidden := " b\u200ba\u00add\u2060w\u0301ord "
		if !m.blocked(s+hidden) && !strings.ContainsFunc(s, unicode.IsControl) {
			t.Fatalf("%+q: the hidden badword is not found", s+hidden)
		}
	})
}
