package flv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// Tag types of the FLV tag header (the low 5 bits of its first byte).
const (
	TagAudio  byte = 8
	TagVideo  byte = 9
	TagScript byte = 18
)

// Sizes of the fixed parts of an FLV file.
const (
	FileHeaderSize  = 9  // "FLV", version, flags, data offset
	TagHeaderSize   = 11 // type, data size, timestamp, timestamp extended, stream id
	PrevTagSizeSize = 4  // PreviousTagSize after every tag (and PreviousTagSize0 after the header)

	// MaxTagBodySize is the largest body the 24-bit DataSize field can describe.
	MaxTagBodySize = 1<<24 - 1
)

// AppendFileHeader appends the FLV file header and PreviousTagSize0:
//
//	'F' 'L' 'V' 0x01  flags  00 00 00 09  |  00 00 00 00
//	                  flags = 0x04 (audio) | 0x01 (video)
//
// 13 bytes in all; the first tag follows directly.
func AppendFileHeader(dst []byte, hasVideo, hasAudio bool) []byte {
	var flags byte
	if hasAudio {
		flags |= 0x04
	}
	if hasVideo {
		flags |= 0x01
	}
	return append(dst, 'F', 'L', 'V', 0x01, flags, 0, 0, 0, FileHeaderSize, 0, 0, 0, 0)
}

// AppendTag appends one FLV tag and the PreviousTagSize that follows it:
//
//	type(1)  data size(3, BE)  timestamp(3, BE, low 24 bits)  timestamp extended(1, bits 24-31)
//	stream id(3) = 0  |  body  |  previous tag size(4, BE) = 11 + len(body)
//
// The body must be at most MaxTagBodySize bytes; a longer body is a programming error and
// panics, because the header could not describe it.
func AppendTag(dst []byte, tagType byte, timestamp uint32, body []byte) []byte {
	n := len(body)
	if n > MaxTagBodySize {
		panic(fmt.Sprintf("flv: tag body of %d bytes exceeds %d", n, MaxTagBodySize))
	}
	dst = append(dst,
		tagType&0x1f,
		byte(n>>16), byte(n>>8), byte(n),
		byte(timestamp>>16), byte(timestamp>>8), byte(timestamp), byte(timestamp>>24),
		0, 0, 0)
	dst = append(dst, body...)
	return binary.BigEndian.AppendUint32(dst, uint32(TagHeaderSize+n))
}

// Tag is one tag of an FLV file.
type Tag struct {
	Type      byte   // TagAudio, TagVideo, TagScript (filter and reserved bits removed)
	Timestamp uint32 // milliseconds, the 24-bit field with TimestampExtended as bits 24-31
	Body      []byte // the tag's data; owned by the caller, not reused by the Reader
}

// FileHeader is what the 9-byte FLV file header says.
type FileHeader struct {
	Version  byte
	HasAudio bool
	HasVideo bool
}

// ErrNotFLV is returned by Reader.Next when the input does not start with an FLV header.
var ErrNotFLV = errors.New("flv: not an FLV file")

// Reader iterates the tags of an FLV file. It checks each PreviousTagSize against the tag it
// follows, so a truncated or spliced file shows as an error rather than as garbage tags.
type Reader struct {
	r       io.Reader
	header  FileHeader
	started bool
	err     error
	offset  int64 // bytes consumed, for error messages
	hdr     [TagHeaderSize + PrevTagSizeSize]byte
}

// NewReader returns a Reader of the FLV file r. It reads nothing until the first Next.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Header returns the file header; it is read by the first call to Header or Next.
func (r *Reader) Header() (FileHeader, error) {
	if !r.started {
		r.readHeader()
	}
	return r.header, r.err
}

// readHeader reads the 9-byte header, skips any extra header bytes the data offset declares,
// and reads PreviousTagSize0 (which must be 0).
func (r *Reader) readHeader() {
	r.started = true
	var h [FileHeaderSize]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		r.err = fmt.Errorf("flv: read file header: %w", unexpectedEOF(err))
		return
	}
	if h[0] != 'F' || h[1] != 'L' || h[2] != 'V' {
		r.err = fmt.Errorf("%w: signature % x", ErrNotFLV, h[:3])
		return
	}
	r.header = FileHeader{Version: h[3], HasAudio: h[4]&0x04 != 0, HasVideo: h[4]&0x01 != 0}
	offset := binary.BigEndian.Uint32(h[5:9])
	if offset < FileHeaderSize {
		r.err = fmt.Errorf("%w: data offset %d < %d", ErrNotFLV, offset, FileHeaderSize)
		return
	}
	if _, err := io.CopyN(io.Discard, r.r, int64(offset-FileHeaderSize)); err != nil {
		r.err = fmt.Errorf("flv: skip %d extra header bytes: %w", offset-FileHeaderSize, unexpectedEOF(err))
		return
	}
	var prev [PrevTagSizeSize]byte
	if _, err := io.ReadFull(r.r, prev[:]); err != nil {
		r.err = fmt.Errorf("flv: read PreviousTagSize0: %w", unexpectedEOF(err))
		return
	}
	if p := binary.BigEndian.Uint32(prev[:]); p != 0 {
		r.err = fmt.Errorf("flv: PreviousTagSize0 is %d, want 0", p)
		return
	}
	r.offset = int64(offset) + PrevTagSizeSize
}

// Next returns the next tag. At the clean end of the file it returns io.EOF; a file that ends
// inside a tag gives io.ErrUnexpectedEOF. After an error every call returns the same error.
func (r *Reader) Next() (Tag, error) {
	if !r.started {
		r.readHeader()
	}
	if r.err != nil {
		return Tag{}, r.err
	}
	tag, err := r.next()
	if err != nil {
		r.err = err
	}
	return tag, err
}

func (r *Reader) next() (Tag, error) {
	h := r.hdr[:TagHeaderSize]
	if n, err := io.ReadFull(r.r, h); err != nil {
		if err == io.EOF && n == 0 {
			return Tag{}, io.EOF
		}
		return Tag{}, fmt.Errorf("flv: read tag header at offset %d: %w", r.offset, unexpectedEOF(err))
	}
	size := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	tag := Tag{
		Type:      h[0] & 0x1f,
		Timestamp: uint32(h[7])<<24 | uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6]),
	}
	body, err := readBody(r.r, size)
	if err != nil {
		return Tag{}, fmt.Errorf("flv: read %d-byte body of tag type %d at offset %d: %w", size, tag.Type, r.offset, unexpectedEOF(err))
	}
	tag.Body = body
	prev := r.hdr[TagHeaderSize:]
	if _, err := io.ReadFull(r.r, prev); err != nil {
		return Tag{}, fmt.Errorf("flv: read PreviousTagSize of tag at offset %d: %w", r.offset, unexpectedEOF(err))
	}
	if p := binary.BigEndian.Uint32(prev); p != uint32(TagHeaderSize+size) {
		return Tag{}, fmt.Errorf("flv: PreviousTagSize %d after tag at offset %d, want %d", p, r.offset, TagHeaderSize+size)
	}
	r.offset += int64(TagHeaderSize + size + PrevTagSizeSize)
	return tag, nil
}

// readBody reads n bytes. Large bodies are read in steps so that a corrupt size field on a
// short input costs memory in proportion to the input, not to the claimed size.
func readBody(r io.Reader, n int) ([]byte, error) {
	const step = 64 << 10
	if n <= step {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	b := make([]byte, 0, step)
	for len(b) < n {
		k := min(n-len(b), step)
		b = slices.Grow(b, k)
		m, err := io.ReadFull(r, b[len(b):len(b)+k])
		b = b[:len(b)+m]
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadFile reads the FLV file at path whole: its header and its tags in order. A file that
// ends inside a tag (one an ingest is still writing) gives the tags before it and the error.
func ReadFile(path string) (FileHeader, []Tag, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileHeader{}, nil, err
	}
	defer f.Close()
	r := NewReader(bufio.NewReader(f))
	hdr, err := r.Header()
	if err != nil {
		return hdr, nil, err
	}
	var tags []Tag
	for {
		tag, err := r.Next()
		if err == io.EOF {
			return hdr, tags, nil
		}
		if err != nil {
			return hdr, tags, fmt.Errorf("%s after %d tags: %w", path, len(tags), err)
		}
		tags = append(tags, tag)
	}
}
