package h264

import (
	"bytes"
	"fmt"
)

// DefaultMaxAccessUnitSize bounds the bytes a Splitter holds for one access unit when
// Splitter.MaxSize is zero. A 1080p IDR frame at broadcast bitrates is well under 2 MiB.
const DefaultMaxAccessUnitSize = 16 << 20

// Splitter cuts an Annex-B byte stream that arrives in pieces of any size into access units
// (H.264 7.4.1.2.3). A new access unit begins, once the current one holds a coded slice, at
// an access unit delimiter, SPS, PPS, SEI, NAL types 14 to 18, or a slice whose
// first_mb_in_slice is 0, so the slices of one picture stay together. An access unit is
// emitted as soon as the first two bytes of the NAL unit after it have arrived, so a live
// source passes a frame on when the next one starts to arrive, not when it is complete.
//
// The zero value is ready to use. After warm-up it does not allocate: it reuses its buffer,
// and the NAL units it emits point into that buffer.
type Splitter struct {
	// MaxSize bounds the bytes of one access unit plus the unfinished NAL unit after it;
	// Push fails beyond it, so a stream without start codes cannot grow memory without
	// bound. Zero means DefaultMaxAccessUnitSize.
	MaxSize int

	buf      []byte
	scanFrom int      // where the search for the next start code resumes
	nalStart int      // offset of the NAL unit being received, after its start code; -1 before the first start code
	nalSeen  bool     // the NAL unit being received was already checked for beginning an access unit
	au       []span   // complete NAL units of the current access unit, offsets into buf
	auVCL    bool     // the current access unit already holds a coded slice
	out      [][]byte // reused for the emit argument
	consumed int64    // stream bytes dropped from the front of buf
	auOffset int64    // stream offset of the emitted access unit's first NAL unit
}

type span struct{ start, end int }

// Push appends stream bytes and calls emit once for every access unit that is complete,
// with its NAL units without start codes. The slices are valid only during emit. An error
// from emit stops Push and is returned.
func (s *Splitter) Push(data []byte, emit func(nalus [][]byte) error) error {
	if s.buf == nil {
		s.nalStart = -1
	}
	s.compact(len(data))
	s.buf = append(s.buf, data...)
	for {
		i := bytes.Index(s.buf[s.scanFrom:], startCode)
		if i < 0 {
			break
		}
		sc := s.scanFrom + i
		s.scanFrom = sc + 3
		var err error
		if s.nalStart >= 0 {
			err = s.nalEnded(s.nalStart, sc, emit)
		}
		s.nalStart = s.scanFrom
		s.nalSeen = false
		if err != nil {
			return err
		}
	}
	// Two bytes of the open NAL unit tell whether it begins the next access unit; the
	// current one can go now rather than a frame later, when the open one is complete.
	if s.nalStart >= 0 && !s.nalSeen && len(s.buf)-s.nalStart >= 2 {
		s.nalSeen = true
		if s.auVCL && beginsAccessUnit(s.buf[s.nalStart:s.nalStart+2]) {
			if err := s.emit(emit); err != nil {
				return err
			}
		}
	}
	// The last two bytes may be the start of a start code that the next Push completes.
	s.scanFrom = max(s.scanFrom, len(s.buf)-2)
	if s.pending() > s.maxSize() {
		n := s.pending()
		s.Reset()
		return fmt.Errorf("h264: access unit exceeds %d bytes (%d buffered without an end)", s.maxSize(), n)
	}
	return nil
}

// Flush ends the stream: the NAL unit still open ends at the last byte pushed, and the
// access unit in progress is emitted if it holds a coded slice (a stream that ends in bare
// parameter sets has no picture to show). The Splitter is then ready for a new stream.
func (s *Splitter) Flush(emit func(nalus [][]byte) error) error {
	var err error
	if s.buf != nil && s.nalStart >= 0 {
		err = s.nalEnded(s.nalStart, len(s.buf), emit)
	}
	if err == nil && s.auVCL {
		err = s.emit(emit)
	}
	s.Reset()
	return err
}

// Reset drops everything buffered and starts a new stream, keeping the memory.
func (s *Splitter) Reset() {
	s.buf = s.buf[:0]
	s.scanFrom = 0
	s.nalStart = -1
	s.nalSeen = false
	s.au = s.au[:0]
	s.auVCL = false
	s.consumed = 0
}

// Offset is the position in the stream (counting every byte pushed since the last Flush or
// Reset) of the start code of the first NAL unit of the access unit being emitted. It is
// meaningful only during emit; a source uses it to find when that access unit began to
// arrive.
func (s *Splitter) Offset() int64 { return s.auOffset }

func (s *Splitter) maxSize() int {
	if s.MaxSize > 0 {
		return s.MaxSize
	}
	return DefaultMaxAccessUnitSize
}

// pending is the number of bytes held for the current access unit and the open NAL unit.
func (s *Splitter) pending() int {
	return len(s.buf) - s.keepFrom()
}

// keepFrom is the first byte of buf still needed.
func (s *Splitter) keepFrom() int {
	switch {
	case len(s.au) > 0:
		return s.au[0].start - 3
	case s.nalStart >= 0:
		return s.nalStart - 3
	default:
		return s.scanFrom
	}
}

// compact moves the bytes still needed to the front of buf when room for n more bytes
// would otherwise mean growing it, so buf stays near the size of the largest access unit.
func (s *Splitter) compact(n int) {
	if cap(s.buf)-len(s.buf) >= n {
		return
	}
	k := s.keepFrom()
	if k <= 0 {
		return
	}
	s.buf = s.buf[:copy(s.buf, s.buf[k:])]
	s.consumed += int64(k)
	s.scanFrom -= k
	if s.nalStart >= 0 {
		s.nalStart -= k
	}
	for i := range s.au {
		s.au[i].start -= k
		s.au[i].end -= k
	}
}

// nalEnded takes the NAL unit buf[start:end] (trailing zeros included) into the current
// access unit, first emitting the current one if this NAL unit begins a new one.
func (s *Splitter) nalEnded(start, end int, emit func([][]byte) error) error {
	for end > start && s.buf[end-1] == 0 {
		end--
	}
	if end == start {
		return nil
	}
	nalu := s.buf[start:end]
	var err error
	if !s.nalSeen && s.auVCL && beginsAccessUnit(nalu) {
		err = s.emit(emit)
	}
	s.au = append(s.au, span{start, end})
	if IsVCL(NALType(nalu)) {
		s.auVCL = true
	}
	return err
}

func (s *Splitter) emit(emit func([][]byte) error) error {
	s.out = s.out[:0]
	for _, sp := range s.au {
		s.out = append(s.out, s.buf[sp.start:sp.end])
	}
	s.auOffset = s.consumed + int64(s.au[0].start-3)
	s.au = s.au[:0]
	s.auVCL = false
	return emit(s.out)
}

// beginsAccessUnit reports whether a NAL unit that follows a coded slice starts the next
// access unit (H.264 7.4.1.2.3 and 7.4.1.2.4, simplified to first_mb_in_slice).
func beginsAccessUnit(nalu []byte) bool {
	switch t := NALType(nalu); {
	case t == TypeSEI, t == TypeSPS, t == TypePPS, t == TypeAUD, t >= 14 && t <= 18:
		return true
	case t == TypeSlice, t == TypeSliceA, t == TypeIDR:
		// first_mb_in_slice is the first ue(v) of the slice header; it is 0 exactly when its
		// first bit is 1. The header byte is never zero, so no emulation-prevention byte
		// can sit in between.
		return len(nalu) > 1 && nalu[1]&0x80 != 0
	}
	return false
}
