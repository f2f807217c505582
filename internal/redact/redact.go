// Package redact hides secrets in what camnode shows (log lines, events, state, errors) by
// structure: the secret parts of every URL in a text, and known secrets where they stand.
package redact

import (
	"net"
	"strings"
)

// Mask is what a hidden secret shows as.
const Mask = "****"

// MinLen is the shortest secret hidden wherever it occurs in free text. A shorter one would
// wreck ordinary words (a key "x" in "context deadline exceeded"); see Echo for where a
// short one is hidden too.
const MinLen = 8

// Query hides every value of a URL query (without its '?'). A parameter name is kept only
// when it reads as one (letters, '_' and '-', at most 20), so that a user can tell which
// URL it is; anything else, a bare token included, is hidden whole.
func Query(q string) string {
	parts := strings.Split(q, "&")
	for i, kv := range parts {
		name, _, ok := strings.Cut(kv, "=")
		if ok && isParamName(name) {
			parts[i] = name + "=" + Mask
		} else if kv != "" {
			parts[i] = Mask
		}
	}
	return strings.Join(parts, "&")
}

func isParamName(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-' && i > 0) {
			return false
		}
	}
	return true
}

// urlEnd are the bytes that end a URL in free text; trailing holds the punctuation that
// stays outside it when it ends one.
const (
	urlEnd   = " \t\r\n\v\f\"'`<>"
	trailing = ".,;:!?)]}"
)

// URLs hides, in every URL of free text whatever its scheme (rtsp://, srt://, http://,
// mqtt://...), the password of its user info (user:****@; a user without a password, which
// may be a token, is hidden whole), its query values and its fragment. The rest of the text,
// the host and the path stay as they are. (rtmp.RedactText also hides an RTMP stream key,
// which is the last element of the path.)
func URLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; ; {
		j := strings.Index(s[i:], "://")
		if j < 0 {
			break
		}
		j += i
		k := j
		for k > 0 && schemeByte(s[k-1]) {
			k--
		}
		end := len(s)
		if e := strings.IndexAny(s[j+3:], urlEnd); e >= 0 {
			end = j + 3 + e
		}
		for end > j+3 && strings.IndexByte(trailing, s[end-1]) >= 0 {
			end--
		}
		if k < j {
			b.WriteString(s[last:k])
			b.WriteString(s[k : j+3])
			b.WriteString(afterScheme(s[j+3 : end]))
			last = end
		}
		i = max(end, j+3)
	}
	b.WriteString(s[last:])
	return b.String()
}

func schemeByte(c byte) bool {
	return c|0x20 >= 'a' && c|0x20 <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

// afterScheme redacts what follows "scheme://": authority, path, query, fragment.
func afterScheme(rest string) string {
	rest, _, hasFrag := strings.Cut(rest, "#")
	rest, query, hasQuery := strings.Cut(rest, "?")
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		user, _, hasPassword := strings.Cut(authority[:at], ":")
		if hasPassword && user != "" {
			authority = user + ":" + Mask + authority[at:]
		} else {
			authority = Mask + authority[at:]
		}
	}
	out := authority + path
	if hasQuery {
		out += "?" + Query(query)
	}
	if hasFrag {
		out += "#" + Mask
	}
	return out
}

// Secrets hides each secret of MinLen bytes or more wherever it occurs in s.
func Secrets(s string, secrets []string) string {
	for _, secret := range secrets {
		if len(secret) >= MinLen {
			s = strings.ReplaceAll(s, secret, Mask)
		}
	}
	return s
}

// Echo hides secrets in a text a peer wrote, which may echo one back (an ingest's status
// description naming the stream key: "stream abc! busy", "key=abc&x"): one of MinLen bytes
// or more wherever it occurs, a shorter one wherever no letter, digit or '_' touches it,
// except inside an IP address ("1" stays in "127.0.0.1:1935").
func Echo(s string, secrets []string) string {
	s = Secrets(s, secrets)
	for _, w := range secrets {
		if w != "" && len(w) < MinLen {
			s = replaceWord(s, w)
		}
	}
	return s
}

func replaceWord(s, w string) string {
	var b strings.Builder
	from := 0 // s[:from] is written to b or decided
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			break
		}
		j += i
		end := j + len(w)
		if (j == 0 || !wordByte(s[j-1])) && (end == len(s) || !wordByte(s[end])) && !inIPAddress(s, j, end) {
			b.WriteString(s[from:j])
			b.WriteString(Mask)
			from = end
			i = end
		} else {
			i = j + 1
		}
	}
	if from == 0 {
		return s
	}
	b.WriteString(s[from:])
	return b.String()
}

func wordByte(c byte) bool {
	return c|0x20 >= 'a' && c|0x20 <= 'z' || c >= '0' && c <= '9' || c == '_' || c >= 0x80
}

// inIPAddress reports whether s[i:end] is part of an IP address (with or without a port).
func inIPAddress(s string, i, end int) bool {
	addrByte := func(c byte) bool {
		return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f' || strings.IndexByte(".:[]", c) >= 0
	}
	for i > 0 && addrByte(s[i-1]) {
		i--
	}
	for end < len(s) && addrByte(s[end]) {
		end++
	}
	tok := strings.TrimRight(s[i:end], ".:") // a sentence may end after it
	if net.ParseIP(strings.Trim(tok, "[]")) != nil {
		return true
	}
	host, _, err := net.SplitHostPort(tok)
	return err == nil && net.ParseIP(host) != nil
}
