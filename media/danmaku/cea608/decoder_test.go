package cea608

import (
	"fmt"
	"strings"
)

// screen is a small CC1 roll-up decoder for the tests, following what ffmpeg's ccaption
// decoder does: pairs equal to the previous non-character pair are dropped, extended
// characters overwrite the character before them, CR rolls the rows up.
type screen struct {
	rows    []string // completed rows, oldest first (rolled up)
	cur     []rune   // the bottom row being written
	prev    [2]byte
	rollup  int
	erased  int
	lastErr error
}

// feed decodes pairs; it records the first protocol error (bad parity, unknown code).
func (s *screen) feed(pairs []byte) {
	for i := 0; i+1 < len(pairs); i += 2 {
		hi, lo := pairs[i], pairs[i+1]
		if withParity(hi) != hi || withParity(lo) != lo {
			s.fail("pair %d: bad parity % x", i/2, pairs[i:i+2])
			continue
		}
		hi, lo = hi&0x7f, lo&0x7f
		if hi >= 0x20 { // basic characters
			s.prev = [2]byte{}
			s.put(hi)
			if lo != 0 {
				s.put(lo)
			}
			continue
		}
		if hi == 0 && lo == 0 {
			continue // padding
		}
		if s.prev == [2]byte{hi, lo} {
			continue // the redundant copy
		}
		s.prev = [2]byte{hi, lo}
		switch {
		case hi == 0x14 && (lo == cmdRU2 || lo == cmdRU3):
			s.rollup = int(lo - 0x23)
		case hi == 0x14 && lo == cmdCR:
			if len(s.cur) > 0 {
				s.rows = append(s.rows, string(s.cur))
			}
			s.cur = nil
		case hi == 0x14 && lo == cmdEDM:
			s.erased++
			if len(s.cur) > 0 {
				s.rows = append(s.rows, string(s.cur))
			}
			s.cur = nil
		case hi == pacRow15Hi && lo == pacRow15Lo:
		case hi == 0x11 && lo >= 0x30 && lo <= 0x3f:
			s.cur = append(s.cur, special[lo-0x30])
		case (hi == 0x12 || hi == 0x13) && lo >= 0x20 && lo <= 0x3f:
			if len(s.cur) == 0 {
				s.fail("extended character without a fallback before it")
				continue
			}
			set := &extended12
			if hi == 0x13 {
				set = &extended13
			}
			s.cur[len(s.cur)-1] = set[lo-0x20]
		default:
			s.fail("unexpected code %02x %02x", hi, lo)
		}
		if len(s.cur) > Columns {
			s.fail("row longer than %d columns: %q", Columns, string(s.cur))
		}
	}
}

func (s *screen) put(b byte) {
	s.cur = append(s.cur, glyph{lo: b}.rune())
}

func (s *screen) fail(format string, args ...any) {
	if s.lastErr == nil {
		s.lastErr = fmt.Errorf(format, args...)
	}
}

// text returns every row written so far, the bottom one included, one per line.
func (s *screen) text() string {
	all := append([]string(nil), s.rows...)
	if len(s.cur) > 0 {
		all = append(all, string(s.cur))
	}
	return strings.Join(all, "\n")
}
