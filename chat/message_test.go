package chat

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseChatAccepts(t *testing.T) {
	white := DefaultColor
	for _, tc := range []struct {
		payload string
		want    []Message
	}{
		{"666", []Message{{Text: "666", Color: white}}},
		{"  hello \t world \n", []Message{{Text: "hello world", Color: white}}},
		{"[doge] 666", []Message{{Text: "[doge] 666", Color: white}}},
		{"{not json but text", nil}, // rejected below, listed here for contrast
		{"你好，世界", []Message{{Text: "你好，世界", Color: white}}},
		{"a\x07b\u202ec", []Message{{Text: "abc", Color: white}}},
		{"👨‍👩‍👧 family", []Message{{Text: "👨‍👩‍👧 family", Color: white}}},
		{`{"text":"666","user":"alice","color":"#FF6699","mode":"top","id":"b1f3","source":"bilibili","ts":1732450000123}`,
			[]Message{{Text: "666", User: "alice", Color: 0xff6699, Mode: ModeTop, ID: "b1f3", Source: "bilibili", TS: 1732450000123}}},
		{`{"text":"hi","color":16738740,"mode":4}`, []Message{{Text: "hi", Color: 16738740, Mode: ModeBottom}}},
		{`{"text":"hi","color":"255","mode":"REVERSE","id":12345,"ts":"17"}`, []Message{{Text: "hi", Color: 255, Mode: ModeReverse, ID: "12345", TS: 17}}},
		{`{"text":"hi","user":null,"color":"","mode":"","extra":[1,2]}`, []Message{{Text: "hi", Color: white}}},
		{`{"text":666}`, []Message{{Text: "666", Color: white}}},
		{`{"text":"t","ts":1732450000123.7}`, []Message{{Text: "t", Color: white, TS: 1732450000123}}},
		{` [{"text":"a"}, "b", {"text":"c","user":"u"}]`, []Message{{Text: "a", Color: white}, {Text: "b", Color: white}, {Text: "c", User: "u", Color: white}}},
	} {
		got, errs := Parse([]byte(tc.payload), Limits{})
		if tc.want == nil {
			continue
		}
		if len(errs) != 0 || len(got) != len(tc.want) {
			t.Errorf("%q: %+v, errors %v", tc.payload, got, errs)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%q message %d:\n got %+v\nwant %+v", tc.payload, i, got[i], tc.want[i])
			}
		}
	}
}

func TestParseChatRejects(t *testing.T) {
	for _, tc := range []struct {
		payload string
		cause   Cause
		reason  string
	}{
		{"", CauseEmpty, "empty text"},
		{" \t\x00\x07 ", CauseEmpty, "empty text"},
		{"caf\xe9", CauseInvalid, "payload is not valid UTF-8"},
		{strings.Repeat("长", 101), CauseTooLong, "text of 101 characters exceeds the limit of 100"},
		{`{"text":`, CauseInvalid, "invalid JSON: unexpected end of JSON input"},
		{`{"user":"alice"}`, CauseInvalid, `JSON without "text"`},
		{`{"text":"  "}`, CauseEmpty, "empty text"},
		{`{"text":true}`, CauseInvalid, `text must be a string, not "true"`},
		{`{"text":"hi","mode":"sideways"}`, CauseInvalid, `unknown mode "sideways" (use scroll, top, bottom or reverse)`},
		{`{"text":"hi","mode":9}`, CauseInvalid, `unknown mode "9"`},
		{`{"text":"hi","color":"#ff66"}`, CauseInvalid, `color "#ff66": use #rrggbb or a number from 0 to 16777215`},
		{`{"text":"hi","color":16777216}`, CauseInvalid, `color "16777216"`},
		{`{"text":"hi","color":-1}`, CauseInvalid, `color "-1"`},
		{`{"text":"hi","color":"red"}`, CauseInvalid, `color "red"`},
		{`{"text":"hi","ts":-1.5}`, CauseInvalid, `ts "-1.5": want milliseconds since 1970`},
		{`{"text":"hi","ts":"soon"}`, CauseInvalid, `ts "soon"`},
		{`{"text":"hi","user":"` + strings.Repeat("u", 33) + `"}`, CauseTooLong, "user of 33 characters exceeds the limit of 32"},
		{`{"text":"hi","id":"` + strings.Repeat("i", 129) + `"}`, CauseTooLong, "id of 129"},
		{`{"text":"\ud800"}`, CauseEmpty, "empty text"}, // a lone surrogate decodes to U+FFFD, which is dropped
		{`[]`, CauseEmpty, "empty JSON array"},
		{`[{"text":"a"},`, CauseInvalid, "invalid JSON array"},
		{"[" + strings.Repeat(`"x",`, MaxBatch) + `"x"]`, CauseOversize, "array of 101 messages exceeds the limit of 100"},
		{strings.Repeat("a", DefaultMaxPayload+1), CauseOversize, "payload of 65537 bytes exceeds the 65536-byte limit"},
	} {
		msgs, errs := Parse([]byte(tc.payload), Limits{})
		if len(msgs) != 0 || len(errs) != 1 {
			t.Errorf("%.40q: %d messages, errors %v", tc.payload, len(msgs), errs)
			continue
		}
		var r *Rejection
		if !errors.As(errs[0], &r) || r.Cause != tc.cause || !strings.HasPrefix(r.Reason, tc.reason) {
			t.Errorf("%.40q: %#v, want %s %q", tc.payload, errs[0], tc.cause, tc.reason)
		}
	}
}

func TestParseChatArrayKeepsGoodMessages(t *testing.T) {
	msgs, errs := Parse([]byte(`[{"text":"ok"},{"text":"x","mode":"up"},42,{"text":""},"fine"]`), Limits{})
	if len(msgs) != 2 || msgs[0].Text != "ok" || msgs[1].Text != "fine" {
		t.Fatalf("messages: %+v", msgs)
	}
	want := []string{`message 2 of 5: unknown mode "up"`, `message 3 of 5: not a message object: "42"`, "message 4 of 5: empty text"}
	if len(errs) != len(want) {
		t.Fatalf("errors: %v", errs)
	}
	for i, w := range want {
		if !strings.HasPrefix(errs[i].Error(), w) {
			t.Errorf("error %d = %q, want %q", i, errs[i], w)
		}
	}
}

func TestParseChatMaxRunesCountsAfterTrimming(t *testing.T) {
	text := "  " + strings.Repeat("😀", 10) + "  "
	if msgs, errs := Parse([]byte(text), Limits{MaxRunes: 10}); len(msgs) != 1 || len(errs) != 0 {
		t.Fatalf("10 emoji with spaces around, limit 10: %v", errs)
	}
	if _, errs := Parse([]byte(text+"!"), Limits{MaxRunes: 10}); len(errs) != 1 {
		t.Fatalf("11 runes accepted with limit 10")
	}
}

func TestReasonsQuoteLittle(t *testing.T) {
	_, errs := Parse([]byte(`{"text":"x","mode":"`+strings.Repeat("模", 100)+`"}`), Limits{})
	if len(errs) != 1 || len(errs[0].Error()) > 120 {
		t.Fatalf("reason echoes the payload: %q", errs)
	}
}

func TestColorAndModeStrings(t *testing.T) {
	if s := Color(0xff6699).String(); s != "#ff6699" {
		t.Fatalf("Color.String = %s", s)
	}
	if s := Color(0x0000ff).String(); s != "#0000ff" {
		t.Fatalf("Color.String = %s", s)
	}
	if ModeReverse.String() != "reverse" || Mode(9).String() != "Mode(9)" {
		t.Fatalf("Mode.String")
	}
}

func TestAppendJSON(t *testing.T) {
	m := Message{Text: `say "hi" \ 你好 😀` + "\u2028", User: "alice", Color: 0xff6699, Mode: ModeTop, ID: "7", Source: "bilibili", TS: 1732450000123}
	got := string(m.AppendJSON(nil))
	want := `{"text":"say \"hi\" \\ 你好 😀\u2028","user":"alice","color":"#ff6699","mode":"top","id":"7","source":"bilibili","ts":1732450000123}`
	if got != want {
		t.Fatalf("AppendJSON\n got %s\nwant %s", got, want)
	}
	var back struct {
		Text, User, Color, Mode, ID, Source string
		TS                                  int64
	}
	if err := json.Unmarshal([]byte(got), &back); err != nil || back.Text != m.Text || back.TS != m.TS {
		t.Fatalf("encoding/json reads back %+v, %v", back, err)
	}
	min := Message{Text: "x", Color: DefaultColor}
	if got := string(min.AppendJSON(nil)); got != `{"text":"x","color":"#ffffff","mode":"scroll"}` {
		t.Fatalf("minimal JSON: %s", got)
	}
}
