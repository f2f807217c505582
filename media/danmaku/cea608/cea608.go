// Package cea608 turns chat lines into CEA-608 roll-up captions on CC1 and carries them as ATSC A/53 cc_data for an H.264 SEI.
package cea608

// Columns is the width of a caption row.
const Columns = 32

// Control codes of data channel 1 (CC1, field 1): the first byte 0x14, the second the
// command. Each is sent twice in a row, as decoders expect: the repeat is ignored.
const (
	ctrl       = 0x14
	cmdRU2     = 0x25 // roll-up captions, 2 rows
	cmdRU3     = 0x26 // roll-up captions, 3 rows
	cmdEDM     = 0x2c // erase displayed memory
	cmdCR      = 0x2d // carriage return: roll the rows up, cursor to column 0
	pacRow15Hi = 0x14 // preamble address code: row 15, column 0, white
	pacRow15Lo = 0x60
)

// withParity sets bit 7 of a 7-bit 608 byte so that the byte has odd parity.
func withParity(b byte) byte {
	b &= 0x7f
	ones := 0
	for v := b; v != 0; v &= v - 1 {
		ones++
	}
	if ones%2 == 0 {
		b |= 0x80
	}
	return b
}

func appendPair(dst []byte, hi, lo byte) []byte {
	return append(dst, withParity(hi), withParity(lo))
}

func appendCommand(dst []byte, hi, lo byte) []byte {
	return appendPair(appendPair(dst, hi, lo), hi, lo)
}

// AppendCaption appends the byte pairs (two bytes each, parity set) that show text as
// roll-up captions of rows rows (2 or 3; anything else counts as 2):
//
//	RUx RUx  PAC(row 15) PAC  { CR CR  characters of one row }...
//
// Text is wrapped at spaces into rows of at most Columns characters; characters outside
// the 608 set become their closest basic form or '?' (see Translate). Each row starts
// with a carriage return, so the newest row is always the bottom one. Nothing is added for
// text that shows nothing.
func AppendCaption(dst []byte, rows int, text string) []byte {
	gs := make([]glyph, 0, len(text))
	for _, r := range text {
		gs = appendGlyphs(gs, r)
	}
	lines := wrap(gs)
	if len(lines) == 0 {
		return dst
	}
	ru := byte(cmdRU2)
	if rows == 3 {
		ru = cmdRU3
	}
	dst = appendCommand(dst, ctrl, ru)
	dst = appendCommand(dst, pacRow15Hi, pacRow15Lo)
	for _, line := range lines {
		dst = appendCommand(dst, ctrl, cmdCR)
		dst = appendRow(dst, line, ru)
	}
	return dst
}

// AppendErase appends the pairs that clear the captions on screen (EDM, twice).
func AppendErase(dst []byte) []byte {
	return appendCommand(dst, ctrl, cmdEDM)
}

// appendRow appends the characters of one row. Basic characters go two to a pair (the
// second byte 0x00, a null, when one is left over); special and extended characters take
// a pair of their own, an extended one right after its basic fallback. Decoders ignore a
// non-basic pair equal to the one just before it (they take it for the redundant copy of
// a control code), so between two equal special characters goes a harmless repeat of the
// roll-up command.
func appendRow(dst []byte, row []glyph, ru byte) []byte {
	half := -1 // a basic byte waiting for its partner
	var last [2]byte
	flush := func() {
		if half >= 0 {
			dst = appendPair(dst, byte(half), 0)
			half = -1
			last = [2]byte{}
		}
	}
	basic := func(b byte) {
		if half < 0 {
			half = int(b)
			return
		}
		dst = appendPair(dst, byte(half), b)
		half = -1
		last = [2]byte{}
	}
	for _, g := range row {
		switch {
		case g.basic():
			basic(g.lo)
		case g.extended():
			basic(g.fallback)
			flush()
			dst = appendPair(dst, g.hi, g.lo)
			last = [2]byte{g.hi, g.lo}
		default:
			flush()
			if last == [2]byte{g.hi, g.lo} {
				dst = appendPair(dst, ctrl, ru)
			}
			dst = appendPair(dst, g.hi, g.lo)
			last = [2]byte{g.hi, g.lo}
		}
	}
	flush()
	return dst
}

// wrap breaks glyphs into rows of at most Columns, at spaces where it can; spaces at the
// start and end of a row are dropped.
func wrap(gs []glyph) [][]glyph {
	space := glyphs[' ']
	var rows [][]glyph
	for {
		for len(gs) > 0 && gs[0] == space {
			gs = gs[1:]
		}
		if len(gs) == 0 {
			return rows
		}
		n := len(gs)
		if n > Columns {
			n = Columns
			for i := Columns; i > 0; i-- {
				if gs[i] == space {
					n = i
					break
				}
			}
		}
		row := gs[:n]
		for len(row) > 0 && row[len(row)-1] == space {
			row = row[:len(row)-1]
		}
		rows = append(rows, row)
		gs = gs[n:]
	}
}

// ATSC A/53 Part 4 cc_data in ITU-T T.35 registered user data (SEI payload type 4):
//
//	B5          itu_t_t35_country_code (United States)
//	00 31       itu_t_t35_provider_code (ATSC)
//	47 41 39 34 user_identifier "GA94"
//	03          user_data_type_code: cc_data
//	C0|n        reserved 1, process_cc_data_flag 1, zero 0, cc_count n (5 bits)
//	FF          em_data (reserved)
//	n x { FC b1 b2 }  marker 11111, cc_valid 1, cc_type 00 (608 field 1), the byte pair
//	      { F9 80 80 }  the field-2 slot: cc_valid 0, cc_type 01, null bytes
//	FF          marker_bits
var ccDataHeader = [...]byte{0xb5, 0x00, 0x31, 'G', 'A', '9', '4', 0x03}

// MaxPairsPerSEI is how many field-1 pairs one cc_data can carry beside the field-2 slot.
const MaxPairsPerSEI = 30

// AppendCCData appends the T.35 payload (for an SEI message of type 4) that carries the
// field-1 byte pairs in pairs (already with parity, as AppendCaption makes them) plus an
// empty field-2 slot. pairs holds at most MaxPairsPerSEI pairs; an odd trailing byte and
// pairs beyond the limit are ignored.
func AppendCCData(dst []byte, pairs []byte) []byte {
	n := min(len(pairs)/2, MaxPairsPerSEI)
	dst = append(dst, ccDataHeader[:]...)
	dst = append(dst, 0xc0|byte(n+1), 0xff)
	for i := 0; i < n; i++ {
		dst = append(dst, 0xfc, pairs[2*i], pairs[2*i+1])
	}
	dst = append(dst, 0xf9, 0x80, 0x80)
	return append(dst, 0xff)
}

// CCDataSize is the size of AppendCCData's payload for n pairs.
func CCDataSize(n int) int { return len(ccDataHeader) + 2 + 3*min(n, MaxPairsPerSEI) + 3 + 1 }
