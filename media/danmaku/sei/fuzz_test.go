package sei

import (
	"bytes"
	"testing"
)

// FuzzSEI builds an SEI NAL unit from fuzzed messages, checks it holds no start code
// emulation, and reads back exactly the messages that went in; Parse must also survive
// the raw input as a NAL unit of its own.
func FuzzSEI(f *testing.F) {
	f.Add(5, []byte(`{"text":"666"}`), 4, []byte{0xb5, 0, 0x31, 'G', 'A', '9', '4', 3, 0xc2, 0xff, 0xfc, 0x94, 0x2c, 0xff})
	f.Add(0, []byte{0, 0, 0}, 255, []byte{0, 0, 3, 0, 0, 1})
	f.Add(300, bytes.Repeat([]byte{0}, 300), 1, []byte{})
	f.Fuzz(func(t *testing.T, typ1 int, p1 []byte, typ2 int, p2 []byte) {
		typ1, typ2 = abs(typ1)%1000, abs(typ2)%1000
		rbsp := AppendMessage(nil, typ1, p1)
		rbsp = AppendMessage(rbsp, typ2, p2)
		nal := AppendNAL(nil, rbsp)
		if i := startCodeEmulation(nal); i >= 0 {
			t.Fatalf("start code emulation at %d", i)
		}
		msgs, err := Parse(nal)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if len(msgs) != 2 || msgs[0].Type != typ1 || msgs[1].Type != typ2 ||
			!bytes.Equal(msgs[0].Payload, p1) || !bytes.Equal(msgs[1].Payload, p2) {
			t.Fatalf("round trip: %+v", msgs)
		}
		Parse(append([]byte{0x06}, p1...))
	})
}

func abs(v int) int {
	if v < 0 {
		if v == -v {
			return 0
		}
		return -v
	}
	return v
}
