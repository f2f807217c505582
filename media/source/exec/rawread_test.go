package exec

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// TestReadFull: pictures that arrive in pieces are read whole; an output that ends
// inside a picture gives what came and io.ErrUnexpectedEOF, one that ends between
// pictures io.EOF, as io.ReadFull; a read deadline still ends the wait.
func TestReadFull(t *testing.T) {
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
		if n, err := readFull(r, buf); n != len(buf) || err != nil || !bytes.Equal(buf, sent[i*len(buf):(i+1)*len(buf)]) {
			t.Fatalf("picture %d: %d bytes, %v, same bytes %v", i, n, err, bytes.Equal(buf, sent[i*len(buf):(i+1)*len(buf)]))
		}
	}
	if n, err := readFull(r, buf); n != 10 || err != io.ErrUnexpectedEOF || !bytes.Equal(buf[:10], sent[len(sent)-10:]) {
		t.Errorf("the last 10 bytes: %d, %v", n, err)
	}
	if n, err := readFull(r, buf); n != 0 || err != io.EOF {
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
	if n, err := readFull(r2, buf); n != 3 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("deadline: %d, %v; want 3 and a deadline error", n, err)
	}
}
