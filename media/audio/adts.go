// Package audio is the stream's AAC track: the ADTS parser, AAC-LC silence paced against the
// video's clock, and a program's ADTS output with silence in its place while it fails.
package audio

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/camnode/camnode/media"
)

// Limits of what camnode carries.
const (
	// SamplesPerFrame is the length of one AAC-LC frame in samples per channel.
	SamplesPerFrame = 1024
	// ADTSHeaderSize is the size of an ADTS header without CRC; with CRC it is 9.
	ADTSHeaderSize = 7
	// MaxADTSFrameSize is the largest frame the 13-bit frame length can describe.
	MaxADTSFrameSize = 1<<13 - 1
)

// sampleRates are the rates of the 4-bit sampling frequency index of ISO/IEC 14496-3
// (1.6.3.4); 13 and 14 are reserved, 15 (an explicit rate) cannot appear in ADTS.
var sampleRates = [...]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// objectAACLC is the audio object type of AAC-LC, the profile every platform takes.
const objectAACLC = 2

// ADTSHeader is what one ADTS header says.
type ADTSHeader struct {
	ObjectType int // audio object type: profile + 1 (2 = AAC-LC)
	RateIndex  int // sampling frequency index
	SampleRate int // Hz
	Channels   int // 1 or 2 (channel configuration)
	HeaderSize int // 7, or 9 with CRC
	FrameSize  int // header and payload
}

// ErrADTS is wrapped by every error about bytes that are not ADTS camnode can carry.
var ErrADTS = errors.New("not ADTS AAC")

// ParseADTSHeader parses the ADTS header at the start of b (ISO/IEC 13818-7 6.2, 14496-3
// 1.A.2.2):
//
//	syncword(12)=0xFFF  ID(1)  layer(2)=0  protection_absent(1)
//	profile(2)  sampling_frequency_index(4)  private(1)  channel_configuration(3)
//	original(1)  home(1)  copyright_id_bit(1)  copyright_id_start(1)
//	frame_length(13, header included)  buffer_fullness(11)  raw_data_blocks(2) = blocks-1
//	[crc(16) when protection_absent = 0]
//
// b needs 7 bytes. Only what camnode carries is accepted: AAC-LC, one raw data block per
// frame, mono or stereo, a sampling rate from the table.
func ParseADTSHeader(b []byte) (ADTSHeader, error) {
	if len(b) < ADTSHeaderSize {
		return ADTSHeader{}, fmt.Errorf("%w: %d bytes, an ADTS header needs %d", ErrADTS, len(b), ADTSHeaderSize)
	}
	if b[0] != 0xff || b[1]&0xf0 != 0xf0 {
		return ADTSHeader{}, fmt.Errorf("%w: no syncword at the start (% x)", ErrADTS, b[:2])
	}
	if layer := b[1] >> 1 & 3; layer != 0 {
		return ADTSHeader{}, fmt.Errorf("%w: layer %d (MPEG audio layer %d, not AAC)", ErrADTS, layer, 4-layer)
	}
	h := ADTSHeader{
		ObjectType: int(b[2]>>6) + 1,
		RateIndex:  int(b[2] >> 2 & 0x0f),
		Channels:   int(b[2]&1)<<2 | int(b[3]>>6),
		HeaderSize: ADTSHeaderSize,
		FrameSize:  int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5]>>5),
	}
	if b[1]&1 == 0 {
		h.HeaderSize = ADTSHeaderSize + 2
	}
	if h.RateIndex >= len(sampleRates) {
		return ADTSHeader{}, fmt.Errorf("%w: sampling frequency index %d is reserved", ErrADTS, h.RateIndex)
	}
	h.SampleRate = sampleRates[h.RateIndex]
	if h.ObjectType != objectAACLC {
		return ADTSHeader{}, fmt.Errorf("%w: audio object type %d; camnode carries AAC-LC (object type 2; ffmpeg: -profile:a aac_low)", ErrADTS, h.ObjectType)
	}
	if h.Channels < 1 || h.Channels > 2 {
		return ADTSHeader{}, fmt.Errorf("%w: channel configuration %d; camnode carries mono or stereo (ffmpeg: -ac 1 or -ac 2)", ErrADTS, h.Channels)
	}
	if blocks := int(b[6]&3) + 1; blocks != 1 {
		return ADTSHeader{}, fmt.Errorf("%w: %d raw data blocks in one frame; camnode takes one", ErrADTS, blocks)
	}
	if h.FrameSize <= h.HeaderSize {
		return ADTSHeader{}, fmt.Errorf("%w: frame length %d with a %d-byte header", ErrADTS, h.FrameSize, h.HeaderSize)
	}
	return h, nil
}

// AppendADTSHeader appends a 7-byte ADTS header (no CRC) for a frame of payloadSize bytes
// in the configuration c: the inverse of ParseADTSHeader, for tests and tools.
func AppendADTSHeader(dst []byte, c ADTSHeader, payloadSize int) []byte {
	n := ADTSHeaderSize + payloadSize
	return append(dst,
		0xff, 0xf1, // syncword, MPEG-4, layer 0, no CRC
		byte(c.ObjectType-1)<<6|byte(c.RateIndex)<<2|byte(c.Channels>>2&1),
		byte(c.Channels&3)<<6|byte(n>>11&3),
		byte(n>>3),
		byte(n&7)<<5|0x1f, // buffer fullness 0x7ff: variable bitrate
		0xfc)              // and one raw data block
}

// AudioSpecificConfig is the 2-byte decoder configuration of the header's stream
// (ISO/IEC 14496-3 1.6.2.1), what the FLV sequence header carries:
//
//	audioObjectType(5)  samplingFrequencyIndex(4)  channelConfiguration(4)
//	GASpecificConfig: frameLengthFlag(1)=0 (1024 samples)  dependsOnCoreCoder(1)=0  extensionFlag(1)=0
func (h ADTSHeader) AudioSpecificConfig() []byte {
	return []byte{byte(h.ObjectType)<<3 | byte(h.RateIndex)>>1, byte(h.RateIndex&1)<<7 | byte(h.Channels)<<3}
}

// Config is the media.AudioConfig of the header's stream.
func (h ADTSHeader) Config() *media.AudioConfig {
	return &media.AudioConfig{SampleRate: h.SampleRate, Channels: h.Channels, ASC: h.AudioSpecificConfig()}
}

// LC returns the header of an AAC-LC stream of the rate and channels, or an error saying
// what is wrong with them.
func LC(sampleRate, channels int) (ADTSHeader, error) {
	if channels != 1 && channels != 2 {
		return ADTSHeader{}, fmt.Errorf("audio: %d channels; camnode carries 1 (mono) or 2 (stereo)", channels)
	}
	for i, r := range sampleRates {
		if r == sampleRate {
			return ADTSHeader{ObjectType: objectAACLC, RateIndex: i, SampleRate: r, Channels: channels, HeaderSize: ADTSHeaderSize}, nil
		}
	}
	return ADTSHeader{}, fmt.Errorf("audio: %d Hz is not an AAC sampling rate (48000 and 44100 are the usual ones)", sampleRate)
}

// sameStream reports whether two headers describe the same stream (size and CRC aside).
func sameStream(a, b ADTSHeader) bool {
	return a.ObjectType == b.ObjectType && a.RateIndex == b.RateIndex && a.Channels == b.Channels
}

// ADTSReader splits an ADTS stream into raw AAC frames.
type ADTSReader struct {
	r      *bufio.Reader
	buf    []byte
	header ADTSHeader
	config *media.AudioConfig
	frames int64
}

// NewADTSReader returns a reader of the ADTS stream r.
func NewADTSReader(r io.Reader) *ADTSReader {
	return &ADTSReader{r: bufio.NewReaderSize(r, 16<<10), buf: make([]byte, MaxADTSFrameSize)}
}

// Next returns the next raw AAC frame (the payload after the header and CRC) and the
// stream's configuration. The frame is valid until the next call; the configuration is the
// same pointer for as long as the stream keeps it. At the clean end of the stream Next
// returns io.EOF; a stream that ends inside a frame gives io.ErrUnexpectedEOF, one that is
// not ADTS or changes its configuration an error wrapping ErrADTS.
func (a *ADTSReader) Next() ([]byte, *media.AudioConfig, error) {
	head := a.buf[:ADTSHeaderSize]
	if n, err := io.ReadFull(a.r, head); err != nil {
		if err == io.EOF && n == 0 {
			return nil, nil, io.EOF
		}
		return nil, nil, fmt.Errorf("ADTS frame %d: %w", a.frames, unexpectedEOF(err))
	}
	h, err := ParseADTSHeader(head)
	if err != nil {
		return nil, nil, fmt.Errorf("ADTS frame %d: %w", a.frames, err)
	}
	if a.config == nil {
		a.header, a.config = h, h.Config()
	} else if !sameStream(h, a.header) {
		return nil, nil, fmt.Errorf("ADTS frame %d: %w: the stream changed from %s to %s", a.frames, ErrADTS, describe(a.header), describe(h))
	}
	frame := a.buf[ADTSHeaderSize:h.FrameSize]
	if _, err := io.ReadFull(a.r, frame); err != nil {
		return nil, nil, fmt.Errorf("ADTS frame %d (%d bytes): %w", a.frames, h.FrameSize, unexpectedEOF(err))
	}
	a.frames++
	return frame[h.HeaderSize-ADTSHeaderSize:], a.config, nil
}

func describe(h ADTSHeader) string {
	ch := "mono"
	if h.Channels == 2 {
		ch = "stereo"
	}
	return fmt.Sprintf("%d Hz %s (object type %d)", h.SampleRate, ch, h.ObjectType)
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
