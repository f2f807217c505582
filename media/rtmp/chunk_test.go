package rtmp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"io"
	"strings"
	"testing"
)

// hexBytes decodes hex with spaces and | separators, for readable byte tables.
func hexBytes(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "|", "").Replace(s))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func writeChunks(t testing.TB, chunkSize int, csid uint32, typeID byte, msid, ts uint32, payload []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	cw := chunkWriter{w: bw, chunkSize: chunkSize}
	if err := cw.writeMessage(csid, typeID, msid, ts, payload); err != nil {
		t.Fatal(err)
	}
	bw.Flush()
	return out.Bytes()
}

func TestChunkWriterBytes(t *testing.T) {
	p := []byte{0xa0, 0xa1, 0xa2, 0xa3, 0xa4}
	tests := []struct {
		name      string
		chunkSize int
		csid      uint32
		typeID    byte
		msid, ts  uint32
		payload   []byte
		want      string
	}{
		{"type 0, one chunk", 128, 6, typeVideo, 1, 0x000102, p[:3],
			"06 000102 000003 09 01000000 | a0a1a2"},
		{"type 3 continuation chunks", 2, 3, typeCommandAMF0, 0, 40, p,
			"03 000028 000005 14 00000000 | a0a1 | c3 a2a3 | c3 a4"},
		{"payload a multiple of the chunk size: no empty chunk", 2, 3, typeCommandAMF0, 0, 0, p[:4],
			"03 000000 000004 14 00000000 | a0a1 | c3 a2a3"},
		{"empty payload", 128, 5, typeDataAMF0, 1, 7, nil,
			"05 000007 000000 12 01000000"},
		{"message stream id little endian", 128, 6, typeVideo, 0x01020304, 0, p[:1],
			"06 000000 000001 09 04030201 | a0"},
		// 2^24 ms: the 3-byte field says 0xFFFFFF and every chunk, type 3 included,
		// carries the 4-byte extended timestamp right after its basic header.
		{"extended timestamp on type 3 chunks", 2, 6, typeVideo, 1, 1 << 24, p,
			"06 ffffff 000005 09 01000000 01000000 | a0a1 | c6 01000000 a2a3 | c6 01000000 a4"},
		{"0xFFFFFF itself is extended", 4, 6, typeVideo, 1, 0xffffff, p,
			"06 ffffff 000005 09 01000000 00ffffff | a0a1a2a3 | c6 00ffffff a4"},
		{"0xFFFFFE is not", 4, 6, typeVideo, 1, 0xfffffe, p,
			"06 fffffe 000005 09 01000000 | a0a1a2a3 | c6 a4"},
		{"2-byte basic header, csid 64", 128, 64, typeVideo, 1, 0, p[:1],
			"00 00 000000 000001 09 01000000 | a0"},
		{"2-byte basic header on type 3, csid 319", 1, 319, typeVideo, 1, 0, p[:2],
			"00 ff 000000 000002 09 01000000 | a0 | c0 ff a1"},
		{"3-byte basic header, csid 320", 128, 320, typeVideo, 1, 0, p[:1],
			"01 00 01 000000 000001 09 01000000 | a0"},
		{"3-byte basic header, csid 65599", 1, 65599, typeVideo, 1, 0, p[:2],
			"01 ff ff 000000 000002 09 01000000 | a0 | c1 ff ff a1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := writeChunks(t, tt.chunkSize, tt.csid, tt.typeID, tt.msid, tt.ts, tt.payload)
			if want := hexBytes(t, tt.want); !bytes.Equal(got, want) {
				t.Fatalf("got  % x\nwant % x", got, want)
			}
			// What the writer writes, the reader reads back whole.
			cr := newChunkReader(bufio.NewReader(bytes.NewReader(got)))
			cr.chunkSize = uint32(tt.chunkSize)
			m, err := cr.readMessage()
			if err != nil {
				t.Fatal(err)
			}
			if m.csid != tt.csid || m.typeID != tt.typeID || m.msid != tt.msid || m.timestamp != tt.ts || !bytes.Equal(m.payload, tt.payload) {
				t.Errorf("read back %+v", m)
			}
			if _, err := cr.readMessage(); err != io.EOF {
				t.Errorf("after the message: %v, want io.EOF (all bytes consumed)", err)
			}
		})
	}
}

func TestChunkWriterRejectsHugeMessage(t *testing.T) {
	cw := chunkWriter{w: bufio.NewWriter(io.Discard), chunkSize: 4096}
	if err := cw.writeMessage(6, typeVideo, 1, 0, make([]byte, 1<<24)); err == nil {
		t.Error("16 MiB message accepted; the length field has 24 bits")
	}
}

// TestChunkReaderHeaderTypes reads a hand-made stream that uses every header type, two
// interleaved chunk streams, a chunk size change and extended timestamps.
func TestChunkReaderHeaderTypes(t *testing.T) {
	in := hexBytes(t, ""+
		"04 000064 000002 08 01000000 aabb"+ // csid 4 type 0: ts 100, len 2, audio, msid 1
		"44 000014 000001 09 cc"+ // type 1: delta 20 -> 120, len 1, video
		"84 00001e dd"+ // type 2: delta 30 -> 150
		"c4 ee"+ // type 3 starting a message: same delta -> 180
		// csid 3 (chunk size 128) interleaved with csid 5 messages
		"03 000000 000082 14 00000000"+strings.Repeat("11", 128)+
		"05 ffffff 000001 12 01000000 01000000 77"+ // ext ts 2^24 on csid 5
		"c3 2222"+ // rest of the csid 3 message
		"45 ffffff 000003 12 00000010"+ // type 1 with extended delta 16 -> 2^24+16
		"77 88 99"+
		"c5 00000010 660102") // type 3 new message: length 3 and extended delta 16 inherited -> 2^24+32
	want := []message{
		{csid: 4, typeID: 8, msid: 1, timestamp: 100, payload: []byte{0xaa, 0xbb}},
		{csid: 4, typeID: 9, msid: 1, timestamp: 120, payload: []byte{0xcc}},
		{csid: 4, typeID: 9, msid: 1, timestamp: 150, payload: []byte{0xdd}},
		{csid: 4, typeID: 9, msid: 1, timestamp: 180, payload: []byte{0xee}},
		{csid: 5, typeID: 18, msid: 1, timestamp: 1 << 24, payload: []byte{0x77}},
		{csid: 3, typeID: 20, msid: 0, timestamp: 0, payload: append(bytes.Repeat([]byte{0x11}, 128), 0x22, 0x22)},
		{csid: 5, typeID: 18, msid: 1, timestamp: 1<<24 + 16, payload: []byte{0x77, 0x88, 0x99}},
		{csid: 5, typeID: 18, msid: 1, timestamp: 1<<24 + 32, payload: []byte{0x66, 0x01, 0x02}},
	}

	cr := newChunkReader(bufio.NewReader(bytes.NewReader(in)))
	for i, w := range want {
		m, err := cr.readMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if m.csid != w.csid || m.typeID != w.typeID || m.msid != w.msid || m.timestamp != w.timestamp || !bytes.Equal(m.payload, w.payload) {
			t.Errorf("message %d = %+v\nwant        %+v", i, m, w)
		}
	}
	if _, err := cr.readMessage(); err != io.EOF {
		t.Errorf("end: %v, want io.EOF", err)
	}
}

func TestChunkReaderErrors(t *testing.T) {
	tests := map[string]string{
		"type 1 before type 0": "44 000014 000001 09 cc",
		"type 3 before type 0": "c4 cc",
		"cut in header":        "04 0000",
		"cut in ext timestamp": "04 ffffff 000001 09 01000000 0100",
		"cut in payload":       "04 000000 000004 09 01000000 aabb",
		"cut in 3-byte csid":   "01 00",
	}
	for name, h := range tests {
		cr := newChunkReader(bufio.NewReader(bytes.NewReader(hexBytes(t, h))))
		if _, err := cr.readMessage(); err == nil || err == io.EOF {
			t.Errorf("%s: readMessage = %v, want an error", name, err)
		}
	}

	var many bytes.Buffer
	for csid := range uint32(maxChunkStreams + 1) {
		many.Write(appendBasicHeader(nil, 0, 64+csid))
		many.Write(hexBytes(t, "000000 000002 09 01000000 aa")) // each leaves a partial message
	}
	cr := newChunkReader(bufio.NewReader(&many))
	cr.chunkSize = 1
	if _, err := cr.readMessage(); err == nil || !strings.Contains(err.Error(), "chunk streams") {
		t.Errorf("%d chunk streams: %v, want a limit error", maxChunkStreams+1, err)
	}

	for _, size := range []uint32{0, maxChunkSize + 1, 0x80000000} {
		if err := cr.setChunkSize(size); err == nil {
			t.Errorf("setChunkSize(%d) accepted", size)
		}
	}
	if err := cr.setChunkSize(maxChunkSize); err != nil || cr.chunkSize != maxChunkSize {
		t.Errorf("setChunkSize(%d) = %v, chunk size %d", maxChunkSize, err, cr.chunkSize)
	}
}

// TestChunkReaderCapsWhatTheServerMakesItHold: a hostile ingest that starts a big message on
// each of many chunk streams, or announces one huge message, gets an error once about 1 MiB
// is held, not 64 x 16 MiB of a Pi's memory.
func TestChunkReaderCapsWhatTheServerMakesItHold(t *testing.T) {
	var in bytes.Buffer
	const part = 200 << 10
	for csid := uint32(0); csid < 20; csid++ {
		in.Write(appendBasicHeader(nil, 0, 64+csid))
		in.Write(hexBytes(t, "000000 0fffff 12 01000000")) // a 1 MiB - 1 data message...
		in.Write(make([]byte, part))                       // ...of which 200 KiB arrive
	}
	cr := newChunkReader(bufio.NewReader(&in))
	cr.chunkSize = part
	_, err := cr.readMessage()
	if err == nil || !strings.Contains(err.Error(), "unfinished messages exceed 1048576 bytes") {
		t.Fatalf("readMessage = %v, want the limit of what is held", err)
	}
	if cr.held > maxIncomingHeld {
		t.Errorf("%d bytes held", cr.held)
	}
	if left := in.Len(); left < 13*part {
		// About 1 MiB (5 or 6 of the 20 partial messages) is read before the error.
		t.Errorf("reader went on: only %d bytes left unread", left)
	}

	huge := hexBytes(t, "04 000000 100001 12 01000000 aa")
	cr = newChunkReader(bufio.NewReader(bytes.NewReader(huge)))
	if _, err := cr.readMessage(); err == nil || !strings.Contains(err.Error(), "message of 1048577 bytes from the server exceeds 1048576") {
		t.Errorf("a 1 MiB + 1 message: %v", err)
	}

	// Whole messages do not add up: 40 messages of 64 KiB in a row are fine.
	var ok bytes.Buffer
	for range 40 {
		ok.Write(writeChunks(t, 4096, 5, typeDataAMF0, 1, 0, make([]byte, 64<<10)))
	}
	cr = newChunkReader(bufio.NewReader(&ok))
	cr.chunkSize = 4096
	for i := range 40 {
		if m, err := cr.readMessage(); err != nil || len(m.payload) != 64<<10 {
			t.Fatalf("message %d: %d bytes, %v", i, len(m.payload), err)
		}
	}
	if cr.held != 0 {
		t.Errorf("%d bytes held after whole messages", cr.held)
	}
}

func TestChunkReaderAbort(t *testing.T) {
	in := hexBytes(t, "04 000000 000004 09 01000000 aabb"+"04 000000 000001 09 01000000 cc")
	cr := newChunkReader(bufio.NewReader(bytes.NewReader(in)))
	cr.chunkSize = 2
	if _, done, err := cr.readChunk(); done || err != nil {
		t.Fatalf("first chunk: done=%v err=%v", done, err)
	}
	cr.abort(4)
	m, err := cr.readMessage()
	if err != nil || !bytes.Equal(m.payload, []byte{0xcc}) {
		t.Errorf("after abort: %+v, %v; want the new one-byte message", m, err)
	}
}

// FuzzChunkReader reads arbitrary bytes as incoming chunks, applying Set Chunk Size the way
// Conn does: no panic, and every message is within the limits.
func FuzzChunkReader(f *testing.F) {
	f.Add(writeChunks(f, 2, 6, typeVideo, 1, 1<<24, []byte{1, 2, 3, 4, 5}))
	f.Add(hexBytes(f, "02 000000 000004 01 00000000 00000002"+"04 000000 000005 09 01000000 aabb"+"c4 ccdd"+"c4 ee"))
	f.Add(hexBytes(f, "04 000064 000002 08 01000000 aabb 44 000014 000001 09 cc 84 00001e dd c4 ee"))
	f.Add(hexBytes(f, "05 ffffff 000001 12 01000000 01000000 77 45 ffffff 000003 12 00000010 778899 c5 00000010 66 0102"))
	f.Add(hexBytes(f, "02 000000 000004 01 00000000 7fffffff 04 000000 ffffff 09 01000000"))
	f.Fuzz(func(t *testing.T, in []byte) {
		cr := newChunkReader(bufio.NewReader(bytes.NewReader(in)))
		for range 1000 {
			m, err := cr.readMessage()
			if err != nil {
				return
			}
			if len(m.payload) > MaxIncomingMessage {
				t.Fatalf("message of %d bytes", len(m.payload))
			}
			if cr.held < 0 || cr.held > maxIncomingHeld {
				t.Fatalf("%d bytes held", cr.held)
			}
			if m.typeID == typeSetChunkSize && len(m.payload) >= 4 {
				if err := cr.setChunkSize(binary.BigEndian.Uint32(m.payload)); err != nil {
					return
				}
			}
			if len(cr.streams) > maxChunkStreams {
				t.Fatalf("%d chunk streams kept", len(cr.streams))
			}
		}
	})
}
