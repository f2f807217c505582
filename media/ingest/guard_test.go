package ingest

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/camnode/camnode/media/flv"
)

// guardOutput passes a handshake and then input through a guard and returns what go-rtmp
// would read after the handshake, and the error that ended it (nil at a clean end).
func guardOutput(t testing.TB, input []byte) ([]byte, error) {
	t.Helper()
	hs := make([]byte, handshakeSize)
	rand.Read(hs)
	out, err := io.ReadAll(newGuard(io.MultiReader(bytes.NewReader(hs), bytes.NewReader(input))))
	if !bytes.HasPrefix(out, hs) {
		t.Fatalf("guard changed or dropped the handshake (%d bytes out)", len(out))
	}
	return out[len(hs):], err
}

// publishSession is a publisher's side of a session the way ffmpeg sends it: a larger chunk
// size, then commands, metadata, chat and media, with one message above the 24-bit
// timestamp range.
func publishSession() []byte {
	meta := flv.AppendMetadata(nil, flv.Metadata{Width: 1280, Height: 720, FrameRate: 30})
	_, n, _ := flv.DecodeAMF(meta)
	chat := flv.AppendAMFString(nil, "onTextData")
	chat = flv.AppendAMFObjectStart(chat)
	chat = flv.AppendAMFKey(chat, "text")
	chat = flv.AppendAMFString(chat, "hi")
	chat = flv.AppendAMFObjectEnd(chat)
	frame := make([]byte, 10000)
	rand.Read(frame)

	b := appendConnect(nil, "live")
	b = appendMessage(b, 2, msgSetChunkSize, 0, 0, binary.BigEndian.AppendUint32(nil, 4096))
	chunks := func(dst []byte, typeID byte, ts uint32, body []byte) []byte {
		return appendChunks(dst, 4096, 4, typeID, 1, ts, body)
	}
	b = appendChunks(b, 4096, 3, rtmpCommand, 0, 0, append(flv.AppendAMFNumber(flv.AppendAMFString(nil, "createStream"), 2), 5))
	b = appendChunks(b, 4096, 3, rtmpCommand, 1, 0, flv.AppendAMFString(flv.AppendAMFString(
		append(flv.AppendAMFNumber(flv.AppendAMFString(nil, "publish"), 0), 5), "cam"), "live"))
	b = chunks(b, rtmpData, 0, meta[n:])
	b = chunks(b, rtmpVideo, 0, flv.AppendVideoTag(nil, true, 0, [][]byte{frame}))
	b = chunks(b, rtmpData, 40, chat)
	b = chunks(b, rtmpAudio, 45, []byte{0xaf, 1, 2})
	b = chunks(b, rtmpVideo, 0x1000000, flv.AppendVideoTag(nil, false, 0, [][]byte{frame[:5000]}))
	return b
}

func TestGuardPassesSessionUnchanged(t *testing.T) {
	in := publishSession()
	out, err := guardOutput(t, in)
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("guard passed %d of %d bytes, err %v", len(out), len(in), err)
	}
	// A connection that ends inside a chunk gives go-rtmp every whole chunk before it.
	out, err = guardOutput(t, in[:len(in)-100])
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(out) == 0 || !bytes.HasPrefix(in, out) {
		t.Fatalf("cut session: %d bytes passed, err %v", len(out), err)
	}
}

func TestGuardRefusesWhatHurtsGoRTMP(t *testing.T) {
	nested := flv.AppendAMFString(nil, "onTextData")
	for range 100000 {
		nested = flv.AppendAMFObjectStart(nested)
	}
	var manyStreams []byte
	for i := range maxChunkStreams + 1 {
		// Chunk stream ids from 64 up take a second basic-header byte; a 1-byte video message.
		manyStreams = append(manyStreams, 0x00, byte(i), 0, 0, 0, 0, 0, 1, rtmpVideo, 1, 0, 0, 0, 0x17)
	}
	// The connect message takes one chunk stream; 63 more are allowed.
	const streamChunk = 14
	for _, tc := range []struct {
		name   string
		input  []byte
		passed int // bytes of input go-rtmp gets before the refusal
	}{
		// 11 bytes that made go-amf0 allocate 32 GiB and the runtime abort.
		{"strict array of 2^31", appendMessage(nil, 4, rtmpData, 1, 0, []byte{0x02, 0, 3, 'f', 'o', 'o', 0x0a, 0x7f, 0xff, 0xff, 0xff}), 0},
		{"long string of 4 GiB", appendMessage(nil, 3, rtmpCommand, 0, 0, []byte{0x0c, 0xff, 0xff, 0xff, 0xff, 'x'}), 0},
		// Earlier chunks of a message pass; the last one is held back until the whole
		// message is checked.
		{"nesting 100000 deep", appendMessage(nil, 4, rtmpData, 1, 0, nested), len(appendMessage(nil, 4, rtmpData, 1, 0, nested)) - 1 - ((len(nested)-1)%128 + 1)},
		{"zero-length message", []byte{0x03, 0, 0, 0, 0, 0, 0, rtmpCommand, 0, 0, 0, 0}, 0},
		{"type-3 chunk on a new chunk stream", []byte{0xc5}, 0},
		{"oversize command", []byte{0x03, 0, 0, 0, 0x20, 0, 0, rtmpCommand, 0, 0, 0, 0}, 0},
		{"chunk size 0", appendMessage(nil, 2, msgSetChunkSize, 0, 0, []byte{0, 0, 0, 0}), 0},
		{"chunk size on a data stream", appendMessage(nil, 2, msgSetChunkSize, 1, 0, []byte{0, 0, 16, 0}), 0},
		{"length change mid-message", append(appendMessage(nil, 4, rtmpVideo, 1, 0, make([]byte, 200))[:12+128], 0x44, 0, 0, 0, 0, 0, 10, rtmpVideo), 12 + 128},
		{"more chunk streams than go-rtmp allows", manyStreams, (maxChunkStreams - 1) * streamChunk},
	} {
		good := appendConnect(nil, "live")
		out, err := guardOutput(t, append(good, tc.input...))
		var rej *rejectError
		if !errors.As(err, &rej) {
			t.Errorf("%s: err %v, want a refusal", tc.name, err)
		}
		if want := append(good, tc.input[:tc.passed]...); !bytes.Equal(out, want) {
			t.Errorf("%s: %d bytes passed, want the %d before the bad chunk", tc.name, len(out), len(want))
		}
	}
}

// BenchmarkGuard measures what the guard costs on a publisher's typical traffic: video
// messages in 4 KiB chunks.
func BenchmarkGuard(b *testing.B) {
	frame := make([]byte, 30000)
	rand.Read(frame)
	in := make([]byte, handshakeSize)
	in = appendMessage(in, 2, msgSetChunkSize, 0, 0, binary.BigEndian.AppendUint32(nil, 4096))
	for i := range 100 {
		in = appendChunks(in, 4096, 6, rtmpVideo, 1, uint32(i*33), flv.AppendVideoTag(nil, i%30 == 0, 0, [][]byte{frame}))
	}
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		g := newGuard(bytes.NewReader(in))
		for {
			if _, err := g.Read(buf); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}
