// Package sei writes and reads H.264 SEI NAL units: camnode's chat in user_data_unregistered, and ITU-T T.35 registered user data such as captions.
package sei

import (
	"errors"
	"fmt"

	"github.com/camnode/camnode/media/h264"
)

// SEI payload types (H.264 Annex D).
const (
	TypeRegisteredT35 = 4 // user_data_registered_itu_t_t35: country code, provider, data
	TypeUnregistered  = 5 // user_data_unregistered: a 16-byte UUID, then any bytes
)

// UUID is the uuid_iso_iec_11578 that starts a user_data_unregistered payload.
type UUID [16]byte

// String formats the UUID as 8-4-4-4-12 lower-case hex digits.
func (u UUID) String() string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// CamnodeUUID marks camnode's chat messages: every user_data_unregistered payload that
// starts with it holds one chat message as compact JSON (UTF-8) after the 16 bytes. It is
// 05254fc5-2ab8-4b62-b88b-cb5b7d5ef5ed (a random version 4 UUID, fixed for good).
var CamnodeUUID = UUID{0x05, 0x25, 0x4f, 0xc5, 0x2a, 0xb8, 0x4b, 0x62, 0xb8, 0x8b, 0xcb, 0x5b, 0x7d, 0x5e, 0xf5, 0xed}

// AppendMessageHeader appends the header of one sei_message to an SEI RBSP: the payload
// type and then the payload size, each written as a run of 0xFF bytes (255 each) and a
// final byte with the remainder (H.264 7.3.2.3.1). size bytes of payload must follow.
func AppendMessageHeader(rbsp []byte, typ, size int) []byte {
	rbsp = appendFF(rbsp, typ)
	return appendFF(rbsp, size)
}

func appendFF(dst []byte, v int) []byte {
	for ; v >= 255; v -= 255 {
		dst = append(dst, 0xff)
	}
	return append(dst, byte(v))
}

// AppendUnregistered appends a user_data_unregistered sei_message to an SEI RBSP:
//
//	05 | size | uuid (16 bytes) | data
func AppendUnregistered(rbsp []byte, uuid UUID, data []byte) []byte {
	rbsp = AppendMessageHeader(rbsp, TypeUnregistered, len(uuid)+len(data))
	rbsp = append(rbsp, uuid[:]...)
	return append(rbsp, data...)
}

// AppendMessage appends one sei_message with its payload to an SEI RBSP.
func AppendMessage(rbsp []byte, typ int, payload []byte) []byte {
	rbsp = AppendMessageHeader(rbsp, typ, len(payload))
	return append(rbsp, payload...)
}

// AppendNAL appends an SEI NAL unit (without start code) carrying the sei_messages in
// rbsp: the header byte 0x06 (nal_ref_idc 0, type 6), then the messages and the
// rbsp_trailing_bits 0x80 with emulation prevention applied. It writes the 0x80 into
// rbsp's spare capacity (growing it if there is none), so rbsp[len(rbsp)] is scratch.
func AppendNAL(dst, rbsp []byte) []byte {
	dst = append(dst, h264.TypeSEI)
	// The trailing bits go through emulation prevention with the messages: 00 00 before
	// the final 80 needs no escape, and an escape there (00 00 03 80) would be invalid.
	return h264.AppendEmulationPrevention(dst, append(rbsp, 0x80))
}

// Message is one sei_message of an SEI NAL unit.
type Message struct {
	Type    int
	Payload []byte
}

// Unregistered splits a user_data_unregistered message into its UUID and data; ok is false
// for another type or a payload shorter than a UUID.
func (m Message) Unregistered() (uuid UUID, data []byte, ok bool) {
	if m.Type != TypeUnregistered || len(m.Payload) < len(uuid) {
		return uuid, nil, false
	}
	copy(uuid[:], m.Payload)
	return uuid, m.Payload[len(uuid):], true
}

// Errors of Parse.
var (
	ErrNotSEI    = errors.New("sei: not an SEI NAL unit")
	ErrTruncated = errors.New("sei: message runs past the end of the NAL unit")
)

// Parse reads the sei_messages of an SEI NAL unit given without start code (header byte
// first). Payloads are copies, free of emulation-prevention bytes. It stops at the
// rbsp_trailing_bits (a byte 0x80 that ends the unit).
func Parse(nalu []byte) ([]Message, error) {
	if len(nalu) < 1 || h264.NALType(nalu) != h264.TypeSEI {
		return nil, ErrNotSEI
	}
	rbsp := h264.RemoveEmulationPrevention(nil, nalu[1:])
	var msgs []Message
	for off := 0; ; {
		if off >= len(rbsp) {
			return msgs, nil // no trailing bits: tolerated
		}
		if off == len(rbsp)-1 && rbsp[off] == 0x80 {
			return msgs, nil
		}
		typ, n, ok := readFF(rbsp[off:])
		if !ok {
			return msgs, ErrTruncated
		}
		off += n
		size, n, ok := readFF(rbsp[off:])
		if !ok {
			return msgs, ErrTruncated
		}
		off += n
		if size > len(rbsp)-off {
			return msgs, fmt.Errorf("%w: payload type %d of %d bytes, %d left", ErrTruncated, typ, size, len(rbsp)-off)
		}
		msgs = append(msgs, Message{Type: typ, Payload: rbsp[off : off+size : off+size]})
		off += size
	}
}

// readFF reads a value written as 0xFF bytes plus a last byte below 0xFF.
func readFF(b []byte) (v, n int, ok bool) {
	for n < len(b) {
		c := b[n]
		n++
		v += int(c)
		if c != 0xff {
			return v, n, true
		}
		if v > 1<<24 {
			return 0, 0, false // longer than any NAL unit
		}
	}
	return 0, 0, false
}
