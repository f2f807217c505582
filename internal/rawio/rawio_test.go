package rawio

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"
)

// TestReaderReadFull: through io.ReadFull, as the exec source reads pictures: pictures
// that arrive in pieces are read whole; an output that ends inside a picture gives what
// came and io.ErrUnexpectedEOF, one that ends between pictures io.EOF; a read deadline
// still ends the wait.
func TestReaderReadFull(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	sent := make([]byte, 3*300_000+10)
	for i := range sent {
		sent[i] = byte(rng.Uint32())
	}
	go func() {
		// Pieces of every size, with pauses, so that the reader waits in between.
		for rest := sent; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(100_000))
			if _, err := w.Write(rest[:n]); err != nil {
				t.Error(err)
				return
			}
			rest = rest[n:]
			time.Sleep(time.Millisecond)
		}
		w.Close()
	}()
	buf := make([]byte, 300_000)
	for i := range 3 {
		if n, err := io.ReadFull(reader(t, r), buf); n != len(buf) || err != nil || !bytes.Equal(buf, sent[i*len(buf):(i+1)*len(buf)]) {
			t.Fatalf("picture %d: %d bytes, %v, same bytes %v", i, n, err, bytes.Equal(buf, sent[i*len(buf):(i+1)*len(buf)]))
		}
	}
	if n, err := io.ReadFull(reader(t, r), buf); n != 10 || err != io.ErrUnexpectedEOF || !bytes.Equal(buf[:10], sent[len(sent)-10:]) {
		t.Errorf("the last 10 bytes: %d, %v", n, err)
	}
	if n, err := io.ReadFull(reader(t, r), buf); n != 0 || err != io.EOF {
		t.Errorf("after the end: %d, %v; want 0, EOF", n, err)
	}

	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	defer w2.Close()
	w2.Write([]byte("abc"))
	r2.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := io.ReadFull(reader(t, r2), buf); n != 3 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("deadline: %d, %v; want 3 and a deadline error", n, err)
	}
}

// reader is a Reader of f.
func reader(t *testing.T, f *os.File) *Reader {
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return NewReader(rc)
}

// TestWriterTCP: a Writer on a TCP socket (as the RTMP publisher writes): 16 MiB written in large pieces while the peer reads slowly
// (the socket fills and the writer waits for room) all arrive, in order; with the peer not
// reading, a write fails at the deadline; after the peer closed, with the peer's reset.
func TestWriterTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	peer := <-accepted
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(rc)

	want := make([]byte, 16<<20)
	for i := range want {
		want[i] = byte(i * 7 / 13)
	}
	got := make(chan []byte, 1)
	go func() {
		var buf bytes.Buffer
		chunk := make([]byte, 64<<10)
		for buf.Len() < len(want) {
			n, err := peer.Read(chunk)
			buf.Write(chunk[:n])
			if err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		got <- buf.Bytes()
	}()
	for p := want; len(p) > 0; {
		k := min(len(p), 1<<20)
		n, err := w.Write(p[:k])
		if err != nil || n != k {
			t.Fatalf("Write of %d bytes: %d, %v", k, n, err)
		}
		p = p[k:]
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("the peer read %d bytes, not the %d written in order", len(b), len(want))
	}

	// The peer reads no more: the write waits for room until the deadline.
	nc.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	var werr error
	for i := 0; i < 1000 && werr == nil; i++ {
		_, werr = w.Write(want[:1<<20])
	}
	if !errors.Is(werr, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a peer that reads nothing: %v, want the deadline", werr)
	}

	// The peer closes with unread data (a reset): the write fails with the system's error.
	peer.Close()
	nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	werr = nil
	for i := 0; i < 100 && werr == nil; i++ {
		_, werr = w.Write(want[:64<<10])
		time.Sleep(5 * time.Millisecond)
	}
	var se *os.SyscallError
	if !errors.As(werr, &se) || se.Syscall != "write" {
		t.Fatalf("write after the peer closed: %v, want write's error (a reset or broken pipe)", werr)
	}
}
