package flv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// AMF0 type markers (the byte before every value).
const (
	AMFNumber      byte = 0x00 // float64, 8 bytes BE
	AMFBoolean     byte = 0x01 // 1 byte
	AMFString      byte = 0x02 // u16 BE length + UTF-8
	AMFObject      byte = 0x03 // properties, then 00 00 09
	AMFNull        byte = 0x05
	AMFUndefined   byte = 0x06
	AMFReference   byte = 0x07 // u16 BE index
	AMFECMAArray   byte = 0x08 // u32 BE count hint, then properties, then 00 00 09
	AMFObjectEnd   byte = 0x09
	AMFStrictArray byte = 0x0a // u32 BE count, then that many values
	AMFDate        byte = 0x0b // float64 ms since epoch + s16 time zone
	AMFLongString  byte = 0x0c // u32 BE length + UTF-8
	AMFXMLDocument byte = 0x0f // u32 BE length + UTF-8
	AMFTypedObject byte = 0x10 // u16 class name, then properties, then 00 00 09
)

// AppendAMFNumber appends 0x00 and the float64 big-endian.
func AppendAMFNumber(dst []byte, v float64) []byte {
	dst = append(dst, AMFNumber)
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(v))
}

// AppendAMFBoolean appends 0x01 and 0x01 (true) or 0x00 (false).
func AppendAMFBoolean(dst []byte, v bool) []byte {
	b := byte(0)
	if v {
		b = 1
	}
	return append(dst, AMFBoolean, b)
}

// AppendAMFString appends 0x02, a u16 length and the bytes; a string of 64 KiB or more is
// written as a long string: 0x0c, u32 length, bytes.
func AppendAMFString(dst []byte, s string) []byte {
	if len(s) > math.MaxUint16 {
		dst = append(dst, AMFLongString)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
		return append(dst, s...)
	}
	dst = append(dst, AMFString)
	return appendAMFKey(dst, s)
}

// AppendAMFNull appends 0x05.
func AppendAMFNull(dst []byte) []byte { return append(dst, AMFNull) }

// AppendAMFObjectStart appends 0x03; properties (AppendAMFKey + a value) and
// AppendAMFObjectEnd follow.
func AppendAMFObjectStart(dst []byte) []byte { return append(dst, AMFObject) }

// AppendAMFECMAArrayStart appends 0x08 and the u32 count of properties that follow; readers
// take the count as a hint and stop at the end marker, which AppendAMFObjectEnd writes.
func AppendAMFECMAArrayStart(dst []byte, count int) []byte {
	dst = append(dst, AMFECMAArray)
	return binary.BigEndian.AppendUint32(dst, uint32(count))
}

// AppendAMFKey appends a property name inside an object or ECMA array: u16 length + bytes,
// with no type marker. Names longer than 65535 bytes are cut.
func AppendAMFKey(dst []byte, key string) []byte { return appendAMFKey(dst, key) }

func appendAMFKey(dst []byte, s string) []byte {
	s = s[:min(len(s), math.MaxUint16)]
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// AppendAMFObjectEnd appends the end of an object or ECMA array: an empty key and 0x09.
func AppendAMFObjectEnd(dst []byte) []byte { return append(dst, 0, 0, AMFObjectEnd) }

// AMFProperty is one named value of an AMF0 object or ECMA array.
type AMFProperty struct {
	Key   string
	Value any
}

// AMFMap is a decoded AMF0 object or ECMA array, in wire order.
type AMFMap []AMFProperty

// Get returns the value of the first property named key, or nil.
func (m AMFMap) Get(key string) any {
	for _, p := range m {
		if p.Key == key {
			return p.Value
		}
	}
	return nil
}

// String returns the property as a string, or "" when missing or of another type.
func (m AMFMap) String(key string) string {
	s, _ := m.Get(key).(string)
	return s
}

// Number returns the property as a number, and whether it was one.
func (m AMFMap) Number(key string) (float64, bool) {
	f, ok := m.Get(key).(float64)
	return f, ok
}

// maxAMFDepth bounds nesting so hostile input cannot exhaust the stack.
const maxAMFDepth = 32

// ErrAMFShort is returned when AMF0 data ends inside a value.
var ErrAMFShort = errors.New("flv: AMF0 data ends inside a value")

// DecodeAMF decodes one AMF0 value from the start of b and returns it with the number of
// bytes it took. Values map to Go as: number and date -> float64 (a date's time zone is
// dropped), boolean -> bool, string, long string and XML -> string, null and undefined ->
// nil, object, typed object and ECMA array -> AMFMap, strict array -> []any. References
// (AMF0 0x07) and AMF3 data are not supported and give an error.
func DecodeAMF(b []byte) (any, int, error) {
	return decodeAMF(b, 0)
}

// DecodeAMFValues decodes all values in b, as the body of a command or data message holds
// them one after another.
func DecodeAMFValues(b []byte) ([]any, error) {
	var vals []any
	for off := 0; off < len(b); {
		v, n, err := decodeAMF(b[off:], 0)
		if err != nil {
			return vals, fmt.Errorf("value %d at offset %d: %w", len(vals), off, err)
		}
		vals = append(vals, v)
		off += n
	}
	return vals, nil
}

func decodeAMF(b []byte, depth int) (any, int, error) {
	if len(b) < 1 {
		return nil, 0, ErrAMFShort
	}
	if depth > maxAMFDepth {
		return nil, 0, fmt.Errorf("flv: AMF0 nesting deeper than %d", maxAMFDepth)
	}
	switch b[0] {
	case AMFNumber:
		if len(b) < 9 {
			return nil, 0, ErrAMFShort
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b[1:])), 9, nil
	case AMFBoolean:
		if len(b) < 2 {
			return nil, 0, ErrAMFShort
		}
		return b[1] != 0, 2, nil
	case AMFString:
		s, n, err := decodeShortString(b[1:])
		return s, 1 + n, err
	case AMFLongString, AMFXMLDocument:
		if len(b) < 5 {
			return nil, 0, ErrAMFShort
		}
		n := binary.BigEndian.Uint32(b[1:])
		if uint64(n) > uint64(len(b)-5) {
			return nil, 0, ErrAMFShort
		}
		return string(b[5 : 5+n]), 5 + int(n), nil
	case AMFNull, AMFUndefined:
		return nil, 1, nil
	case AMFObject:
		m, n, err := decodeProperties(b[1:], depth)
		return m, 1 + n, err
	case AMFTypedObject:
		_, k, err := decodeShortString(b[1:])
		if err != nil {
			return nil, 0, err
		}
		m, n, err := decodeProperties(b[1+k:], depth)
		return m, 1 + k + n, err
	case AMFECMAArray:
		if len(b) < 5 {
			return nil, 0, ErrAMFShort
		}
		m, n, err := decodeProperties(b[5:], depth)
		return m, 5 + n, err
	case AMFStrictArray:
		if len(b) < 5 {
			return nil, 0, ErrAMFShort
		}
		count := binary.BigEndian.Uint32(b[1:])
		// Every value takes at least one byte: a count beyond the input is corrupt, and
		// checking it first keeps the allocation in proportion to the input.
		if uint64(count) > uint64(len(b)-5) {
			return nil, 0, ErrAMFShort
		}
		arr := make([]any, 0, count)
		off := 5
		for range count {
			v, n, err := decodeAMF(b[off:], depth+1)
			if err != nil {
				return nil, 0, err
			}
			arr = append(arr, v)
			off += n
		}
		return arr, off, nil
	case AMFDate:
		if len(b) < 11 {
			return nil, 0, ErrAMFShort
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b[1:])), 11, nil
	default:
		return nil, 0, fmt.Errorf("flv: unsupported AMF0 type marker 0x%02x", b[0])
	}
}

func decodeShortString(b []byte) (string, int, error) {
	if len(b) < 2 {
		return "", 0, ErrAMFShort
	}
	n := int(binary.BigEndian.Uint16(b))
	if n > len(b)-2 {
		return "", 0, ErrAMFShort
	}
	return string(b[2 : 2+n]), 2 + n, nil
}

// decodeProperties reads key/value pairs up to the 00 00 09 end marker.
func decodeProperties(b []byte, depth int) (AMFMap, int, error) {
	m := AMFMap{}
	off := 0
	for {
		key, n, err := decodeShortString(b[off:])
		if err != nil {
			return nil, 0, err
		}
		off += n
		// An empty key followed by 0x09 ends the object; an empty key followed by any
		// other marker is a property with an empty name.
		if key == "" && off < len(b) && b[off] == AMFObjectEnd {
			return m, off + 1, nil
		}
		v, n, err := decodeAMF(b[off:], depth+1)
		if err != nil {
			return nil, 0, err
		}
		off += n
		m = append(m, AMFProperty{Key: key, Value: v})
	}
}
