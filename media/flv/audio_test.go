package flv

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestAppendAudioSequenceHeader(t *testing.T) {
	asc := []byte{0x11, 0x88} // AAC-LC, 48 kHz, mono
	got := AppendAudioSequenceHeader([]byte{0xaa}, asc)
	want := []byte{0xaa, 0xaf, 0x00, 0x11, 0x88}
	if !bytes.Equal(got, want) {
		t.Errorf("got  % x\nwant % x", got, want)
	}
	a, err := ParseAudioTag(got[1:])
	if err != nil || a.SoundFormat != CodecAAC || a.PacketType != AACSequenceHeader || !bytes.Equal(a.Data, asc) {
		t.Errorf("ParseAudioTag = %+v, %v", a, err)
	}
}

func TestAppendAudioTag(t *testing.T) {
	frame := []byte{0x01, 0x40, 0x20, 0x07}
	got := AppendAudioTag(nil, frame)
	want := []byte{0xaf, 0x01, 0x01, 0x40, 0x20, 0x07}
	if !bytes.Equal(got, want) {
		t.Fatalf("got  % x\nwant % x", got, want)
	}
	a, err := ParseAudioTag(got)
	if err != nil || a.PacketType != AACRaw || !bytes.Equal(a.Data, frame) {
		t.Errorf("ParseAudioTag = %+v, %v", a, err)
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = AppendAudioTag(buf[:0], frame) }); n != 0 {
		t.Errorf("AppendAudioTag allocates %v times with room in dst", n)
	}
}

func TestParseAudioTagShort(t *testing.T) {
	for _, in := range [][]byte{nil, {0xaf}} {
		if _, err := ParseAudioTag(in); !errors.Is(err, ErrShortAudioTag) {
			t.Errorf("ParseAudioTag(% x) error %v, want ErrShortAudioTag", in, err)
		}
	}
	// Another format (MP3, 0x2f) has no packet type byte.
	if a, err := ParseAudioTag([]byte{0x2f, 1, 2}); err != nil || a.SoundFormat != 2 || !bytes.Equal(a.Data, []byte{1, 2}) {
		t.Errorf("MP3 tag: %+v, %v", a, err)
	}
}

func TestAppendMetadataWithAudio(t *testing.T) {
	m := Metadata{Width: 1280, Height: 720, FrameRate: 30, VideoDataRateKbps: 124, Encoder: "camnode",
		AudioSampleRate: 48000, AudioChannels: 1, AudioDataRateKbps: 2.4}
	b := AppendMetadata(nil, m)
	got, err := DecodeAMFValues(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"@setDataFrame", "onMetaData", AMFMap{
		{"width", 1280.0}, {"height", 720.0}, {"framerate", 30.0},
		{"videocodecid", 7.0}, {"videodatarate", 124.0},
		{"audiocodecid", 10.0}, {"audiosamplerate", 48000.0}, {"audiosamplesize", 16.0},
		{"stereo", false}, {"audiodatarate", 2.4},
		{"encoder", "camnode"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
	i := bytes.IndexByte(b, AMFECMAArray)
	if !bytes.Equal(b[i+1:i+5], []byte{0, 0, 0, 11}) {
		t.Errorf("ECMA array count bytes % x, want 00 00 00 0b", b[i+1:i+5])
	}
	m.AudioChannels = 2
	got, _ = DecodeAMFValues(AppendMetadata(nil, m))
	if v := got[2].(AMFMap).Get("stereo"); v != true {
		t.Errorf("stereo for 2 channels = %v", v)
	}
}
