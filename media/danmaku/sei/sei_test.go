package sei

import (
	"bytes"
	"errors"
	"testing"

	"github.com/camnode/camnode/media/h264"
)

func TestCamnodeUUID(t *testing.T) {
	if got := CamnodeUUID.String(); got != "05254fc5-2ab8-4b62-b88b-cb5b7d5ef5ed" {
		t.Fatalf("CamnodeUUID = %s; it is a published contract and must not change", got)
	}
}

func TestAppendNALLayout(t *testing.T) {
	rbsp := AppendUnregistered(nil, CamnodeUUID, []byte(`{"text":"hi"}`))
	got := AppendNAL(nil, rbsp)
	want := append([]byte{0x06, 0x05, 16 + 13}, CamnodeUUID[:]...)
	want = append(want, `{"text":"hi"}`...)
	want = append(want, 0x80)
	if !bytes.Equal(got, want) {
		t.Fatalf("NAL\n got % x\nwant % x", got, want)
	}
}

func TestAppendMessageHeaderLongValues(t *testing.T) {
	for _, tc := range []struct {
		typ, size int
		want      []byte
	}{
		{5, 0, []byte{5, 0}},
		{5, 254, []byte{5, 254}},
		{5, 255, []byte{5, 255, 0}},
		{4, 300, []byte{4, 255, 45}},
		{300, 510, []byte{255, 45, 255, 255, 0}},
	} {
		if got := AppendMessageHeader(nil, tc.typ, tc.size); !bytes.Equal(got, tc.want) {
			t.Errorf("header(%d, %d) = % x, want % x", tc.typ, tc.size, got, tc.want)
		}
	}
}

// A payload full of zeros gets emulation-prevention bytes, and comes back intact.
func TestEmulationPreventionRoundTrip(t *testing.T) {
	payload := make([]byte, 40) // zeros, then a trailing 00 00 right before the 0x80
	rbsp := AppendMessage(nil, 200, payload)
	nal := AppendNAL(nil, rbsp)
	if i := startCodeEmulation(nal); i >= 0 {
		t.Fatalf("start code emulation at %d: % x", i, nal)
	}
	if bytes.HasSuffix(nal, []byte{0, 0, 3, 0x80}) {
		t.Fatalf("escaped zeros before the trailing bits: % x", nal[len(nal)-6:])
	}
	msgs, err := Parse(nal)
	if err != nil || len(msgs) != 1 || msgs[0].Type != 200 || !bytes.Equal(msgs[0].Payload, payload) {
		t.Fatalf("Parse = %+v, %v", msgs, err)
	}
}

func TestSeveralMessagesInOneNAL(t *testing.T) {
	var rbsp []byte
	rbsp = AppendMessage(rbsp, TypeRegisteredT35, []byte{0xb5, 0x00, 0x31, 'G', 'A', '9', '4'})
	texts := []string{`{"text":"一"}`, `{"text":"😀"}`, string(bytes.Repeat([]byte("x"), 600))}
	for _, s := range texts {
		rbsp = AppendUnregistered(rbsp, CamnodeUUID, []byte(s))
	}
	msgs, err := Parse(AppendNAL(nil, rbsp))
	if err != nil || len(msgs) != 4 {
		t.Fatalf("Parse: %d messages, %v", len(msgs), err)
	}
	if msgs[0].Type != TypeRegisteredT35 {
		t.Fatalf("first message type %d", msgs[0].Type)
	}
	if _, _, ok := msgs[0].Unregistered(); ok {
		t.Fatalf("a T.35 message read as unregistered")
	}
	for i, s := range texts {
		uuid, data, ok := msgs[i+1].Unregistered()
		if !ok || uuid != CamnodeUUID || string(data) != s {
			t.Fatalf("message %d: %v %v %q", i+1, ok, uuid, data)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for name, nal := range map[string][]byte{
		"empty":          nil,
		"not SEI":        {0x65, 0x88},
		"size past end":  {0x06, 0x05, 0x20, 1, 2, 3},
		"type runs out":  {0x06, 0xff, 0xff},
		"size runs out":  {0x06, 0x05},
		"endless 0xff":   append([]byte{0x06, 0x05}, bytes.Repeat([]byte{0xff}, 70000)...),
		"junk after msg": {0x06, 0x05, 0x00, 0x01},
	} {
		if _, err := Parse(nal); err == nil {
			t.Errorf("%s: no error", name)
		} else if !errors.Is(err, ErrNotSEI) && !errors.Is(err, ErrTruncated) {
			t.Errorf("%s: unexpected error %v", name, err)
		}
	}
	// Without trailing bits the messages are still read.
	msgs, err := Parse([]byte{0x06, 0x05, 0x01, 0x41})
	if err != nil || len(msgs) != 1 || string(msgs[0].Payload) != "A" {
		t.Fatalf("no trailing bits: %+v, %v", msgs, err)
	}
}

// The NAL unit must still split out of an Annex-B stream as one unit.
func TestNALSurvivesAnnexB(t *testing.T) {
	rbsp := AppendMessage(nil, 5, []byte{0, 0, 1, 0, 0, 0, 0, 0, 3, 0, 0, 2})
	nal := AppendNAL(nil, rbsp)
	stream := h264.AppendAnnexB(nil, [][]byte{{0x09, 0xf0}, nal, {0x65, 0x88, 0x84}})
	var got [][]byte
	for n := range h264.NALUs(stream) {
		got = append(got, n)
	}
	if len(got) != 3 || !bytes.Equal(got[1], nal) {
		t.Fatalf("Annex-B split gave %d units", len(got))
	}
}

func TestAppendNALDoesNotAllocateWithSpareCapacity(t *testing.T) {
	rbsp := make([]byte, 0, 256)
	rbsp = AppendUnregistered(rbsp, CamnodeUUID, []byte(`{"text":"666","user":"alice"}`))
	dst := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { dst = AppendNAL(dst[:0], rbsp) }); n != 0 {
		t.Fatalf("AppendNAL allocates %v times", n)
	}
}

// startCodeEmulation returns the offset of a forbidden 00 00 0x (x <= 3) in a NAL unit, or -1.
func startCodeEmulation(nal []byte) int {
	for i := 0; i+2 < len(nal); i++ {
		if nal[i] == 0 && nal[i+1] == 0 && nal[i+2] <= 3 {
			if nal[i+2] == 3 && (i+3 == len(nal) || nal[i+3] <= 3) {
				continue // a proper emulation-prevention byte
			}
			return i
		}
	}
	return -1
}
