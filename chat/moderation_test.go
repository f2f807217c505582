package chat

import (
	"fmt"
	"testing"
	"time"
)

func TestBlocklist(t *testing.T) {
	m := NewModerator(ModerationOptions{Blocklist: []string{"Spam", " ", "傻瓜", "bad-word"}})
	now := time.Now()
	for text, blocked := range map[string]bool{
		"buy SPAM now":        true,
		"spam":                true,
		"spammer":             false, // ASCII words match whole words only
		"antispam":            false,
		"spam!":               true,
		"你是傻瓜吗":               true, // others match anywhere
		"a bad-word here":     true,
		"classic":             false,
		"nothing to see here": false,
	} {
		err := m.Admit(&Message{Text: text}, now)
		if got := CauseOf(err) == CauseBlocked; got != blocked {
			t.Errorf("%q: blocked=%v (%v), want %v", text, got, err, blocked)
		}
	}
	if err := m.Admit(&Message{Text: "hi", User: "SpamBot"}, now); err != nil {
		t.Errorf("user name SpamBot blocked by whole word spam: %v", err)
	}
	if err := m.Admit(&Message{Text: "hi", User: "spam"}, now); CauseOf(err) != CauseBlocked {
		t.Errorf("user name spam not blocked: %v", err)
	}
}

func TestDedupe(t *testing.T) {
	m := NewModerator(ModerationOptions{DedupeIDs: 3})
	now := time.Now()
	admit := func(id, source string) error { return m.Admit(&Message{Text: "x", ID: id, Source: source}, now) }
	if err := admit("1", "bili"); err != nil {
		t.Fatal(err)
	}
	if err := admit("1", "bili"); CauseOf(err) != CauseDuplicate || err.Error() != `duplicate id "1"` {
		t.Fatalf("second id 1: %v", err)
	}
	if err := admit("1", "twitch"); err != nil {
		t.Fatalf("same id from another source: %v", err)
	}
	for _, id := range []string{"2", "3", "4"} {
		if err := admit(id, "bili"); err != nil {
			t.Fatal(err)
		}
	}
	if err := admit("1", "bili"); err != nil {
		t.Fatalf("id 1 still remembered after 4 newer ids with room for 3: %v", err)
	}
	msg := &Message{Text: "x", ID: "9"}
	m.Admit(msg, now)
	m.Forget(msg)
	if err := m.Admit(msg, now); err != nil {
		t.Fatalf("a forgotten id is a duplicate: %v", err)
	}
	if err := m.Admit(&Message{Text: "no id"}, now); err != nil {
		t.Fatal(err)
	}
	if err := m.Admit(&Message{Text: "no id"}, now); err != nil {
		t.Fatalf("messages without id deduped: %v", err)
	}
}

func TestRateLimits(t *testing.T) {
	m := NewModerator(ModerationOptions{Rate: Rate{N: 5, Per: time.Second}, UserRate: Rate{N: 2, Per: time.Second}})
	t0 := time.Unix(1000, 0)
	var causes []Cause
	for i := 0; i < 4; i++ {
		causes = append(causes, CauseOf(m.Admit(&Message{Text: "x", User: "alice"}, t0)))
	}
	want := []Cause{"", "", CauseUserRate, CauseUserRate}
	if fmt.Sprint(causes) != fmt.Sprint(want) {
		t.Fatalf("alice x4: %v, want %v", causes, want)
	}
	// Five users each send one: the sixth message of the second is over the node's 5.
	causes = causes[:0]
	for _, u := range []string{"b", "c", "d", "e"} {
		causes = append(causes, CauseOf(m.Admit(&Message{Text: "x", User: u}, t0)))
	}
	want = []Cause{"", "", "", CauseRate}
	if fmt.Sprint(causes) != fmt.Sprint(want) {
		t.Fatalf("4 more users: %v, want %v", causes, want)
	}
	if err := m.Admit(&Message{Text: "x", User: "alice"}, t0.Add(500*time.Millisecond)); err != nil {
		t.Fatalf("after 0.5 s alice has one again and the node 2.5: %v", err)
	}
	if err := m.Admit(&Message{Text: "x", User: "b"}, t0.Add(500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := m.Admit(&Message{Text: "x", User: "c"}, t0.Add(500*time.Millisecond)); CauseOf(err) != CauseRate || err.Error() != "rate limit (5/s)" {
		t.Fatalf("third at 0.5 s: %v", err)
	}
	if err := NewModerator(ModerationOptions{UserRate: Rate{N: 1, Per: time.Second}}).Admit(&Message{Text: "x", User: "bob"}, t0); err != nil {
		t.Fatal(err)
	}
}

func TestUnlimited(t *testing.T) {
	m := NewModerator(ModerationOptions{})
	for i := 0; i < 10000; i++ {
		if err := m.Admit(&Message{Text: "x"}, time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
	}
}

// A flood of distinct user names does not grow the moderator without bound.
func TestUserStateIsBounded(t *testing.T) {
	m := NewModerator(ModerationOptions{UserRate: Rate{N: 1, Per: time.Minute}, MaxUsers: 100})
	now := time.Unix(0, 0)
	for i := 0; i < 10000; i++ {
		m.Admit(&Message{Text: "x", User: fmt.Sprint("u", i)}, now)
		if len(m.users) > 100 {
			t.Fatalf("%d users remembered", len(m.users))
		}
	}
	// Users quiet long enough are forgotten first; active ones keep their state.
	m2 := NewModerator(ModerationOptions{UserRate: Rate{N: 1, Per: time.Second}, MaxUsers: 3})
	m2.Admit(&Message{Text: "x", User: "old"}, now)
	m2.Admit(&Message{Text: "x", User: "old2"}, now)
	later := now.Add(10 * time.Second)
	m2.Admit(&Message{Text: "x", User: "active"}, later)
	m2.Admit(&Message{Text: "x", User: "new"}, later)
	if _, ok := m2.users["\x00active"]; !ok {
		t.Fatalf("an active user was forgotten: %v", m2.users)
	}
	if err := m2.Admit(&Message{Text: "x", User: "active"}, later); CauseOf(err) != CauseUserRate {
		t.Fatalf("active user's limit lost: %v", err)
	}
}

func TestRateString(t *testing.T) {
	for r, want := range map[Rate]string{{20, time.Second}: "20/s", {3, 5 * time.Second}: "3/5s", {1, time.Minute}: "1/min", {}: "unlimited"} {
		if r.String() != want {
			t.Errorf("%+v: %s, want %s", r, r.String(), want)
		}
	}
}

// TestBlocklistSeesThroughDisguises: a blocked word written with zero-width characters,
// in fullwidth, with combining marks or with look-alike letters of other scripts is
// blocked as the word it shows; the text of an admitted message is left as it came.
func TestBlocklistSeesThroughDisguises(t *testing.T) {
	m := NewModerator(ModerationOptions{Blocklist: []string{"badword", "ｓｐａｍ"}})
	now := time.Now()
	for _, text := range []string{
		"bad\u200bword",             // zero-width space
		"b\u200cadword",             // zero-width non-joiner
		"\u2060bad\u00adword\ufeff", // word joiner, soft hyphen, BOM
		"ｂａｄｗｏｒｄ",                   // fullwidth
		"b\u0308adword",             // combining diaeresis
		"bаdwоrd",                   // Cyrillic а and о
		"BАDWОRD",                   // Cyrillic А and О, upper case
		"ΒΑDWΟRD",                   // Greek Β, Α, Ο
		"𝐛𝐚𝐝𝐰𝐨𝐫𝐝 here",              // mathematical bold
		"ʙᴀᴅᴡᴏʀᴅ",                   // small capitals
		"so spam!",                  // a fullwidth blocklist entry blocks the ASCII word
	} {
		if err := m.Admit(&Message{Text: text}, now); CauseOf(err) != CauseBlocked {
			t.Errorf("%+q: %v, want blocked", text, err)
		}
	}
	for _, text := range []string{"badwords", "a good word", "bad word", "Ελληνικά", "привет", "café"} {
		msg := &Message{Text: text}
		if err := m.Admit(msg, now); err != nil {
			t.Errorf("%+q: %v, want admitted", text, err)
		}
		if msg.Text != text {
			t.Errorf("%+q: the text became %+q", text, msg.Text)
		}
	}
	if err := m.Admit(&Message{Text: "hi", User: "b\u200bad\u200bword"}, now); CauseOf(err) != CauseBlocked {
		t.Errorf("a user name with zero-width characters: %v, want blocked", err)
	}
}

// TestInvisibleTextIsEmpty: a message of zero-width and other invisible characters only
// is rejected as empty; one that has something visible keeps them as it came.
func TestInvisibleTextIsEmpty(t *testing.T) {
	for _, text := range []string{"\u200b", "\u200b\u200c\u200d\u2060\ufeff", " \u200b \u00ad ", "\u3164\u115f", "\u0308"} {
		msgs, errs := Parse([]byte(text), Limits{})
		if len(msgs) != 0 || len(errs) != 1 || CauseOf(errs[0]) != CauseEmpty {
			t.Errorf("%+q: %v %v, want rejected as empty", text, msgs, errs)
		}
	}
	const emoji = "👨\u200d👩\u200d👧" // a family: zero-width joiners hold it together
	msgs, errs := Parse([]byte(emoji), Limits{})
	if len(errs) != 0 || len(msgs) != 1 || msgs[0].Text != emoji {
		t.Errorf("%+q: %+v %v, want the text as it came", emoji, msgs, errs)
	}
}
