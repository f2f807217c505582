// Package bilibili reads a Bilibili live room's danmaku from its WebSocket: the packet
// codec, the room's messages mapped onto chat.Message, the WBI-signed getDanmuInfo call that
// names the web room's server and its key, the reader, and the second way in, the
// open-live API's signed start, heartbeat and end (openlive.go).
package bilibili

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/andybalholm/brotli"
)

// A packet of the danmaku WebSocket, all fields big-endian:
//
//	0  uint32 packet length, header included
//	4  uint16 header length, 16
//	6  uint16 protocol version: 0 JSON, 1 int32 (the popularity of a heartbeat reply),
//	          2 zlib and 3 brotli (the body is more packets, compressed)
//	8  uint32 operation
//	12 uint32 sequence (1 from clients; servers send 0 or 1)
//	16 body
//
// One WebSocket message holds one or more packets.
const HeaderLen = 16

// Protocol versions.
const (
	VerJSON   = 0
	VerInt32  = 1
	VerZlib   = 2
	VerBrotli = 3
)

// Operations.
const (
	OpHeartbeat      = 2 // client, every 30 s
	OpHeartbeatReply = 3 // server: int32 popularity
	OpMessage        = 5 // server: a JSON command (DANMU_MSG, SUPER_CHAT_MESSAGE, ...)
	OpAuth           = 7 // client: the first packet, JSON
	OpAuthReply      = 8 // server: {"code":0}
)

// Limits of the decoder: a frame, and what a compressed body may inflate to.
const (
	MaxFrame    = 1 << 20
	MaxInflated = 4 << 20
)

// Packet is one decoded packet; Body is uncompressed.
type Packet struct {
	Ver  uint16
	Op   uint32
	Seq  uint32
	Body []byte
}

// AppendPacket appends one packet of op with body to dst.
func AppendPacket(dst []byte, ver uint16, op uint32, body []byte) []byte {
	var h [HeaderLen]byte
	binary.BigEndian.PutUint32(h[0:], uint32(HeaderLen+len(body)))
	binary.BigEndian.PutUint16(h[4:], HeaderLen)
	binary.BigEndian.PutUint16(h[6:], ver)
	binary.BigEndian.PutUint32(h[8:], op)
	binary.BigEndian.PutUint32(h[12:], 1)
	dst = append(dst, h[:]...)
	return append(dst, body...)
}

var errShort = errors.New("bilibili: truncated packet")

// Decode splits a WebSocket message into its packets, inflating zlib (2) and brotli (3)
// bodies into the packets they hold (one level deep, as the server sends them). It
// returns what it decoded before an error too.
func Decode(frame []byte) ([]Packet, error) {
	if len(frame) > MaxFrame {
		return nil, fmt.Errorf("bilibili: frame of %d bytes exceeds %d", len(frame), MaxFrame)
	}
	return decode(frame, nil, true)
}

func decode(b []byte, out []Packet, nest bool) ([]Packet, error) {
	for len(b) > 0 {
		if len(b) < HeaderLen {
			return out, errShort
		}
		size := binary.BigEndian.Uint32(b[0:])
		hlen := binary.BigEndian.Uint16(b[4:])
		if size < uint32(hlen) || hlen < HeaderLen || uint64(size) > uint64(len(b)) {
			return out, fmt.Errorf("bilibili: packet length %d, header length %d, %d bytes left", size, hlen, len(b))
		}
		p := Packet{Ver: binary.BigEndian.Uint16(b[6:]), Op: binary.BigEndian.Uint32(b[8:]), Seq: binary.BigEndian.Uint32(b[12:]), Body: b[hlen:size]}
		b = b[size:]
		if p.Ver != VerZlib && p.Ver != VerBrotli {
			out = append(out, p)
			continue
		}
		if !nest {
			return out, errors.New("bilibili: compressed packet inside a compressed packet")
		}
		inner, err := inflate(p.Ver, p.Body)
		if err != nil {
			return out, err
		}
		if out, err = decode(inner, out, false); err != nil {
			return out, err
		}
	}
	return out, nil
}

func inflate(ver uint16, body []byte) ([]byte, error) {
	var r io.Reader
	if ver == VerZlib {
		zr, err := zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("bilibili: zlib body: %w", err)
		}
		defer zr.Close()
		r = zr
	} else {
		r = brotli.NewReader(bytes.NewReader(body))
	}
	out, err := io.ReadAll(io.LimitReader(r, MaxInflated+1))
	if err != nil {
		return nil, fmt.Errorf("bilibili: inflate body (version %d): %w", ver, err)
	}
	if len(out) > MaxInflated {
		return nil, fmt.Errorf("bilibili: body inflates beyond %d bytes", MaxInflated)
	}
	return out, nil
}

// Compress wraps packets (as AppendPacket writes them) into one packet of version ver
// (VerZlib or VerBrotli), as the server sends them: for stand-in servers and tests.
func Compress(ver uint16, packets []byte) []byte {
	var buf bytes.Buffer
	if ver == VerZlib {
		w := zlib.NewWriter(&buf)
		w.Write(packets)
		w.Close()
	} else {
		w := brotli.NewWriter(&buf)
		w.Write(packets)
		w.Close()
	}
	return AppendPacket(nil, ver, OpMessage, buf.Bytes())
}
