package flv

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestAppendAMF(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"number 1", AppendAMFNumber(nil, 1), []byte{0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}},
		{"number 1920", AppendAMFNumber(nil, 1920), []byte{0x00, 0x40, 0x9e, 0, 0, 0, 0, 0, 0}},
		{"true", AppendAMFBoolean(nil, true), []byte{0x01, 0x01}},
		{"false", AppendAMFBoolean(nil, false), []byte{0x01, 0x00}},
		{"string", AppendAMFString(nil, "live"), []byte{0x02, 0, 4, 'l', 'i', 'v', 'e'}},
		{"empty string", AppendAMFString(nil, ""), []byte{0x02, 0, 0}},
		{"null", AppendAMFNull(nil), []byte{0x05}},
		{"object", AppendAMFObjectEnd(AppendAMFBoolean(AppendAMFKey(AppendAMFObjectStart(nil), "ok"), true)),
			[]byte{0x03, 0, 2, 'o', 'k', 0x01, 0x01, 0, 0, 0x09}},
		{"ECMA array", AppendAMFObjectEnd(AppendAMFECMAArrayStart(nil, 0)), []byte{0x08, 0, 0, 0, 0, 0, 0, 0x09}},
	}
	for _, tt := range tests {
		if !bytes.Equal(tt.got, tt.want) {
			t.Errorf("%s: got % x, want % x", tt.name, tt.got, tt.want)
		}
	}

	long := strings.Repeat("x", 70_000)
	b := AppendAMFString(nil, long)
	if b[0] != AMFLongString || len(b) != 5+len(long) || !bytes.Equal(b[1:5], []byte{0, 1, 0x11, 0x70}) {
		t.Errorf("70000-byte string: marker %#x, length bytes % x, total %d", b[0], b[1:5], len(b))
	}
	v, n, err := DecodeAMF(b)
	if err != nil || n != len(b) || v != long {
		t.Errorf("decode long string: n=%d err=%v equal=%v", n, err, v == long)
	}
}

func TestDecodeAMFValues(t *testing.T) {
	// An onStatus command as nginx-rtmp sends it.
	var b []byte
	b = AppendAMFString(b, "onStatus")
	b = AppendAMFNumber(b, 0)
	b = AppendAMFNull(b)
	b = AppendAMFObjectStart(b)
	b = AppendAMFKey(b, "level")
	b = AppendAMFString(b, "error")
	b = AppendAMFKey(b, "code")
	b = AppendAMFString(b, "NetStream.Publish.BadName")
	b = AppendAMFKey(b, "nested")
	b = AppendAMFECMAArrayStart(b, 1)
	b = AppendAMFKey(b, "n")
	b = AppendAMFNumber(b, -2.5)
	b = AppendAMFObjectEnd(b)
	b = AppendAMFObjectEnd(b)
	b = append(b, AMFStrictArray, 0, 0, 0, 2, AMFUndefined, AMFBoolean, 1)
	b = append(b, AMFDate, 0x42, 0x77, 0, 0, 0, 0, 0, 0, 0, 0)

	got, err := DecodeAMFValues(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"onStatus", 0.0, nil, AMFMap{
		{"level", "error"},
		{"code", "NetStream.Publish.BadName"},
		{"nested", AMFMap{{"n", -2.5}}},
	}, []any{nil, true}, math.Float64frombits(0x4277000000000000)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
	obj := got[3].(AMFMap)
	if obj.String("code") != "NetStream.Publish.BadName" || obj.String("missing") != "" {
		t.Errorf("AMFMap.String: %q %q", obj.String("code"), obj.String("missing"))
	}
	if _, ok := obj.Number("level"); ok {
		t.Error("AMFMap.Number of a string property reported ok")
	}
}

func TestDecodeAMFErrors(t *testing.T) {
	deep := bytes.Repeat([]byte{AMFObject, 0, 1, 'k'}, 100)
	tests := map[string][]byte{
		"empty":              {},
		"short number":       {AMFNumber, 0, 0},
		"short bool":         {AMFBoolean},
		"short string":       {AMFString, 0, 5, 'a'},
		"short long string":  {AMFLongString, 0, 0, 1, 0, 'a'},
		"object no end":      {AMFObject, 0, 1, 'a', AMFNull},
		"ECMA short":         {AMFECMAArray, 0, 0},
		"strict array count": {AMFStrictArray, 0xff, 0xff, 0xff, 0xff, AMFNull},
		"short date":         {AMFDate, 0, 0, 0},
		"reference":          {AMFReference, 0, 1},
		"AMF3 switch":        {0x11, 0x01},
		"too deep":           deep,
	}
	for name, in := range tests {
		if v, n, err := DecodeAMF(in); err == nil {
			t.Errorf("%s: DecodeAMF(% x) = %v, %d, want an error", name, in, v, n)
		}
	}
}

func TestAppendMetadata(t *testing.T) {
	m := Metadata{Width: 1280, Height: 720, FrameRate: 29.97, VideoDataRateKbps: 2500, Encoder: "camnode"}
	b := AppendMetadata(nil, m)
	got, err := DecodeAMFValues(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"@setDataFrame", "onMetaData", AMFMap{
		{"width", 1280.0}, {"height", 720.0}, {"framerate", 29.97},
		{"videocodecid", 7.0}, {"videodatarate", 2500.0}, {"encoder", "camnode"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
	// The ECMA array's count hint must match the properties written.
	i := bytes.IndexByte(b, AMFECMAArray)
	if !bytes.Equal(b[i+1:i+5], []byte{0, 0, 0, 6}) {
		t.Errorf("ECMA array count bytes % x, want 00 00 00 06", b[i+1:i+5])
	}

	// A rate not measured yet is left out, not announced as 0, and the count says so.
	m.VideoDataRateKbps = 0
	b = AppendMetadata(nil, m)
	if got, err = DecodeAMFValues(b); err != nil {
		t.Fatal(err)
	}
	want[2] = AMFMap{{"width", 1280.0}, {"height", 720.0}, {"framerate", 29.97}, {"videocodecid", 7.0}, {"encoder", "camnode"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("without a rate: got  %#v\nwant %#v", got, want)
	}
	if i := bytes.IndexByte(b, AMFECMAArray); !bytes.Equal(b[i+1:i+5], []byte{0, 0, 0, 5}) {
		t.Errorf("without a rate: ECMA array count bytes % x, want 00 00 00 05", b[i+1:i+5])
	}
}

func FuzzDecodeAMF(f *testing.F) {
	f.Add(AppendMetadata(nil, Metadata{Width: 1, Encoder: "x"}))
	f.Add([]byte{AMFStrictArray, 0, 0, 0, 1, AMFTypedObject, 0, 1, 'c', 0, 0, 9})
	f.Add([]byte{AMFLongString, 0, 0, 0, 1, 'a'})
	f.Fuzz(func(t *testing.T, in []byte) {
		vals, err := DecodeAMFValues(in)
		if err == nil && len(in) > 0 && len(vals) == 0 {
			t.Fatal("no values and no error from non-empty input")
		}
		for off := 0; off < len(in); {
			_, n, err := DecodeAMF(in[off:])
			if err != nil {
				break
			}
			if n <= 0 || n > len(in)-off {
				t.Fatalf("DecodeAMF consumed %d of %d bytes", n, len(in)-off)
			}
			off += n
		}
	})
}
