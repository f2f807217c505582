package h264

import (
	"errors"
	"fmt"
)

// SPS is what camnode needs from a sequence parameter set (H.264 7.3.2.1.1).
type SPS struct {
	ProfileIDC byte
	// ConstraintFlags is the byte after profile_idc: constraint_set0_flag in the top bit
	// down to constraint_set5_flag, then two reserved zero bits.
	ConstraintFlags byte
	LevelIDC        byte
	ID              uint32
	// ChromaFormatIDC is 0 (monochrome), 1 (4:2:0), 2 (4:2:2) or 3 (4:4:4); 1 when the
	// profile does not code it.
	ChromaFormatIDC      uint32
	SeparateColourPlane  bool
	BitDepthLuma         int // 8 when the profile does not code it
	BitDepthChroma       int
	FrameMBsOnly         bool
	PicOrderCntType      uint32
	MaxNumRefFrames      uint32
	Width, Height        int // displayed size in luma samples, after frame cropping
	CodedWidth           int // size of the coded macroblock grid, before cropping
	CodedHeight          int
	SARWidth, SARHeight  uint32 // sample aspect ratio; 0 when absent
	NumUnitsInTick       uint32 // VUI timing; 0 when absent
	TimeScale            uint32
	FixedFrameRate       bool
	TimingInfoPresent    bool
	VUIParametersPresent bool
}

// FrameRate is the frame rate the VUI timing info states, time_scale / (2 *
// num_units_in_tick) (one frame is two fields' worth of ticks), or 0 when the SPS has none.
func (s SPS) FrameRate() float64 {
	if !s.TimingInfoPresent || s.NumUnitsInTick == 0 || s.TimeScale == 0 {
		return 0
	}
	return float64(s.TimeScale) / (2 * float64(s.NumUnitsInTick))
}

// hasChromaInfo lists the profile_idc values whose SPS codes chroma_format_idc, bit depths
// and scaling matrices (H.264 7.3.2.1.1).
func hasChromaInfo(profile byte) bool {
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return true
	}
	return false
}

// Limits beyond anything a level in H.264 annex A allows; they keep size arithmetic far
// from overflow on hostile input.
const (
	maxMBs          = 1 << 12
	maxRefFrameList = 255
)

// ParseSPS parses a sequence parameter set NAL unit (with its one-byte header, without a
// start code). It reads through the VUI timing info and ignores what follows. It returns
// an error, never panics, on any malformed input.
func ParseSPS(nalu []byte) (SPS, error) {
	if len(nalu) < 4 {
		return SPS{}, fmt.Errorf("h264: SPS of %d bytes is too short", len(nalu))
	}
	if t := NALType(nalu); t != TypeSPS {
		return SPS{}, fmt.Errorf("h264: NAL unit type %d is not an SPS", t)
	}
	var buf [128]byte
	rbsp := RemoveEmulationPrevention(buf[:0], nalu[1:])
	s, err := parseSPS(rbsp)
	if err != nil {
		return SPS{}, fmt.Errorf("h264: parse SPS: %w", err)
	}
	return s, nil
}

func parseSPS(rbsp []byte) (SPS, error) {
	r := &bitReader{b: rbsp}
	s := SPS{
		ProfileIDC:      byte(r.bits(8)),
		ConstraintFlags: byte(r.bits(8)),
		LevelIDC:        byte(r.bits(8)),
		ID:              r.ue(),
		ChromaFormatIDC: 1,
		BitDepthLuma:    8,
		BitDepthChroma:  8,
	}
	if s.ID > 31 {
		return SPS{}, fmt.Errorf("seq_parameter_set_id %d out of range", s.ID)
	}
	if hasChromaInfo(s.ProfileIDC) {
		s.ChromaFormatIDC = r.ue()
		if s.ChromaFormatIDC > 3 {
			return SPS{}, fmt.Errorf("chroma_format_idc %d out of range", s.ChromaFormatIDC)
		}
		if s.ChromaFormatIDC == 3 {
			s.SeparateColourPlane = r.flag()
		}
		luma, chroma := r.ue(), r.ue()
		if luma > 6 || chroma > 6 {
			return SPS{}, fmt.Errorf("bit depth %d/%d out of range", luma+8, chroma+8)
		}
		s.BitDepthLuma, s.BitDepthChroma = int(luma)+8, int(chroma)+8
		r.flag()      // qpprime_y_zero_transform_bypass_flag
		if r.flag() { // seq_scaling_matrix_present_flag
			lists := 8
			if s.ChromaFormatIDC == 3 {
				lists = 12
			}
			for i := range lists {
				if r.flag() { // seq_scaling_list_present_flag[i]
					size := 16
					if i >= 6 {
						size = 64
					}
					skipScalingList(r, size)
				}
			}
		}
	}
	if n := r.ue(); n > 12 { // log2_max_frame_num_minus4
		return SPS{}, fmt.Errorf("log2_max_frame_num_minus4 %d out of range", n)
	}
	s.PicOrderCntType = r.ue()
	switch s.PicOrderCntType {
	case 0:
		if n := r.ue(); n > 12 { // log2_max_pic_order_cnt_lsb_minus4
			return SPS{}, fmt.Errorf("log2_max_pic_order_cnt_lsb_minus4 %d out of range", n)
		}
	case 1:
		r.flag() // delta_pic_order_always_zero_flag
		r.se()   // offset_for_non_ref_pic
		r.se()   // offset_for_top_to_bottom_field
		n := r.ue()
		if n > maxRefFrameList {
			return SPS{}, fmt.Errorf("num_ref_frames_in_pic_order_cnt_cycle %d out of range", n)
		}
		for range n {
			r.se() // offset_for_ref_frame[i]
			if r.err != nil {
				return SPS{}, r.err
			}
		}
	case 2:
	default:
		return SPS{}, fmt.Errorf("pic_order_cnt_type %d out of range", s.PicOrderCntType)
	}
	s.MaxNumRefFrames = r.ue()
	r.flag() // gaps_in_frame_num_value_allowed_flag
	widthMBs, heightMapUnits := r.ue(), r.ue()
	if widthMBs >= maxMBs || heightMapUnits >= maxMBs {
		return SPS{}, fmt.Errorf("picture of %dx%d macroblocks too large", widthMBs+1, heightMapUnits+1)
	}
	s.FrameMBsOnly = r.flag()
	if !s.FrameMBsOnly {
		r.flag() // mb_adaptive_frame_field_flag
	}
	r.flag() // direct_8x8_inference_flag
	fieldFactor := 1
	if !s.FrameMBsOnly {
		fieldFactor = 2
	}
	s.CodedWidth = int(widthMBs+1) * 16
	s.CodedHeight = fieldFactor * int(heightMapUnits+1) * 16
	s.Width, s.Height = s.CodedWidth, s.CodedHeight
	if r.flag() { // frame_cropping_flag
		left, right, top, bottom := r.ue(), r.ue(), r.ue(), r.ue()
		if r.err != nil {
			return SPS{}, r.err
		}
		// Crop offsets count in chroma sample units (H.264 equations 7-19 to 7-22).
		unitX, unitY := 1, fieldFactor
		if !s.SeparateColourPlane && s.ChromaFormatIDC != 0 {
			subW, subH := 2, 2 // 4:2:0
			switch s.ChromaFormatIDC {
			case 2:
				subH = 1
			case 3:
				subW, subH = 1, 1
			}
			unitX, unitY = subW, subH*fieldFactor
		}
		cropX := uint64(unitX) * (uint64(left) + uint64(right))
		cropY := uint64(unitY) * (uint64(top) + uint64(bottom))
		if cropX >= uint64(s.CodedWidth) || cropY >= uint64(s.CodedHeight) {
			return SPS{}, fmt.Errorf("frame cropping %d,%d,%d,%d leaves nothing of %dx%d",
				left, right, top, bottom, s.CodedWidth, s.CodedHeight)
		}
		s.Width -= int(cropX)
		s.Height -= int(cropY)
	}
	s.VUIParametersPresent = r.flag()
	if r.err != nil {
		return SPS{}, r.err
	}
	if s.VUIParametersPresent {
		if err := parseVUITiming(r, &s); err != nil {
			return SPS{}, fmt.Errorf("VUI: %w", err)
		}
	}
	return s, nil
}

// skipScalingList reads past scaling_list() (H.264 7.3.2.1.1.1), whose delta_scale values
// stop mattering once nextScale reaches 0.
func skipScalingList(r *bitReader, size int) {
	last, next := int32(8), int32(8)
	for range size {
		if next != 0 {
			delta := r.se()
			next = (last + delta + 256) % 256
			if r.err != nil {
				return
			}
		}
		if next != 0 {
			last = next
		}
	}
}

// parseVUITiming reads vui_parameters() (H.264 E.1.1) up to and including the timing info.
func parseVUITiming(r *bitReader, s *SPS) error {
	if r.flag() { // aspect_ratio_info_present_flag
		idc := r.bits(8)
		if idc == 255 { // Extended_SAR
			s.SARWidth, s.SARHeight = r.bits(16), r.bits(16)
		} else if int(idc) < len(sarTable) {
			s.SARWidth, s.SARHeight = sarTable[idc][0], sarTable[idc][1]
		}
	}
	if r.flag() { // overscan_info_present_flag
		r.flag() // overscan_appropriate_flag
	}
	if r.flag() { // video_signal_type_present_flag
		r.bits(3) // video_format
		r.flag()  // video_full_range_flag
		if r.flag() {
			r.bits(24) // colour_primaries, transfer_characteristics, matrix_coefficients
		}
	}
	if r.flag() { // chroma_loc_info_present_flag
		r.ue()
		r.ue()
	}
	if r.flag() { // timing_info_present_flag
		s.NumUnitsInTick = r.bits(32)
		s.TimeScale = r.bits(32)
		s.FixedFrameRate = r.flag()
		s.TimingInfoPresent = true
	}
	if r.err != nil {
		if errors.Is(r.err, errShort) {
			// Some encoders cut the VUI short; what was read before stays valid only if
			// the timing info itself was complete.
			s.TimingInfoPresent = false
			s.NumUnitsInTick, s.TimeScale = 0, 0
			return nil
		}
		return r.err
	}
	return nil
}

// sarTable is the sample aspect ratio of aspect_ratio_idc 0 to 16 (H.264 table E-1).
var sarTable = [...][2]uint32{
	{0, 0}, {1, 1}, {12, 11}, {10, 11}, {16, 11}, {40, 33}, {24, 11}, {20, 11}, {32, 11},
	{80, 33}, {18, 11}, {15, 11}, {64, 33}, {160, 99}, {4, 3}, {3, 2}, {2, 1},
}
