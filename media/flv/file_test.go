package flv

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestAppendFileHeader(t *testing.T) {
	tests := []struct {
		video, audio bool
		want         []byte
	}{
		{true, false, []byte{'F', 'L', 'V', 1, 0x01, 0, 0, 0, 9, 0, 0, 0, 0}},
		{false, true, []byte{'F', 'L', 'V', 1, 0x04, 0, 0, 0, 9, 0, 0, 0, 0}},
		{true, true, []byte{'F', 'L', 'V', 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0}},
		{false, false, []byte{'F', 'L', 'V', 1, 0x00, 0, 0, 0, 9, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		got := AppendFileHeader([]byte{0xaa}, tt.video, tt.audio)
		if !bytes.Equal(got, append([]byte{0xaa}, tt.want...)) {
			t.Errorf("AppendFileHeader(video=%v, audio=%v) = % x, want aa % x", tt.video, tt.audio, got, tt.want)
		}
	}
}

func TestAppendTag(t *testing.T) {
	tests := []struct {
		name string
		typ  byte
		ts   uint32
		body []byte
		want []byte
	}{
		{"video at 0", TagVideo, 0, []byte{0x17, 0x01},
			[]byte{9, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0x17, 0x01, 0, 0, 0, 13}},
		{"script 24-bit timestamp", TagScript, 0x123456, []byte{5},
			[]byte{18, 0, 0, 1, 0x12, 0x34, 0x56, 0, 0, 0, 0, 5, 0, 0, 0, 12}},
		// Bits 24-31 of the timestamp go to the TimestampExtended byte after the low 24 bits.
		{"audio extended timestamp", TagAudio, 0x01020304, nil,
			[]byte{8, 0, 0, 0, 0x02, 0x03, 0x04, 0x01, 0, 0, 0, 0, 0, 0, 11}},
		{"2^24 ms", TagVideo, 1 << 24, []byte{1, 2, 3},
			[]byte{9, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 1, 2, 3, 0, 0, 0, 14}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AppendTag(nil, tt.typ, tt.ts, tt.body); !bytes.Equal(got, tt.want) {
				t.Errorf("got  % x\nwant % x", got, tt.want)
			}
		})
	}
}

func TestAppendTagBodyTooLargePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("AppendTag with a body over 16 MiB did not panic")
		}
	}()
	AppendTag(nil, TagVideo, 0, make([]byte, MaxTagBodySize+1))
}

func TestReaderRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte{0xab, 0xcd, 0xef}, 100_000) // several 64 KiB read steps
	tags := []Tag{
		{Type: TagScript, Timestamp: 0, Body: AppendMetadata(nil, Metadata{Width: 640, Height: 360, FrameRate: 30})},
		{Type: TagVideo, Timestamp: 0, Body: AppendSequenceHeader(nil, []byte{1, 0x42, 0xc0, 0x1e, 0xff})},
		{Type: TagVideo, Timestamp: 1<<24 - 1, Body: AppendVideoTag(nil, true, 0, [][]byte{{0x65, 1}})},
		{Type: TagVideo, Timestamp: 1 << 24, Body: big},
		{Type: TagAudio, Timestamp: 0xfedcba98, Body: []byte{}},
		{Type: TagVideo, Timestamp: 0xffffffff, Body: AppendEndOfSequence(nil)},
	}
	file := AppendFileHeader(nil, true, false)
	for _, tag := range tags {
		file = AppendTag(file, tag.Type, tag.Timestamp, tag.Body)
	}

	r := NewReader(bytes.NewReader(file))
	h, err := r.Header()
	if err != nil {
		t.Fatal(err)
	}
	if h != (FileHeader{Version: 1, HasVideo: true}) {
		t.Errorf("header = %+v, want version 1, video only", h)
	}
	for i, want := range tags {
		got, err := r.Next()
		if err != nil {
			t.Fatalf("tag %d: %v", i, err)
		}
		if got.Type != want.Type || got.Timestamp != want.Timestamp || !bytes.Equal(got.Body, want.Body) {
			t.Errorf("tag %d = type %d ts %d %d bytes, want type %d ts %d %d bytes",
				i, got.Type, got.Timestamp, len(got.Body), want.Type, want.Timestamp, len(want.Body))
		}
	}
	for range 2 {
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("after the last tag Next = %v, want io.EOF", err)
		}
	}
}

func TestReaderSkipsExtendedHeaderAndFilterBits(t *testing.T) {
	// Data offset 12: three extra header bytes before PreviousTagSize0. Tag type byte 0x29
	// has the filter bit (0x20) set; Type must still be video.
	file := []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 12, 0xee, 0xee, 0xee, 0, 0, 0, 0,
		0x29, 0, 0, 1, 0, 0, 7, 0, 0, 0, 0, 0x42, 0, 0, 0, 12}
	r := NewReader(bytes.NewReader(file))
	tag, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if tag.Type != TagVideo || tag.Timestamp != 7 || !bytes.Equal(tag.Body, []byte{0x42}) {
		t.Errorf("tag = %+v, want video at 7 ms with body 42", tag)
	}
	if h, _ := r.Header(); !h.HasAudio || !h.HasVideo {
		t.Errorf("header = %+v, want audio and video", h)
	}
}

func TestReaderErrors(t *testing.T) {
	good := AppendTag(AppendFileHeader(nil, true, false), TagVideo, 40, []byte{1, 2, 3, 4})
	badPrev := bytes.Clone(good)
	badPrev[len(badPrev)-1]++
	badPrev0 := bytes.Clone(good)
	badPrev0[12] = 1
	tests := []struct {
		name    string
		in      []byte
		wantIs  error
		wantMsg string
	}{
		{"empty", nil, io.ErrUnexpectedEOF, "file header"},
		{"not flv", []byte("GIF89a\x00\x00\x00\x00\x00\x00\x00"), ErrNotFLV, "signature"},
		{"small data offset", []byte{'F', 'L', 'V', 1, 1, 0, 0, 0, 8, 0, 0, 0, 0}, ErrNotFLV, "data offset 8"},
		{"no PreviousTagSize0", good[:11], io.ErrUnexpectedEOF, "PreviousTagSize0"},
		{"PreviousTagSize0 not zero", badPrev0, nil, "PreviousTagSize0 is 1"},
		{"cut in tag header", good[:13+5], io.ErrUnexpectedEOF, "tag header at offset 13"},
		{"cut in body", good[:13+11+2], io.ErrUnexpectedEOF, "4-byte body"},
		{"cut in PreviousTagSize", good[:len(good)-1], io.ErrUnexpectedEOF, "PreviousTagSize"},
		{"wrong PreviousTagSize", badPrev, nil, "PreviousTagSize 16 after tag at offset 13, want 15"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.in))
			var err error
			for range 3 {
				if _, err = r.Next(); err != nil {
					break
				}
			}
			if err == nil || err == io.EOF {
				t.Fatalf("Next = %v, want an error", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q is not %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
			if _, again := r.Next(); again == nil || again.Error() != err.Error() {
				t.Errorf("Next after error = %v, want the same error again", again)
			}
		})
	}
}

// FuzzReader feeds arbitrary bytes to the Reader: it must not panic, and whatever tags it
// returns must survive a write/read round trip unchanged.
func FuzzReader(f *testing.F) {
	f.Add(AppendTag(AppendFileHeader(nil, true, true), TagVideo, 1<<24+5, []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65}))
	f.Add(AppendTag(AppendTag(AppendFileHeader(nil, true, false), TagScript, 0, AppendMetadata(nil, Metadata{Width: 2})), TagAudio, 3, nil))
	f.Add([]byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0, 9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte("FLV"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in))
		h, err := r.Header()
		var tags []Tag
		for err == nil {
			var tag Tag
			if tag, err = r.Next(); err == nil {
				tags = append(tags, tag)
			}
		}
		if len(tags) == 0 {
			return
		}
		out := AppendFileHeader(nil, h.HasVideo, h.HasAudio)
		for _, tag := range tags {
			out = AppendTag(out, tag.Type, tag.Timestamp, tag.Body)
		}
		r2 := NewReader(bytes.NewReader(out))
		for i, want := range tags {
			got, err := r2.Next()
			if err != nil {
				t.Fatalf("re-read tag %d: %v", i, err)
			}
			if got.Type != want.Type || got.Timestamp != want.Timestamp || !bytes.Equal(got.Body, want.Body) {
				t.Fatalf("re-read tag %d differs", i)
			}
		}
		if _, err := r2.Next(); err != io.EOF {
			t.Fatalf("re-read end: %v, want io.EOF", err)
		}
	})
}
