package audio

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// The files are ffmpeg's ADTS output (the go:generate lines), counted by ffprobe.
//
//go:generate ffmpeg -v error -y -f lavfi -i sine=frequency=1000:sample_rate=48000 -t 0.5 -c:a aac -b:a 64k -f adts testdata/sine-48k-mono.aac
//go:generate ffmpeg -v error -y -f lavfi -i sine=frequency=440:sample_rate=44100 -ac 2 -t 0.3 -c:a aac -b:a 96k -f adts testdata/sine-44k-stereo.aac
func TestADTSReaderReadsFFmpeg(t *testing.T) {
	tests := []struct {
		file           string
		frames         int
		rate, channels int
		asc            []byte
	}{
		{"testdata/sine-48k-mono.aac", 25, 48000, 1, []byte{0x11, 0x88}},
		{"testdata/sine-44k-stereo.aac", 14, 44100, 2, []byte{0x12, 0x10}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			r := NewADTSReader(bytes.NewReader(b))
			n, payload := 0, 0
			var first any
			for {
				frame, cfg, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("frame %d: %v", n, err)
				}
				if first == nil {
					first = cfg
				} else if any(cfg) != first {
					t.Fatalf("frame %d: a new config pointer for the same stream", n)
				}
				if cfg.SampleRate != tt.rate || cfg.Channels != tt.channels || !bytes.Equal(cfg.ASC, tt.asc) {
					t.Fatalf("config %+v, want %d Hz %d ch ASC % x", cfg, tt.rate, tt.channels, tt.asc)
				}
				n++
				payload += len(frame)
			}
			if n != tt.frames || payload+7*n != len(b) {
				t.Fatalf("%d frames, %d payload bytes of %d; want %d frames and 7-byte headers", n, payload, len(b), tt.frames)
			}
		})
	}
}

func TestADTSHeaderRoundTrip(t *testing.T) {
	for _, rate := range sampleRates {
		for ch := 1; ch <= 2; ch++ {
			h, err := LC(rate, ch)
			if err != nil {
				t.Fatal(err)
			}
			b := AppendADTSHeader(nil, h, 300)
			got, err := ParseADTSHeader(b)
			if err != nil {
				t.Fatalf("%d Hz %d ch: %v", rate, ch, err)
			}
			h.FrameSize = 307
			if got != h {
				t.Fatalf("parsed %+v, want %+v", got, h)
			}
		}
	}
}

func TestParseADTSHeaderCRC(t *testing.T) {
	h, _ := LC(48000, 1)
	b := AppendADTSHeader(nil, h, 10)
	b[1] &^= 1 // protection_absent 0: a 2-byte CRC follows the header
	got, err := ParseADTSHeader(b)
	if err != nil || got.HeaderSize != 9 {
		t.Fatalf("with CRC: %+v, %v", got, err)
	}
	// The reader returns the payload after the CRC.
	frame := append(append(b, 0xaa, 0xbb), []byte("0123456789")[:8]...)
	data, _, err := NewADTSReader(bytes.NewReader(frame)).Next()
	if err != nil || string(data) != "01234567" {
		t.Fatalf("payload %q, %v", data, err)
	}
}

func TestParseADTSHeaderErrors(t *testing.T) {
	lc, _ := LC(48000, 1)
	good := AppendADTSHeader(nil, lc, 100)
	mod := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	tests := map[string]struct {
		in   []byte
		want string
	}{
		"short":           {good[:6], "6 bytes"},
		"no sync":         {mod(func(b []byte) { b[0] = 0x47 }), "syncword"},
		"mp3 layer":       {mod(func(b []byte) { b[1] = 0xfb }), "layer"},
		"main profile":    {mod(func(b []byte) { b[2] &^= 0xc0 }), "object type 1"},
		"reserved rate":   {mod(func(b []byte) { b[2] |= 13 << 2 }), "reserved"},
		"pce channels":    {mod(func(b []byte) { b[3] &^= 0xc0 }), "channel configuration 0"},
		"5.1":             {mod(func(b []byte) { b[2] |= 1; b[3] = b[3]&0x3f | 2<<6 }), "channel configuration 6"},
		"two blocks":      {mod(func(b []byte) { b[6] |= 1 }), "2 raw data blocks"},
		"length too low":  {mod(func(b []byte) { b[3] &^= 3; b[4] = 0; b[5] &= 0x1f | 7<<5 }), "frame length"},
		"length = header": {AppendADTSHeader(nil, lc, 0), "frame length 7"},
	}
	for name, tt := range tests {
		_, err := ParseADTSHeader(tt.in)
		if !errors.Is(err, ErrADTS) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want ErrADTS saying %q", name, err, tt.want)
		}
	}
}

func TestADTSReaderErrors(t *testing.T) {
	mono, _ := LC(48000, 1)
	stereo, _ := LC(48000, 2)
	frame := func(h ADTSHeader) []byte { return append(AppendADTSHeader(nil, h, 4), silentMono...) }
	tests := map[string]struct {
		in      []byte
		want    error
		message string
	}{
		"ends in a header":   {append(frame(mono), 0xff, 0xf1), io.ErrUnexpectedEOF, "ADTS frame 1"},
		"ends in a payload":  {frame(mono)[:9], io.ErrUnexpectedEOF, "ADTS frame 0 (11 bytes)"},
		"text":               {[]byte("not audio at all\n"), ErrADTS, "syncword"},
		"stream changes":     {append(frame(mono), frame(stereo)...), ErrADTS, "changed from 48000 Hz mono (object type 2) to 48000 Hz stereo"},
		"garbage after good": {append(frame(mono), "garbage"...), ErrADTS, "ADTS frame 1"},
	}
	for name, tt := range tests {
		r := NewADTSReader(bytes.NewReader(tt.in))
		var err error
		for err == nil {
			_, _, err = r.Next()
		}
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.message) {
			t.Errorf("%s: error %v, want %v saying %q", name, err, tt.want, tt.message)
		}
	}
}

func TestLCRejects(t *testing.T) {
	if _, err := LC(12345, 1); err == nil || !strings.Contains(err.Error(), "12345 Hz") {
		t.Errorf("LC(12345, 1): %v", err)
	}
	if _, err := LC(48000, 6); err == nil || !strings.Contains(err.Error(), "6 channels") {
		t.Errorf("LC(48000, 6): %v", err)
	}
}

// FuzzADTSReader: whatever the bytes, the reader returns frames that fit their headers or
// an error, never panics, and every frame it returns re-frames to the same stream.
func FuzzADTSReader(f *testing.F) {
	for _, name := range []string{"testdata/sine-48k-mono.aac", "testdata/sine-44k-stereo.aac"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 600)])
	}
	lc, _ := LC(48000, 2)
	f.Add(append(AppendADTSHeader(nil, lc, 6), silentStereo...))
	f.Add([]byte{0xff, 0xf0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewADTSReader(bytes.NewReader(in))
		consumed := 0
		for {
			frame, cfg, err := r.Next()
			if err != nil {
				if err == io.EOF && consumed != len(in) {
					t.Fatalf("clean EOF after %d of %d bytes", consumed, len(in))
				}
				return
			}
			h, err := ParseADTSHeader(in[consumed:])
			if err != nil {
				t.Fatalf("Next accepted a frame whose header does not parse: %v", err)
			}
			if len(frame) != h.FrameSize-h.HeaderSize || !bytes.Equal(frame, in[consumed+h.HeaderSize:consumed+h.FrameSize]) {
				t.Fatalf("frame of %d bytes, header says %d", len(frame), h.FrameSize-h.HeaderSize)
			}
			if cfg.SampleRate != h.SampleRate || cfg.Channels != h.Channels || !bytes.Equal(cfg.ASC, h.AudioSpecificConfig()) {
				t.Fatalf("config %+v for header %+v", cfg, h)
			}
			again, err := ParseADTSHeader(AppendADTSHeader(nil, h, len(frame)))
			if err != nil || !sameStream(again, h) {
				t.Fatalf("re-framed header %+v (%v), want the stream of %+v", again, err, h)
			}
			consumed += h.FrameSize
		}
	})
}
