// Package twitch reads a Twitch channel's chat over IRC (TLS, plain TCP or WebSocket), as an
// anonymous justinfan viewer or with an OAuth token, and maps its messages onto chat.Message.
package twitch

import (
	"errors"
	"strconv"
	"strings"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/chat/platform"
)

// Line is one IRC message (RFC 1459 with IRCv3 message tags):
//
//	[@tag=value;tag2=value2 ][:prefix ]COMMAND[ param...][ :trailing]
type Line struct {
	Tags    map[string]string // unescaped values; nil without tags
	Prefix  string            // "nick!user@host" or a server name; may be empty
	Command string            // upper case: PRIVMSG, PING, 001...
	Params  []string          // the trailing parameter last, without its ':'
}

// MaxLine is the longest line the reader takes: IRCv3 allows 8191 bytes of tags plus 512
// of message.
const MaxLine = 8191 + 512

var errEmptyLine = errors.New("irc: empty line")

// ParseLine reads one IRC line, without its CR LF.
func ParseLine(s string) (Line, error) {
	var l Line
	s = strings.TrimRight(s, "\r\n")
	if len(s) > MaxLine {
		return l, errors.New("irc: line of " + strconv.Itoa(len(s)) + " bytes is too long")
	}
	if strings.HasPrefix(s, "@") {
		var tags string
		tags, s, _ = strings.Cut(s[1:], " ")
		l.Tags = parseTags(tags)
		s = strings.TrimLeft(s, " ")
	}
	if strings.HasPrefix(s, ":") {
		l.Prefix, s, _ = strings.Cut(s[1:], " ")
		s = strings.TrimLeft(s, " ")
	}
	l.Command, s, _ = strings.Cut(s, " ")
	if l.Command == "" {
		return l, errEmptyLine
	}
	l.Command = strings.ToUpper(l.Command)
	for s != "" {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			break
		}
		if s[0] == ':' {
			l.Params = append(l.Params, s[1:])
			break
		}
		var p string
		p, s, _ = strings.Cut(s, " ")
		l.Params = append(l.Params, p)
	}
	return l, nil
}

// parseTags reads "a=1;b=x\sy;c" into a map, unescaping the values (IRCv3: \: is ';',
// \s space, \\ '\', \r CR, \n LF; any other escaped character stands for itself).
func parseTags(s string) map[string]string {
	tags := make(map[string]string)
	for _, kv := range strings.Split(s, ";") {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			continue
		}
		tags[k] = unescapeTag(v)
	}
	return tags
}

func unescapeTag(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(v) {
			break // a lone trailing backslash is dropped
		}
		switch v[i] {
		case ':':
			b.WriteByte(';')
		case 's':
			b.WriteByte(' ')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

// Nick is the nick of the prefix "nick!user@host".
func (l Line) Nick() string {
	nick, _, _ := strings.Cut(l.Prefix, "!")
	return nick
}

// Message maps a PRIVMSG to a chat message: the display-name tag (else the nick) as the
// user, the color tag (#RRGGBB, empty when the user never chose one), the id tag for
// de-duplication, tmi-sent-ts as the time, and a /me action as its text. ok is false for
// any other line.
func (l Line) Message() (m chat.Message, ok bool) {
	if l.Command != "PRIVMSG" || len(l.Params) < 2 {
		return m, false
	}
	text := l.Params[len(l.Params)-1]
	if rest, isAction := strings.CutPrefix(text, "\x01ACTION "); isAction {
		text = strings.TrimSuffix(rest, "\x01")
	} else if strings.HasPrefix(text, "\x01") {
		return m, false // another CTCP request: not chat
	}
	m = chat.Message{Text: text, User: l.Tags["display-name"], Color: chat.DefaultColor, ID: l.Tags["id"], Source: platform.Twitch}
	if m.User == "" {
		m.User = l.Nick()
	}
	if c, found := strings.CutPrefix(l.Tags["color"], "#"); found && len(c) == 6 {
		if v, err := strconv.ParseUint(c, 16, 32); err == nil {
			m.Color = chat.Color(v)
		}
	}
	if ts, err := strconv.ParseInt(l.Tags["tmi-sent-ts"], 10, 64); err == nil && ts > 0 {
		m.TS = ts
	}
	return m, true
}
