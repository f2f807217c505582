package chat

import (
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends the message as compact JSON, the form the SEI carrier sends:
//
//	{"text":"666","user":"alice","color":"#ff6699","mode":"scroll","id":"b1f3","source":"bilibili","ts":1732450000123}
//
// text, color and mode are always present; user, id, source and ts only when set. Strings
// are UTF-8 as they are (not \u-escaped), with only '"', '\' and control characters
// escaped, so the JSON is as short as the text allows.
func (m *Message) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"text":`...)
	dst = appendJSONString(dst, m.Text)
	if m.User != "" {
		dst = append(dst, `,"user":`...)
		dst = appendJSONString(dst, m.User)
	}
	dst = append(dst, `,"color":"`...)
	dst = append(dst, m.Color.String()...)
	dst = append(dst, `","mode":"`...)
	dst = append(dst, m.Mode.String()...)
	dst = append(dst, '"')
	if m.ID != "" {
		dst = append(dst, `,"id":`...)
		dst = appendJSONString(dst, m.ID)
	}
	if m.Source != "" {
		dst = append(dst, `,"source":`...)
		dst = appendJSONString(dst, m.Source)
	}
	if m.TS != 0 {
		dst = append(dst, `,"ts":`...)
		dst = strconv.AppendInt(dst, m.TS, 10)
	}
	return append(dst, '}')
}

func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				dst = append(dst, `\ufffd`...)
			case r == '\u2028' || r == '\u2029': // valid JSON, but not in JavaScript strings
				dst = append(dst, `\u202`...)
				dst = append(dst, hex[r&0xf])
			default:
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
		i++
	}
	return append(dst, '"')
}

// Caption is the line the cc carrier shows: "user: text", or the text alone.
func (m *Message) Caption() string {
	if m.User == "" {
		return m.Text
	}
	return m.User + ": " + m.Text
}
