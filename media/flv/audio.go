package flv

import (
	"errors"
	"fmt"
)

// Audio tag constants: the first byte of an audio tag body is sound format (high nibble),
// sound rate (2 bits), sound size (1 bit) and sound type (1 bit); for AAC the second byte
// is the AAC packet type.
const (
	CodecAAC = 10 // SoundFormat 10: AAC

	AACSequenceHeader = 0 // body is an AudioSpecificConfig (ISO/IEC 14496-3)
	AACRaw            = 1 // body is one raw AAC frame, no ADTS header
)

// aacTagByte is the first byte of every AAC audio tag: format 10, rate 3 (44 kHz), size 1
// (16 bit), type 1 (stereo). The FLV spec says a player takes rate and channels of AAC from
// the AudioSpecificConfig and that these bits are always 3 and 1, whatever the stream.
const aacTagByte = CodecAAC<<4 | 3<<2 | 1<<1 | 1 // 0xAF

// AudioTagHeaderSize is the size of the AAC audio tag header that precedes the payload.
const AudioTagHeaderSize = 2

// AppendAudioSequenceHeader appends the audio tag body that carries the decoder
// configuration:
//
//	0xAF  0x00  AudioSpecificConfig (2 bytes for AAC-LC)
//	AAC   seq header
func AppendAudioSequenceHeader(dst []byte, asc []byte) []byte {
	dst = append(dst, aacTagByte, AACSequenceHeader)
	return append(dst, asc...)
}

// AppendAudioTag appends the audio tag body of one raw AAC frame (no ADTS header):
//
//	0xAF  0x01  raw AAC frame
//
// It does not allocate when dst has room for the result.
func AppendAudioTag(dst []byte, frame []byte) []byte {
	dst = append(dst, aacTagByte, AACRaw)
	return append(dst, frame...)
}

// AudioTag is a parsed audio tag body.
type AudioTag struct {
	SoundFormat byte // CodecAAC, ...
	PacketType  byte // for AAC: AACSequenceHeader or AACRaw
	// Data is what follows the header, aliasing the body: for AAC the AudioSpecificConfig
	// or the raw frame; for other formats everything after the first byte.
	Data []byte
}

// ErrShortAudioTag is returned by ParseAudioTag for a body too short for its header.
var ErrShortAudioTag = errors.New("flv: audio tag body too short")

// ParseAudioTag parses the header of an audio tag body (the layout AppendAudioTag writes).
// It does not copy: Data aliases body.
func ParseAudioTag(body []byte) (AudioTag, error) {
	if len(body) < 1 {
		return AudioTag{}, ErrShortAudioTag
	}
	a := AudioTag{SoundFormat: body[0] >> 4}
	if a.SoundFormat != CodecAAC {
		a.Data = body[1:]
		return a, nil
	}
	if len(body) < AudioTagHeaderSize {
		return AudioTag{}, fmt.Errorf("%w: %d bytes, AAC header needs %d", ErrShortAudioTag, len(body), AudioTagHeaderSize)
	}
	a.PacketType = body[1]
	a.Data = body[AudioTagHeaderSize:]
	return a, nil
}
