package h264

import (
	"errors"
	"fmt"
)

// hasConfigExtension lists the profiles whose AVCDecoderConfigurationRecord carries the
// chroma format and bit depth bytes (ISO/IEC 14496-15 5.3.3.1.2).
func hasConfigExtension(profile byte) bool {
	switch profile {
	case 100, 110, 122, 144:
		return true
	}
	return false
}

// AppendDecoderConfig appends the AVCDecoderConfigurationRecord (ISO/IEC 14496-15
// 5.3.3.1.2) for the parameter sets, the body of the FLV AVC sequence header and of an MP4
// avcC box. NAL units are given without start codes; profile, compatibility and level
// come from the first SPS, and lengths are always 4 bytes.
//
//	u8  configurationVersion = 1
//	u8  AVCProfileIndication            (SPS byte 1, profile_idc)
//	u8  profile_compatibility           (SPS byte 2, the constraint flags)
//	u8  AVCLevelIndication              (SPS byte 3, level_idc)
//	u8  111111xx  lengthSizeMinusOne = 3
//	u8  111xxxxx  numOfSequenceParameterSets (<= 31)
//	    { u16 sequenceParameterSetLength; SPS NAL unit } per SPS
//	u8  numOfPictureParameterSets
//	    { u16 pictureParameterSetLength; PPS NAL unit } per PPS
//	only when profile_idc is 100, 110, 122 or 144:
//	u8  111111xx  chroma_format (chroma_format_idc)
//	u8  11111xxx  bit_depth_luma_minus8
//	u8  11111xxx  bit_depth_chroma_minus8
//	u8  numOfSequenceParameterSetExt = 0
func AppendDecoderConfig(dst []byte, sps, pps [][]byte) ([]byte, error) {
	if len(sps) == 0 || len(pps) == 0 {
		return dst, fmt.Errorf("h264: decoder config needs an SPS and a PPS, got %d SPS and %d PPS", len(sps), len(pps))
	}
	if len(sps) > 31 || len(pps) > 255 {
		return dst, fmt.Errorf("h264: decoder config holds at most 31 SPS and 255 PPS, got %d and %d", len(sps), len(pps))
	}
	for _, n := range sps {
		if NALType(n) != TypeSPS || len(n) < 4 || len(n) > 0xffff {
			return dst, fmt.Errorf("h264: decoder config: NAL unit of type %d and %d bytes is not a usable SPS", NALType(n), len(n))
		}
	}
	for _, n := range pps {
		if NALType(n) != TypePPS || len(n) < 2 || len(n) > 0xffff {
			return dst, fmt.Errorf("h264: decoder config: NAL unit of type %d and %d bytes is not a usable PPS", NALType(n), len(n))
		}
	}
	first := sps[0]
	var ext []byte
	if hasConfigExtension(first[1]) {
		s, err := ParseSPS(first)
		if err != nil {
			return dst, fmt.Errorf("h264: decoder config: %w", err)
		}
		ext = []byte{
			0xfc | byte(s.ChromaFormatIDC),
			0xf8 | byte(s.BitDepthLuma-8),
			0xf8 | byte(s.BitDepthChroma-8),
			0,
		}
	}
	dst = append(dst, 1, first[1], first[2], first[3], 0xfc|3, 0xe0|byte(len(sps)))
	for _, n := range sps {
		dst = append(dst, byte(len(n)>>8), byte(len(n)))
		dst = append(dst, n...)
	}
	dst = append(dst, byte(len(pps)))
	for _, n := range pps {
		dst = append(dst, byte(len(n)>>8), byte(len(n)))
		dst = append(dst, n...)
	}
	return append(dst, ext...), nil
}

// DecoderConfig is a parsed AVCDecoderConfigurationRecord.
type DecoderConfig struct {
	ProfileIDC           byte
	ProfileCompatibility byte
	LevelIDC             byte
	LengthSize           int // bytes of each NAL unit length in AVCC samples: 1, 2 or 4
	SPS, PPS             [][]byte
	// HasExtension says whether the chroma format and bit depth bytes were present.
	HasExtension                 bool
	ChromaFormat                 byte
	BitDepthLuma, BitDepthChroma int
}

var errConfigShort = errors.New("h264: decoder config ends early")

// ParseDecoderConfig parses an AVCDecoderConfigurationRecord as AppendDecoderConfig lays it
// out. The parameter sets in the result alias b.
func ParseDecoderConfig(b []byte) (DecoderConfig, error) {
	var c DecoderConfig
	if len(b) < 7 {
		return c, errConfigShort
	}
	if b[0] != 1 {
		return c, fmt.Errorf("h264: decoder config version %d, want 1", b[0])
	}
	c.ProfileIDC, c.ProfileCompatibility, c.LevelIDC = b[1], b[2], b[3]
	c.LengthSize = int(b[4]&3) + 1
	if c.LengthSize == 3 {
		return c, errors.New("h264: decoder config length size 3 is invalid")
	}
	rest := b[5:]
	var err error
	if c.SPS, rest, err = parseParameterSets(rest, int(rest[0]&0x1f)); err != nil {
		return c, err
	}
	if len(rest) < 1 {
		return c, errConfigShort
	}
	if c.PPS, rest, err = parseParameterSets(rest, int(rest[0])); err != nil {
		return c, err
	}
	if hasConfigExtension(c.ProfileIDC) && len(rest) >= 4 {
		c.HasExtension = true
		c.ChromaFormat = rest[0] & 3
		c.BitDepthLuma = int(rest[1]&7) + 8
		c.BitDepthChroma = int(rest[2]&7) + 8
	}
	return c, nil
}

// parseParameterSets reads n { u16 length; NAL unit } entries after the count byte at b[0].
func parseParameterSets(b []byte, n int) (sets [][]byte, rest []byte, err error) {
	b = b[1:]
	for range n {
		if len(b) < 2 {
			return nil, nil, errConfigShort
		}
		l := int(b[0])<<8 | int(b[1])
		if len(b) < 2+l {
			return nil, nil, errConfigShort
		}
		sets = append(sets, b[2:2+l])
		b = b[2+l:]
	}
	return sets, b, nil
}
