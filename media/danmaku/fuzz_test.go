package danmaku

import (
	"testing"
	"unicode/utf8"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/media/flv"
)

// FuzzTextData: every message the chat parser can accept survives the onTextData encoder,
// its text and user read back as they were.
func FuzzTextData(f *testing.F) {
	for _, s := range [][2]string{{"666", "alice"}, {"你好 😀", ""}, {"a\"b\\c", "x y"}} {
		f.Add(s[0], s[1], uint32(0xff6699), uint8(1))
	}
	f.Fuzz(func(t *testing.T, text, user string, color uint32, mode uint8) {
		if !utf8.ValidString(text) || !utf8.ValidString(user) {
			return
		}
		m := chat.Message{Text: text, User: user, Color: chat.Color(color & 0xffffff), Mode: chat.Mode(mode % 4)}
		vals, err := flv.DecodeAMFValues(AppendTextData(nil, &m))
		if err != nil || len(vals) != 2 || vals[0] != "onTextData" {
			t.Fatalf("onTextData of %+v: %v %v", m, vals, err)
		}
		got := vals[1].(flv.AMFMap)
		if got.String("text") != text || got.String("user") != user || got.String("mode") != m.Mode.String() {
			t.Fatalf("onTextData of %+v reads back as %v", m, got)
		}
	})
}
