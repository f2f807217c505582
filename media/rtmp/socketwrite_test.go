//go:build linux

package rtmp

import (
	"net"
	"testing"

	"github.com/camnode/camnode/internal/rawio"
)

// TestSocketWriter: a plain TCP connection is written with raw write(2) calls (package
// rawio, tested there over TCP), any other connection (TLS, a pipe) through itself.
func TestSocketWriter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if w, ok := socketWriter(nc).(*rawio.Writer); !ok {
		t.Errorf("socketWriter of a TCP conn is %T, want *rawio.Writer", w)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if w := socketWriter(a); w != a {
		t.Errorf("socketWriter of a net.Pipe conn is %T, want the conn", w)
	}
}
