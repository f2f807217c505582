package rtmp

import (
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// socketWriter on a TCP socket: 16 MiB written in large pieces while the peer reads slowly
// (the socket fills and the writer waits for room) all arrive, in order; with the peer not
// reading, a write fails at the deadline; after the peer closed, with the peer's reset.
func TestSocketWriterOverTCP(t *testing.T) {
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
	w := socketWriter(nc)
	if _, ok := w.(*rawSocketWriter); !ok {
		t.Fatalf("socketWriter of a TCP conn is %T", w)
	}

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
