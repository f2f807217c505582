package chat

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzParse: whatever arrives, the parser returns clean messages or reasons, never
// both for the same input slot; every message survives the JSON encoder (media/danmaku fuzzes onTextData).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"666", "  你好  ", `{"text":"hi","user":"alice","color":"#ff6699","mode":"top","id":"1","source":"b","ts":5}`,
		`[{"text":"a"},"b",{"text":""},7]`, `{"text":"x","color":16777215,"mode":6}`, "[doge]", `{"text":`,
		"a\x00b\u202e", `{"text":"\ud83d\ude00\u0000"}`, `["` + strings.Repeat("x", 120) + `"]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		msgs, errs := Parse(payload, Limits{MaxRunes: 50})
		for _, err := range errs {
			var r *Rejection
			if !errors.As(err, &r) || r.Cause == "" || r.Reason == "" || !utf8.ValidString(r.Reason) || len(r.Reason) > 200 {
				t.Fatalf("bad rejection %#v", err)
			}
		}
		for _, m := range msgs {
			if m.Text == "" || utf8.RuneCountInString(m.Text) > 50 || !utf8.ValidString(m.Text) {
				t.Fatalf("bad text %q", m.Text)
			}
			if m.Text != strings.TrimSpace(m.Text) {
				t.Fatalf("untrimmed text %q", m.Text)
			}
			for _, s := range []string{m.Text, m.User, m.ID, m.Source} {
				for _, r := range s {
					if unicode.IsControl(r) || bidiControl(r) {
						t.Fatalf("control character %U in %q", r, s)
					}
				}
			}
			if m.Mode > ModeReverse || m.Color > 0xffffff {
				t.Fatalf("mode %d color %x", m.Mode, m.Color)
			}
			var back map[string]any
			if err := json.Unmarshal(m.AppendJSON(nil), &back); err != nil || back["text"] != m.Text {
				t.Fatalf("JSON of %+v does not read back: %v", m, err)
			}
		}
	})
}
