package ingest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"github.com/camnode/camnode/media/flv"
)

// RTMP message types the guard looks into (RTMP spec 5.4, 7.1).
const (
	msgSetChunkSize = 1
	msgDataAMF0     = 18
	msgCommandAMF0  = 20
)

const (
	// handshakeSize is C0 (1) + C1 (1536) + C2 (1536): what go-rtmp reads before chunks.
	handshakeSize = 1 + 1536 + 1536
	// maxAMFMessage bounds one command or data message. Publishers send metadata, commands
	// and chat there: a few hundred bytes.
	maxAMFMessage = 1 << 20
	// maxChunkStreams matches the ingest's go-rtmp MaxChunkStreams.
	maxChunkStreams = 64
	// maxChunkSize is the largest chunk size go-rtmp accepts (it clamps larger ones).
	maxChunkSize = 0xffffff
)

// guard checks what a client sends before go-rtmp reads it. go-rtmp v0.0.7 decodes AMF0
// with go-amf0, which trusts the lengths inside the data: an 11-byte data message that
// declares a strict array of 2^31 elements makes it allocate 32 GiB, and the runtime aborts
// the whole process, past any recover. The guard follows the chunk stream exactly as
// go-rtmp's reader parses it (including its quirks: no extended timestamp on type-3 chunks)
// and holds back the last chunk of every AMF0 command or data message until
// flv.DecodeAMFValues, which allocates in proportion to its input and bounds nesting, has
// accepted the whole message. It passes bytes on unchanged, a whole chunk at a time.
type guard struct {
	r         *bufio.Reader
	handshake int // bytes of the handshake still to pass through
	chunkSize uint32
	streams   map[uint32]*chunkStream // by chunk stream id

	out []byte // a checked chunk that go-rtmp has not read entirely
	off int
	err error
}

// chunkStream is the state of one chunk stream: the message being assembled on it.
type chunkStream struct {
	length, received uint32
	typeID           byte
	streamID         uint32
	completed        bool
	amf              []byte // the message so far, for the types the guard checks
}

// rejectError says why the guard refused a connection's data.
type rejectError struct{ reason string }

func (e *rejectError) Error() string { return "ingest: refused RTMP data: " + e.reason }

func reject(format string, args ...any) error {
	return &rejectError{reason: fmt.Sprintf(format, args...)}
}

func newGuard(r io.Reader) *guard {
	return &guard{
		r:         bufio.NewReaderSize(r, 16<<10),
		handshake: handshakeSize,
		chunkSize: 128, // RTMP's initial chunk size
		streams:   make(map[uint32]*chunkStream),
	}
}

func (g *guard) Read(p []byte) (int, error) {
	if g.handshake > 0 {
		n, err := g.r.Read(p[:min(len(p), g.handshake)])
		g.handshake -= n
		return n, err
	}
	if g.off == len(g.out) {
		if g.err != nil {
			return 0, g.err
		}
		g.out, g.off = g.out[:0], 0
		if err := g.readChunk(); err != nil {
			// go-rtmp gets nothing of a chunk that is incomplete or refused.
			g.out, g.err = g.out[:0], err
			return 0, err
		}
	}
	n := copy(p, g.out[g.off:])
	g.off += n
	return n, nil
}

// readChunk reads one chunk into g.out:
//
//	basic header: fmt(2 bits) csid(6 bits); csid 0: +1 byte (csid-64), csid 1: +2 bytes LE
//	message header by fmt: 0: timestamp(3) length(3) type(1) stream id(4, LE)
//	                       1: timestamp delta(3) length(3) type(1)
//	                       2: timestamp delta(3)
//	                       3: nothing
//	extended timestamp(4) when fmt 0-2 carry 0xffffff
//	payload: min(length - received, chunk size) bytes
func (g *guard) readChunk() error {
	b0, err := g.read(1)
	if err != nil {
		return err
	}
	format, csid := b0[0]>>6, uint32(b0[0]&0x3f)
	switch csid {
	case 0:
		b, err := g.read(1)
		if err != nil {
			return err
		}
		csid = uint32(b[0]) + 64
	case 1:
		b, err := g.read(2)
		if err != nil {
			return err
		}
		csid = uint32(b[1])<<8 | uint32(b[0]) + 64
	}
	hdr, err := g.read([4]int{11, 7, 3, 0}[format])
	if err != nil {
		return err
	}

	cs := g.streams[csid]
	if cs == nil {
		if len(g.streams) >= maxChunkStreams {
			return reject("more than %d chunk streams", maxChunkStreams)
		}
		cs = &chunkStream{}
		g.streams[csid] = cs
	}
	if cs.completed {
		cs.received, cs.amf, cs.completed = 0, cs.amf[:0], false
	}
	extended := false
	switch format {
	case 0, 1:
		length, typeID := uint24(hdr[3:]), hdr[6]
		if cs.received > 0 && (length != cs.length || typeID != cs.typeID) {
			return reject("chunk stream %d changes message length or type mid-message", csid)
		}
		cs.length, cs.typeID = length, typeID
		if format == 0 {
			cs.streamID = binary.LittleEndian.Uint32(hdr[7:])
		}
		extended = uint24(hdr) == 0xffffff
	case 2:
		extended = uint24(hdr) == 0xffffff
	}
	if extended {
		if _, err := g.read(4); err != nil {
			return err
		}
	}
	if cs.length == 0 {
		return reject("chunk stream %d: message of length 0", csid)
	}
	checked := cs.typeID == msgDataAMF0 || cs.typeID == msgCommandAMF0 || cs.typeID == msgSetChunkSize
	if checked && cs.length > maxAMFMessage {
		return reject("message type %d of %d bytes exceeds %d", cs.typeID, cs.length, maxAMFMessage)
	}

	payload, err := g.read(int(min(cs.length-cs.received, g.chunkSize)))
	if err != nil {
		return err
	}
	cs.received += uint32(len(payload))
	if checked {
		cs.amf = append(cs.amf, payload...)
	}
	if cs.received < cs.length {
		return nil
	}
	cs.completed = true
	switch cs.typeID {
	case msgDataAMF0, msgCommandAMF0:
		if _, err := flv.DecodeAMFValues(cs.amf); err != nil {
			return reject("message type %d: %v", cs.typeID, err)
		}
	case msgSetChunkSize:
		// go-rtmp applies a chunk size on any existing message stream; the guard cannot know
		// which exist, so it accepts the one place the spec allows: stream 0.
		if cs.streamID != 0 {
			return reject("set chunk size on message stream %d", cs.streamID)
		}
		if len(cs.amf) < 4 {
			return reject("set chunk size of %d bytes", len(cs.amf))
		}
		size := binary.BigEndian.Uint32(cs.amf)
		if size == 0 || size&0x80000000 != 0 {
			return reject("set chunk size %#x", size)
		}
		g.chunkSize = min(size, maxChunkSize)
	}
	return nil
}

// read appends n bytes from the connection to g.out and returns them. It grows g.out as
// the bytes arrive, so a header that announces a large chunk costs memory only when the
// data follows.
func (g *guard) read(n int) ([]byte, error) {
	start := len(g.out)
	for len(g.out)-start < n {
		k := min(n-(len(g.out)-start), 64<<10)
		at := len(g.out)
		g.out = slices.Grow(g.out, k)[:at+k]
		if _, err := io.ReadFull(g.r, g.out[at:]); err != nil {
			g.out = g.out[:start]
			if err == io.EOF && at > 0 {
				// g.out holds only the current chunk: the connection ended inside it.
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return g.out[start:], nil
}

func uint24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }
