package flv

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Video tag constants: the first byte of a video tag body is frame type (high nibble) and
// codec id (low nibble); for AVC the second byte is the AVC packet type.
const (
	FrameKey   = 1 // keyframe (for AVC, a seekable frame: IDR)
	FrameInter = 2 // inter frame

	CodecAVC = 7

	AVCSequenceHeader = 0 // body is an AVCDecoderConfigurationRecord
	AVCNALU           = 1 // body is AVCC: NAL units with 4-byte big-endian lengths
	AVCEndOfSequence  = 2 // empty body
)

// VideoTagHeaderSize is the size of the AVC video tag header that precedes the payload.
const VideoTagHeaderSize = 5

// AppendSequenceHeader appends the video tag body that carries the decoder configuration:
//
//	0x17  0x00  00 00 00  AVCDecoderConfigurationRecord
//	key|AVC  seq header  composition time 0
func AppendSequenceHeader(dst []byte, decoderConfig []byte) []byte {
	dst = append(dst, FrameKey<<4|CodecAVC, AVCSequenceHeader, 0, 0, 0)
	return append(dst, decoderConfig...)
}

// AppendVideoTag appends the video tag body of one access unit:
//
//	0x17 (keyframe) | 0x27 (inter)  0x01  CTS(3, BE, signed, ms)  { len(4, BE)  NAL unit }...
//
// The NAL units have no start codes. cts is PTS-DTS in milliseconds, clamped to the 24-bit
// signed range. It does not allocate when dst has room for the result.
func AppendVideoTag(dst []byte, keyframe bool, cts int32, nalus [][]byte) []byte {
	frame := byte(FrameInter)
	if keyframe {
		frame = FrameKey
	}
	cts = max(min(cts, 1<<23-1), -1<<23)
	dst = append(dst, frame<<4|CodecAVC, AVCNALU, byte(cts>>16), byte(cts>>8), byte(cts))
	for _, nal := range nalus {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(nal)))
		dst = append(dst, nal...)
	}
	return dst
}

// VideoTagSize is the length of the body AppendVideoTag writes for nalus, so callers can size
// a buffer once.
func VideoTagSize(nalus [][]byte) int {
	n := VideoTagHeaderSize
	for _, nal := range nalus {
		n += 4 + len(nal)
	}
	return n
}

// AppendEndOfSequence appends the AVC end-of-sequence video tag body: 0x17 0x02 00 00 00.
func AppendEndOfSequence(dst []byte) []byte {
	return append(dst, FrameKey<<4|CodecAVC, AVCEndOfSequence, 0, 0, 0)
}

// VideoTag is a parsed video tag body.
type VideoTag struct {
	FrameType       byte  // FrameKey, FrameInter, ...
	CodecID         byte  // CodecAVC, ...
	PacketType      byte  // for AVC: AVCSequenceHeader, AVCNALU, AVCEndOfSequence
	CompositionTime int32 // for AVC: PTS-DTS in ms
	// Data is what follows the header, aliasing the body: for AVC the decoder configuration
	// record or the AVCC NAL units; for other codecs everything after the first byte.
	Data []byte
}

// Keyframe reports whether the tag is marked as a keyframe.
func (v VideoTag) Keyframe() bool { return v.FrameType == FrameKey }

// ErrShortVideoTag is returned by ParseVideoTag for a body too short for its header.
var ErrShortVideoTag = errors.New("flv: video tag body too short")

// ParseVideoTag parses the header of a video tag body (the layout AppendVideoTag writes). It
// does not copy: Data aliases body.
func ParseVideoTag(body []byte) (VideoTag, error) {
	if len(body) < 1 {
		return VideoTag{}, ErrShortVideoTag
	}
	v := VideoTag{FrameType: body[0] >> 4, CodecID: body[0] & 0x0f}
	if v.CodecID != CodecAVC {
		v.Data = body[1:]
		return v, nil
	}
	if len(body) < VideoTagHeaderSize {
		return VideoTag{}, fmt.Errorf("%w: %d bytes, AVC header needs %d", ErrShortVideoTag, len(body), VideoTagHeaderSize)
	}
	v.PacketType = body[1]
	// Sign-extend the 24-bit composition time.
	v.CompositionTime = int32(uint32(body[2])<<24|uint32(body[3])<<16|uint32(body[4])<<8) >> 8
	v.Data = body[VideoTagHeaderSize:]
	return v, nil
}

// SplitAVCC splits AVCC data (4-byte big-endian length + NAL unit, repeated) into NAL units
// that alias data. It appends to dst so a caller can reuse a slice.
func SplitAVCC(dst [][]byte, data []byte) ([][]byte, error) {
	for off := 0; off < len(data); {
		if len(data)-off < 4 {
			return dst, fmt.Errorf("flv: AVCC: %d trailing bytes at offset %d, need a 4-byte length", len(data)-off, off)
		}
		n := binary.BigEndian.Uint32(data[off:])
		off += 4
		if uint64(n) > uint64(len(data)-off) {
			return dst, fmt.Errorf("flv: AVCC: NAL unit of %d bytes at offset %d overruns the %d remaining", n, off-4, len(data)-off)
		}
		dst = append(dst, data[off:off+int(n)])
		off += int(n)
	}
	return dst, nil
}
