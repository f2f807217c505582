package h264

import (
	"bytes"
	"slices"
)

// ParameterSets is one SPS/PPS set of a stream, immutable once made: copies of the NAL
// units, the first SPS parsed, and the AVCDecoderConfigurationRecord that carries both in
// FLV and MP4. Whoever needs the stream's size, frame rate or sequence header takes them
// from here instead of parsing again.
type ParameterSets struct {
	SPS, PPS [][]byte
	Info     SPS
	Record   []byte
}

// NextParameterSets returns the parameter sets in force after an access unit of nalus:
// cur itself when the unit carries none or the same ones, a new set when it changes them
// (an SPS or a PPS alone replaces that half of cur), and nil while no unit has had both.
// An SPS that does not parse, or a set the decoder record cannot hold, is an error, and
// cur stays in force.
func NextParameterSets(cur *ParameterSets, nalus [][]byte) (*ParameterSets, error) {
	var sps, pps [][]byte
	for _, n := range nalus {
		switch NALType(n) {
		case TypeSPS:
			sps = append(sps, n)
		case TypePPS:
			pps = append(pps, n)
		}
	}
	if len(sps) == 0 && len(pps) == 0 {
		return cur, nil
	}
	if cur != nil && (len(sps) == 0 || slices.EqualFunc(cur.SPS, sps, bytes.Equal)) &&
		(len(pps) == 0 || slices.EqualFunc(cur.PPS, pps, bytes.Equal)) {
		return cur, nil
	}
	if len(sps) == 0 && cur != nil {
		sps = cur.SPS
	}
	if len(pps) == 0 && cur != nil {
		pps = cur.PPS
	}
	if len(sps) == 0 || len(pps) == 0 {
		return cur, nil // wait for a unit that has both
	}
	info, err := ParseSPS(sps[0])
	if err != nil {
		return cur, err
	}
	next := &ParameterSets{SPS: cloneNALUs(sps), PPS: cloneNALUs(pps), Info: info}
	if next.Record, err = AppendDecoderConfig(nil, next.SPS, next.PPS); err != nil {
		return cur, err
	}
	return next, nil
}

func cloneNALUs(in [][]byte) [][]byte {
	out := make([][]byte, len(in))
	for i, n := range in {
		out[i] = bytes.Clone(n)
	}
	return out
}
