// Package chat is camnode's live chat: the chat message, its parser and its moderation; what puts chat into the stream is media/danmaku.
package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Mode is how a player shows a message.
type Mode uint8

// The modes of DESIGN.md. The zero value is ModeScroll, the default.
const (
	ModeScroll  Mode = iota // right to left across the picture
	ModeTop                 // fixed, centred at the top
	ModeBottom              // fixed, centred at the bottom
	ModeReverse             // left to right
)

var modeNames = [...]string{"scroll", "top", "bottom", "reverse"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Color is a message colour as 0xRRGGBB.
type Color uint32

// DefaultColor is the colour of a message that names none: white.
const DefaultColor Color = 0xffffff

// String returns the colour as #rrggbb.
func (c Color) String() string {
	const hex = "0123456789abcdef"
	b := [7]byte{'#'}
	for i := 0; i < 6; i++ {
		b[1+i] = hex[(c>>(20-4*i))&0xf]
	}
	return string(b[:])
}

// Message is one danmaku, validated and cleaned: Text is non-empty, trimmed, free of
// control characters and at most Limits.MaxRunes runes; every string is valid UTF-8.
type Message struct {
	Text   string
	User   string // who wrote it, as the chat platform shows the name; may be empty
	Color  Color
	Mode   Mode
	ID     string // the sender's message id, for dedupe; may be empty
	Source string // the platform, e.g. "bilibili"; may be empty
	TS     int64  // when it was written, ms since 1970 as the sender says; 0 when not given
}

// Limits bound what the parser accepts. The zero value takes the defaults.
type Limits struct {
	MaxRunes   int // text, after trimming; default DefaultMaxRunes
	MaxPayload int // bytes of one payload; default DefaultMaxPayload
}

// Defaults and fixed bounds of the parser.
const (
	DefaultMaxRunes   = 100
	DefaultMaxPayload = 64 << 10
	MaxUserRunes      = 32  // a longer user name is rejected
	MaxSourceRunes    = 32  // a longer source is rejected
	MaxIDBytes        = 128 // a longer id is rejected
	MaxBatch          = 100 // messages in one JSON array
)

func (l Limits) withDefaults() Limits {
	if l.MaxRunes <= 0 {
		l.MaxRunes = DefaultMaxRunes
	}
	if l.MaxPayload <= 0 {
		l.MaxPayload = DefaultMaxPayload
	}
	return l
}

// Cause is the kind of a rejection, short enough to count rejections by.
type Cause string

// The causes of rejections and drops.
const (
	CauseInvalid     Cause = "invalid"          // not a chat message: bad JSON, bad field
	CauseEmpty       Cause = "empty"            // no text left after cleaning
	CauseTooLong     Cause = "too long"         // text over the rune limit, or a field over its limit
	CauseOversize    Cause = "oversize"         // payload over the byte limit, or too many messages
	CauseBlocked     Cause = "blocked"          // the blocklist matched
	CauseDuplicate   Cause = "duplicate"        // an id seen before
	CauseUserRate    Cause = "user rate limit"  // the user sent too many
	CauseRate        Cause = "rate limit"       // the node takes no more for now
	CauseQueueFull   Cause = "queue full"       // too many messages wait for the stream
	CauseTooLarge    Cause = "too large"        // does not fit the SEI budget of a frame
	CauseStale       Cause = "stale"            // waited too long for a frame
	CauseHidden      Cause = "hidden"           // danmaku is switched off
	CauseStreamOff   Cause = "stream off"       // no stream to carry it
	CauseStopped     Cause = "stream stopped"   // pending when the stream stopped
	CauseNoCarrier   Cause = "no carrier"       // CAMNODE_DANMAKU names no carrier this build has
	CauseCaptionsLag Cause = "captions backlog" // shown, but not captioned: the captions are behind
)

// Rejection is why a message (or a whole payload) was not taken. Its Error is a reason a
// streamer can read; it quotes at most a few dozen bytes of the message.
type Rejection struct {
	Cause  Cause
	Reason string
}

func (r *Rejection) Error() string { return r.Reason }

// CauseOf is the Cause of a *Rejection in err's chain, or "" when there is none.
func CauseOf(err error) Cause {
	var r *Rejection
	if errors.As(err, &r) {
		return r.Cause
	}
	return ""
}

func Reject(cause Cause, format string, args ...any) *Rejection {
	return &Rejection{Cause: cause, Reason: fmt.Sprintf(format, args...)}
}

// Parse reads a chat payload: plain text (one message), one JSON object, or a JSON
// array of objects (and strings, each a plain message). A payload is JSON when its first
// non-space byte is '{', or '[' followed by '{', '"' or ']'; anything else — "[doge] 666"
// included — is plain text. It returns the messages it accepts and one *Rejection for
// each message (or whole payload) it does not; the reasons of messages in an array say
// which one ("message 2 of 3: ...").
func Parse(payload []byte, lim Limits) ([]Message, []error) {
	lim = lim.withDefaults()
	if len(payload) > lim.MaxPayload {
		return nil, []error{Reject(CauseOversize, "payload of %d bytes exceeds the %d-byte limit", len(payload), lim.MaxPayload)}
	}
	if !utf8.Valid(payload) {
		return nil, []error{Reject(CauseInvalid, "payload is not valid UTF-8")}
	}
	trimmed := bytes.TrimLeftFunc(payload, unicode.IsSpace)
	switch {
	case len(trimmed) > 0 && trimmed[0] == '{':
		var w wireMessage
		if err := json.Unmarshal(payload, &w); err != nil {
			return nil, []error{Reject(CauseInvalid, "invalid JSON: %s", jsonError(err))}
		}
		m, err := w.message(lim)
		if err != nil {
			return nil, []error{err}
		}
		return []Message{m}, nil
	case isJSONArray(trimmed):
		var raw []json.RawMessage
		if err := json.Unmarshal(payload, &raw); err != nil {
			return nil, []error{Reject(CauseInvalid, "invalid JSON array: %s", jsonError(err))}
		}
		if len(raw) == 0 {
			return nil, []error{Reject(CauseEmpty, "empty JSON array")}
		}
		if len(raw) > MaxBatch {
			return nil, []error{Reject(CauseOversize, "array of %d messages exceeds the limit of %d", len(raw), MaxBatch)}
		}
		var msgs []Message
		var errs []error
		for i, r := range raw {
			m, err := parseElement(r, lim)
			if err != nil {
				err.Reason = fmt.Sprintf("message %d of %d: %s", i+1, len(raw), err.Reason)
				errs = append(errs, err)
				continue
			}
			msgs = append(msgs, m)
		}
		return msgs, errs
	}
	text, err := cleanText(string(payload), lim.MaxRunes)
	if err != nil {
		return nil, []error{err}
	}
	return []Message{{Text: text, Color: DefaultColor}}, nil
}

func isJSONArray(b []byte) bool {
	if len(b) == 0 || b[0] != '[' {
		return false
	}
	b = bytes.TrimLeftFunc(b[1:], unicode.IsSpace)
	return len(b) > 0 && (b[0] == '{' || b[0] == '"' || b[0] == ']')
}

func parseElement(raw json.RawMessage, lim Limits) (Message, *Rejection) {
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return Message{}, Reject(CauseInvalid, "invalid JSON string")
		}
		text, err := cleanText(s, lim.MaxRunes)
		if err != nil {
			return Message{}, err
		}
		return Message{Text: text, Color: DefaultColor}, nil
	case '{':
		var w wireMessage
		if err := json.Unmarshal(raw, &w); err != nil {
			return Message{}, Reject(CauseInvalid, "invalid JSON: %s", jsonError(err))
		}
		return w.message(lim)
	}
	return Message{}, Reject(CauseInvalid, "not a message object: %s", quote(string(raw)))
}

// jsonError says what encoding/json found wrong without repeating the payload.
func jsonError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s at byte %d", se.Error(), se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s where an object was expected", te.Value)
	}
	return err.Error()
}

// wireMessage is a chat message as JSON carries it. The fields that bots send in more than
// one form (a number or a string) stay raw until message() reads them.
type wireMessage struct {
	Text   json.RawMessage `json:"text"`
	User   json.RawMessage `json:"user"`
	Color  json.RawMessage `json:"color"`
	Mode   json.RawMessage `json:"mode"`
	ID     json.RawMessage `json:"id"`
	Source json.RawMessage `json:"source"`
	TS     json.RawMessage `json:"ts"`
}

func (w *wireMessage) message(lim Limits) (Message, *Rejection) {
	m := Message{Color: DefaultColor}
	text, present, err := scalar("text", w.Text)
	if err != nil {
		return m, err
	}
	if !present {
		return m, Reject(CauseInvalid, `JSON without "text"`)
	}
	if m.Text, err = cleanText(text, lim.MaxRunes); err != nil {
		return m, err
	}
	user, _, err := scalar("user", w.User)
	if err != nil {
		return m, err
	}
	if m.User, err = cleanField("user", user, MaxUserRunes); err != nil {
		return m, err
	}
	src, _, err := scalar("source", w.Source)
	if err != nil {
		return m, err
	}
	if m.Source, err = cleanField("source", src, MaxSourceRunes); err != nil {
		return m, err
	}
	id, _, err := scalar("id", w.ID)
	if err != nil {
		return m, err
	}
	if m.ID, err = cleanField("id", id, MaxIDBytes); err != nil {
		return m, err
	}
	if len(m.ID) > MaxIDBytes {
		return m, Reject(CauseTooLong, "id of %d bytes exceeds %d", len(m.ID), MaxIDBytes)
	}
	if m.Color, err = parseColor(w.Color); err != nil {
		return m, err
	}
	if m.Mode, err = parseMode(w.Mode); err != nil {
		return m, err
	}
	if m.TS, err = parseTS(w.TS); err != nil {
		return m, err
	}
	return m, nil
}

// scalar reads a JSON string or number as text; null or absent is not present.
func scalar(field string, raw json.RawMessage) (s string, present bool, err *Rejection) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false, nil
	}
	switch c := raw[0]; {
	case c == '"' && bytes.IndexByte(raw, '\\') < 0 && len(raw) >= 2:
		// Without escapes a JSON string (already checked by the decoder) is its bytes.
		return string(raw[1 : len(raw)-1]), true, nil
	case c == '"':
		if e := json.Unmarshal(raw, &s); e != nil {
			return "", false, Reject(CauseInvalid, "%s: invalid JSON string", field)
		}
		return s, true, nil
	case c == '-' || c >= '0' && c <= '9':
		return string(raw), true, nil
	}
	return "", false, Reject(CauseInvalid, "%s must be a string, not %s", field, quote(string(raw)))
}

// cleanText trims the text, turns line breaks and tabs into spaces, drops every other
// control and bidirectional-override character, squeezes runs of spaces, and checks what
// is left against the limits.
func cleanText(s string, maxRunes int) (string, *Rejection) {
	if !utf8.ValidString(s) {
		return "", Reject(CauseInvalid, "text is not valid UTF-8")
	}
	s = clean(s)
	if strings.TrimFunc(skeleton(s), unicode.IsSpace) == "" { // zero-width characters only show nothing either
		return "", Reject(CauseEmpty, "empty text")
	}
	if n := utf8.RuneCountInString(s); n > maxRunes {
		return "", Reject(CauseTooLong, "text of %d characters exceeds the limit of %d", n, maxRunes)
	}
	return s, nil
}

// cleanField cleans a short field like the text; empty is allowed.
func cleanField(field, s string, maxRunes int) (string, *Rejection) {
	if !utf8.ValidString(s) {
		return "", Reject(CauseInvalid, "%s is not valid UTF-8", field)
	}
	s = clean(s)
	if n := utf8.RuneCountInString(s); n > maxRunes {
		return "", Reject(CauseTooLong, "%s of %d characters exceeds the limit of %d", field, n, maxRunes)
	}
	return s, nil
}

func clean(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false // a space is pending: written before the next visible character
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.IsControl(r), bidiControl(r), r == utf8.RuneError:
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// bidiControl reports the embedding, override and isolate controls (U+202A-U+202E,
// U+2066-U+2069) that let a message reverse the text shown after it.
func bidiControl(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// parseColor reads "#rrggbb", a decimal integer (Bilibili) or its string form.
func parseColor(raw json.RawMessage) (Color, *Rejection) {
	s, present, err := scalar("color", raw)
	if err != nil || !present || s == "" {
		return DefaultColor, err
	}
	bad := Reject(CauseInvalid, "color %s: use #rrggbb or a number from 0 to 16777215", quote(s))
	if rest, ok := strings.CutPrefix(s, "#"); ok {
		if len(rest) != 6 {
			return 0, bad
		}
		v, e := strconv.ParseUint(rest, 16, 32)
		if e != nil {
			return 0, bad
		}
		return Color(v), nil
	}
	v, e := strconv.ParseUint(s, 10, 32)
	if e != nil || v > 0xffffff {
		return 0, bad
	}
	return Color(v), nil
}

// parseMode reads a mode name (any case) or Bilibili's numbers: 1-3 scroll, 4 bottom,
// 5 top, 6 reverse.
func parseMode(raw json.RawMessage) (Mode, *Rejection) {
	s, present, err := scalar("mode", raw)
	if err != nil || !present || s == "" {
		return ModeScroll, err
	}
	switch strings.ToLower(s) {
	case "scroll", "1", "2", "3":
		return ModeScroll, nil
	case "top", "5":
		return ModeTop, nil
	case "bottom", "4":
		return ModeBottom, nil
	case "reverse", "6":
		return ModeReverse, nil
	}
	return 0, Reject(CauseInvalid, "unknown mode %s (use scroll, top, bottom or reverse)", quote(s))
}

// parseTS reads milliseconds since 1970 as a JSON number or numeric string.
func parseTS(raw json.RawMessage) (int64, *Rejection) {
	s, present, err := scalar("ts", raw)
	if err != nil || !present || s == "" {
		return 0, err
	}
	if v, e := strconv.ParseInt(s, 10, 64); e == nil && v >= 0 {
		return v, nil
	}
	// JavaScript and Python bots may send a float; whole milliseconds are enough.
	if f, e := strconv.ParseFloat(s, 64); e == nil && f >= 0 && f < 1<<53 {
		return int64(f), nil
	}
	return 0, Reject(CauseInvalid, "ts %s: want milliseconds since 1970", quote(s))
}

// quote returns s in Go quotes, cut to 32 bytes at a character boundary: enough to
// recognise a value, never an echo of a large payload.
func quote(s string) string {
	const max = 32
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}
