package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/camnode/camnode/media/flv"
)

// FuzzSession sends arbitrary bytes after a valid handshake, as a publisher would send its
// messages. Whatever arrives, the server must not crash (go-rtmp panics on some inputs) and
// must close the connection once the client has finished sending.
func FuzzSession(f *testing.F) {
	meta := flv.AppendMetadata(nil, flv.Metadata{Width: 320, Height: 240, FrameRate: 25})
	_, n, _ := flv.DecodeAMF(meta)
	chat := flv.AppendAMFString(nil, "onTextData")
	chat = flv.AppendAMFObjectStart(chat)
	chat = flv.AppendAMFKey(chat, "text")
	chat = flv.AppendAMFString(chat, "hi")
	chat = flv.AppendAMFObjectEnd(chat)

	session := appendConnect(nil, "live")
	session = appendCommand(session, 0, "createStream", 2, nil)
	session = appendCommand(session, 1, "publish", 0, flv.AppendAMFString(flv.AppendAMFString(nil, "fuzz"), "live"))
	session = appendTag(session, 1, flv.TagScript, 0, meta[n:])
	session = appendTag(session, 1, flv.TagVideo, 0, flv.AppendSequenceHeader(nil, []byte{1, 0x42, 0xc0, 0x1e}))
	session = appendTag(session, 1, flv.TagVideo, 0, flv.AppendVideoTag(nil, true, 0, [][]byte{make([]byte, 300)}))
	session = appendTag(session, 1, flv.TagScript, 20, chat)
	session = appendTag(session, 1, flv.TagAudio, 30, []byte{0xaf, 1, 2, 3})
	session = appendTag(session, 1, flv.TagVideo, 40, flv.AppendVideoTag(nil, false, 0, [][]byte{{0x41, 1}}))
	f.Add(session)
	f.Add(appendCommand(session, 0, "deleteStream", 0, flv.AppendAMFNumber(nil, 1)))
	f.Add(appendConnect(nil, "live"))
	f.Add([]byte{0x03, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 0})                         // zero-length message
	f.Add([]byte{0x02, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff}) // set chunk size 2^31-1
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))

	// Not serve(): its recording channel would fill up and block the server.
	s, err := Listen("127.0.0.1:0", Options{Dir: f.TempDir(), IdleTimeout: 2 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	f.Cleanup(func() {
		cancel()
		<-served
	})
	f.Fuzz(func(t *testing.T, input []byte) {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		handshake(t, c)
		// The server may close the connection before it has read everything: not a failure.
		c.Write(input)
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			var st bytes.Buffer
			pprof.Lookup("goroutine").WriteTo(&st, 1)
			t.Fatalf("the server kept the connection open after the client finished sending\n%s", st.String())
		}
	})
}

// FuzzGuard checks that the guard never panics and never alters what it passes: go-rtmp
// gets a prefix of what the client sent, all of it when the guard had no objection.
func FuzzGuard(f *testing.F) {
	f.Add(publishSession())
	f.Add(appendMessage(nil, 4, rtmpData, 1, 0, []byte{0x02, 0, 3, 'f', 'o', 'o', 0x0a, 0x7f, 0xff, 0xff, 0xff}))
	f.Add([]byte{0x03, 0, 0, 0, 0, 0, 0, rtmpCommand, 0, 0, 0, 0})
	f.Add([]byte{0x42, 0x01, 0x00, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 2, 3})
	f.Fuzz(func(t *testing.T, input []byte) {
		out, err := guardOutput(t, input)
		if !bytes.HasPrefix(input, out) {
			t.Fatalf("guard passed bytes that differ from the input")
		}
		if err == nil && len(out) != len(input) {
			t.Fatalf("guard ended cleanly after %d of %d bytes", len(out), len(input))
		}
	})
}

// FuzzFileName checks that any stream name becomes a safe, bounded file name.
func FuzzFileName(f *testing.F) {
	for _, seed := range []string{"test", "../../etc/passwd", "..", ".hidden", "a/b\\c", "直播间", "\x00\xff"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, stream string) {
		name := fileName(stream)
		if name == "" || len(name) > maxNameLen || name[0] == '.' {
			t.Fatalf("fileName(%q) = %q: empty, too long or hidden", stream, name)
		}
		for _, c := range []byte(name) {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
			if !ok {
				t.Fatalf("fileName(%q) = %q holds byte %q", stream, name, c)
			}
		}
	})
}
