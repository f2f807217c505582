// Package douyu reads a Douyu room's danmaku: the STT text serialisation, its frames over
// the danmaku WebSocket, and the reader.
package douyu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// STT is Douyu's serialisation: "key@=value/key2@=value2/", where '@' in a key or value is
// written "@A" and '/' is written "@S" (a nested STT value is escaped the same way, once
// more). Unmarshal reads one message into a map.
func Unmarshal(s string) (map[string]string, error) {
	m := make(map[string]string)
	for _, item := range strings.Split(s, "/") {
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "@=")
		if !ok {
			return m, fmt.Errorf("douyu: STT item %q without @=", clip(item))
		}
		m[unescape(k)] = unescape(v)
	}
	if m["type"] == "" {
		return m, errors.New("douyu: STT message without type")
	}
	return m, nil
}

// Marshal writes key/value pairs, in order, as one STT message.
func Marshal(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(escape(kv[i]))
		b.WriteString("@=")
		b.WriteString(escape(kv[i+1]))
		b.WriteByte('/')
	}
	return b.String()
}

var (
	escaper   = strings.NewReplacer("@", "@A", "/", "@S")
	unescaper = strings.NewReplacer("@A", "@", "@S", "/")
)

func escape(s string) string   { return escaper.Replace(s) }
func unescape(s string) string { return unescaper.Replace(s) }

func clip(s string) string {
	if len(s) > 32 {
		return strings.ToValidUTF8(s[:32], "") + "…"
	}
	return s
}

// A frame of the danmaku WebSocket, little-endian:
//
//	0  uint32 length of what follows this field (8 + body + 1)
//	4  uint32 the same length again
//	8  uint16 type: 689 client to server, 690 server to client
//	10 uint8  encryption, 0
//	11 uint8  reserved, 0
//	12 body, STT text, then a NUL byte
//
// One WebSocket message may hold several frames.
const (
	TypeClient = 689
	TypeServer = 690
	headerLen  = 12
	// MaxFrame bounds one frame's length field.
	MaxFrame = 1 << 20
)

// AppendFrame appends body as one frame of type typ.
func AppendFrame(dst []byte, typ uint16, body string) []byte {
	n := uint32(8 + len(body) + 1)
	dst = binary.LittleEndian.AppendUint32(dst, n)
	dst = binary.LittleEndian.AppendUint32(dst, n)
	dst = binary.LittleEndian.AppendUint16(dst, typ)
	dst = append(dst, 0, 0)
	dst = append(dst, body...)
	return append(dst, 0)
}

// Frames splits a WebSocket message into the STT bodies of its frames (without the NUL).
// It returns what it read before an error too.
func Frames(b []byte) ([]string, error) {
	var out []string
	for len(b) > 0 {
		if len(b) < headerLen {
			return out, errors.New("douyu: truncated frame")
		}
		n1, n2 := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
		if n1 != n2 || n1 < 9 || n1 > MaxFrame || uint64(n1)+4 > uint64(len(b)) {
			return out, fmt.Errorf("douyu: frame lengths %d and %d, %d bytes left", n1, n2, len(b))
		}
		body := b[headerLen : 4+n1]
		out = append(out, strings.TrimRight(string(body), "\x00"))
		b = b[4+n1:]
	}
	return out, nil
}
