package rtmp

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
)

// Chunk stream ids camnode writes on. Each kind of message has its own so that a server
// keeping per-chunk-stream state never sees two kinds interleaved on one.
const (
	csidControl = 2 // protocol control and user control messages (the spec requires 2)
	csidCommand = 3 // connect, releaseStream, FCPublish, createStream, publish, FCUnpublish, deleteStream
	csidData    = 5 // AMF0 data messages: @setDataFrame/onMetaData, onTextData
	csidVideo   = 6 // video messages
)

// Message type ids.
const (
	typeSetChunkSize     = 1
	typeAbort            = 2
	typeAck              = 3
	typeUserControl      = 4
	typeWindowAckSize    = 5
	typeSetPeerBandwidth = 6
	typeAudio            = 8
	typeVideo            = 9
	typeDataAMF3         = 15
	typeCommandAMF3      = 17
	typeDataAMF0         = 18
	typeCommandAMF0      = 20
)

const (
	defaultChunkSize  = 128 // until Set Chunk Size says otherwise, both directions
	maxTimestampField = 0xffffff
	// maxChunkSize and maxMessageSize bound what a peer can make the reader allocate.
	maxChunkSize   = 1 << 24
	maxMessageSize = 1<<24 - 1 // the 24-bit message length field's own limit
	// maxChunkStreams bounds the per-chunk-stream state a peer can make the reader keep.
	maxChunkStreams = 64
	readStep        = 64 << 10
	// MaxIncomingMessage and maxIncomingHeld bound what the ingest server can make a
	// publisher hold: it sends only commands, status and control messages of a few hundred
	// bytes, so a message above 1 MiB, or more than 1 MiB of messages in progress over all
	// chunk streams together, is an error rather than a Pi's memory.
	MaxIncomingMessage = 1 << 20
	maxIncomingHeld    = 1 << 20
)

// chunkWriter splits messages into chunks. Every message starts with a type 0 header, so the
// writer keeps no per-chunk-stream state and a timestamp that jumps or goes backwards needs
// no special case; it costs 4 to 8 bytes per message over type 1/2 headers.
type chunkWriter struct {
	w         *bufio.Writer
	chunkSize int
	hdr       [3 + 11 + 4]byte // largest header: 3-byte basic, type 0, extended timestamp
}

// appendBasicHeader appends the chunk basic header:
//
//	csid 2..63:      fmt(2 bits) csid(6 bits)
//	csid 64..319:    fmt 000000, csid-64 (1 byte)
//	csid 64..65599:  fmt 000001, csid-64 (2 bytes, little endian)
func appendBasicHeader(dst []byte, format byte, csid uint32) []byte {
	switch {
	case csid < 64:
		return append(dst, format<<6|byte(csid))
	case csid < 320:
		return append(dst, format<<6, byte(csid-64))
	default:
		return append(dst, format<<6|1, byte(csid-64), byte((csid-64)>>8))
	}
}

// writeMessage writes one message as a type 0 chunk followed by type 3 continuation chunks:
//
//	type 0:  basic header  timestamp(3 BE)  length(3 BE)  type id(1)  message stream id(4 LE)
//	         [extended timestamp(4 BE)]  payload[:chunkSize]
//	type 3:  basic header  [extended timestamp(4 BE)]  payload[next chunkSize]
//
// When the timestamp is 0xFFFFFF or more, the 3-byte field holds 0xFFFFFF and the full
// timestamp follows as the extended timestamp on every chunk of the message, including the
// type 3 ones: nginx-rtmp and ffmpeg read the 4 bytes on a type 3 chunk whenever the last
// header of that chunk stream had 0xFFFFFF. It does not flush.
func (cw *chunkWriter) writeMessage(csid uint32, typeID byte, msid uint32, timestamp uint32, payload []byte) error {
	if len(payload) > maxMessageSize {
		return fmt.Errorf("message of %d bytes exceeds the %d-byte RTMP limit", len(payload), maxMessageSize)
	}
	ext := timestamp >= maxTimestampField
	field := min(timestamp, maxTimestampField)
	n := len(payload)
	h := appendBasicHeader(cw.hdr[:0], 0, csid)
	h = append(h, byte(field>>16), byte(field>>8), byte(field),
		byte(n>>16), byte(n>>8), byte(n), typeID,
		byte(msid), byte(msid>>8), byte(msid>>16), byte(msid>>24))
	if ext {
		h = binary.BigEndian.AppendUint32(h, timestamp)
	}
	for first := true; first || len(payload) > 0; first = false {
		if !first {
			h = appendBasicHeader(cw.hdr[:0], 3, csid)
			if ext {
				h = binary.BigEndian.AppendUint32(h, timestamp)
			}
		}
		if _, err := cw.w.Write(h); err != nil {
			return err
		}
		k := min(len(payload), cw.chunkSize)
		if _, err := cw.w.Write(payload[:k]); err != nil {
			return err
		}
		payload = payload[k:]
	}
	return nil
}

// message is one reassembled incoming message.
type message struct {
	csid      uint32
	typeID    byte
	msid      uint32
	timestamp uint32
	payload   []byte
}

// chunkStream is the reader's state of one incoming chunk stream: the last header's fields,
// which type 1, 2 and 3 headers inherit, and the message being reassembled.
type chunkStream struct {
	timestamp uint32
	delta     uint32 // the last type 1/2 delta, or the type 0 timestamp, as ffmpeg keeps it
	length    uint32
	typeID    byte
	msid      uint32
	ext       bool // the last header's timestamp field was 0xFFFFFF
	started   bool // a header of type 0 has been seen
	buf       []byte
	partial   bool
}

// chunkReader reassembles incoming messages from chunks of all four header types.
type chunkReader struct {
	r         *bufio.Reader
	chunkSize uint32
	streams   map[uint32]*chunkStream
	held      int // bytes of the messages in progress, over all chunk streams
	tmp       [11]byte
}

func newChunkReader(r *bufio.Reader) *chunkReader {
	return &chunkReader{r: r, chunkSize: defaultChunkSize, streams: map[uint32]*chunkStream{}}
}

// setChunkSize applies a Set Chunk Size message from the peer.
func (cr *chunkReader) setChunkSize(size uint32) error {
	size &= 0x7fffffff // the top bit is reserved
	if size < 1 || size > maxChunkSize {
		return fmt.Errorf("peer set chunk size %d, want 1..%d", size, maxChunkSize)
	}
	cr.chunkSize = size
	return nil
}

// abort drops the partial message of a chunk stream (Abort message).
func (cr *chunkReader) abort(csid uint32) {
	if cs := cr.streams[csid]; cs != nil {
		cr.drop(cs)
	}
}

// readMessage reads chunks until one message is complete and returns it. The payload is
// newly allocated and belongs to the caller.
func (cr *chunkReader) readMessage() (message, error) {
	for {
		m, done, err := cr.readChunk()
		if err != nil || done {
			return m, err
		}
	}
}

func (cr *chunkReader) readChunk() (message, bool, error) {
	b0, err := cr.r.ReadByte()
	if err != nil {
		return message{}, false, err
	}
	format := b0 >> 6
	csid := uint32(b0 & 0x3f)
	switch csid {
	case 0:
		if _, err := io.ReadFull(cr.r, cr.tmp[:1]); err != nil {
			return message{}, false, unexpectedEOF(err)
		}
		csid = 64 + uint32(cr.tmp[0])
	case 1:
		if _, err := io.ReadFull(cr.r, cr.tmp[:2]); err != nil {
			return message{}, false, unexpectedEOF(err)
		}
		csid = 64 + uint32(cr.tmp[0]) + uint32(cr.tmp[1])<<8
	}
	cs := cr.streams[csid]
	if cs == nil {
		if len(cr.streams) >= maxChunkStreams {
			return message{}, false, fmt.Errorf("peer uses more than %d chunk streams", maxChunkStreams)
		}
		cs = &chunkStream{}
		cr.streams[csid] = cs
	}
	if format != 0 && !cs.started {
		return message{}, false, fmt.Errorf("chunk stream %d: header type %d before any type 0 header", csid, format)
	}

	// Message header: type 0 is 11 bytes, type 1 is 7, type 2 is 3, type 3 is empty.
	hlen := [4]int{11, 7, 3, 0}[format]
	h := cr.tmp[:hlen]
	if _, err := io.ReadFull(cr.r, h); err != nil {
		return message{}, false, unexpectedEOF(err)
	}
	var field uint32
	if format < 3 {
		field = uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2])
		cs.ext = field == maxTimestampField
	}
	if format <= 1 {
		cs.length = uint32(h[3])<<16 | uint32(h[4])<<8 | uint32(h[5])
		cs.typeID = h[6]
	}
	if format == 0 {
		cs.msid = binary.LittleEndian.Uint32(h[7:11])
	}
	if cs.ext {
		if _, err := io.ReadFull(cr.r, cr.tmp[:4]); err != nil {
			return message{}, false, unexpectedEOF(err)
		}
		if format < 3 {
			field = binary.BigEndian.Uint32(cr.tmp[:4])
		}
	}
	switch {
	case format == 0:
		cs.started = true
		cs.timestamp, cs.delta = field, field
		cr.drop(cs)
	case format < 3:
		cs.delta = field
		cs.timestamp += field
		cr.drop(cs)
	case !cs.partial:
		// A type 3 chunk that starts a message repeats the previous delta.
		cs.timestamp += cs.delta
	}
	if cs.length > MaxIncomingMessage {
		return message{}, false, fmt.Errorf("chunk stream %d: message of %d bytes from the server exceeds %d", csid, cs.length, MaxIncomingMessage)
	}

	// Grow the buffer in steps of at most readStep: memory follows the bytes received, not
	// the length or chunk size a header claims.
	for k := min(int(cs.length)-len(cs.buf), int(cr.chunkSize)); k > 0; {
		step := min(k, readStep)
		if cr.held+step > maxIncomingHeld {
			return message{}, false, fmt.Errorf("chunk stream %d: the server's unfinished messages exceed %d bytes", csid, maxIncomingHeld)
		}
		cr.held += step
		cs.buf = slices.Grow(cs.buf, step)
		if _, err := io.ReadFull(cr.r, cs.buf[len(cs.buf):len(cs.buf)+step]); err != nil {
			return message{}, false, unexpectedEOF(err)
		}
		cs.buf = cs.buf[:len(cs.buf)+step]
		k -= step
	}
	if len(cs.buf) < int(cs.length) {
		cs.partial = true
		return message{}, false, nil
	}
	m := message{csid: csid, typeID: cs.typeID, msid: cs.msid, timestamp: cs.timestamp, payload: cs.buf}
	if m.payload == nil {
		m.payload = []byte{}
	}
	cr.drop(cs) // the payload now belongs to the caller
	return m, true, nil
}

// drop forgets the message in progress on cs.
func (cr *chunkReader) drop(cs *chunkStream) {
	cr.held -= len(cs.buf)
	cs.buf, cs.partial = nil, false
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
