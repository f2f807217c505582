package peers

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Ngircd is a running IRC server (Debian's ngircd): the stand-in for Twitch's chat, which
// speaks the same IRC.
type Ngircd struct {
	Port int
	Dir  string
	proc *process
}

// Addr is host:port of the server.
func (n *Ngircd) Addr() string { return "127.0.0.1:" + strconv.Itoa(n.Port) }

// URL is the server as CAMNODE_CHAT_ENDPOINTS names it: irc://127.0.0.1:PORT.
func (n *Ngircd) URL() string { return "irc://" + n.Addr() }

// StartNgircd runs ngircd in the foreground on a free port of 127.0.0.1, with nicks of up
// to 30 characters (justinfan12345 is 14) and no PAM, ident or DNS lookups; it stops when
// the test ends.
func StartNgircd(t testing.TB) *Ngircd {
	t.Helper()
	Require(t, "ngircd")
	n := &Ngircd{Port: FreePort(t), Dir: tempDir(t)}
	conf := fmt.Sprintf(`[Global]
Name = irc.camnode.test
Info = camnode test server
Listen = 127.0.0.1
Ports = %d
PidFile = %s
MotdPhrase = camnode test
[Limits]
MaxNickLength = 30
MaxConnectionsIP = 0
PingTimeout = 120
PongTimeout = 20
[Options]
PAM = no
Ident = no
DNS = no
OperCanUseMode = yes
`, n.Port, filepath.Join(n.Dir, "ngircd.pid"))
	path := filepath.Join(n.Dir, "ngircd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.proc = &process{name: "ngircd", args: []string{"-n", "-f", path}, logPath: filepath.Join(n.Dir, "ngircd.log")}
	t.Cleanup(func() {
		n.proc.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("ngircd log (tail):\n%s", n.proc.logTail(30))
		}
	})
	if err := n.proc.start(); err != nil {
		t.Fatalf("peers: %v", err)
	}
	if err := WaitPort(n.Addr(), 10*time.Second); err != nil {
		t.Fatalf("peers: ngircd: %v\n%s", err, n.proc.logTail(20))
	}
	return n
}

// IRCClient is a plain IRC client of the test: a viewer who says lines in a channel.
type IRCClient struct {
	t    testing.TB
	c    net.Conn
	r    *bufio.Reader
	mu   sync.Mutex
	Nick string
}

// DialIRC registers nick at addr and waits for the welcome (001).
func DialIRC(t testing.TB, addr, nick string) *IRCClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("irc: %v", err)
	}
	cl := &IRCClient{t: t, c: c, r: bufio.NewReader(c), Nick: nick}
	t.Cleanup(func() { c.Close() })
	cl.Send("NICK " + nick)
	cl.Send("USER " + nick + " 0 * :test viewer")
	cl.Await(" 001 ", 10*time.Second)
	return cl
}

// Send writes one line.
func (c *IRCClient) Send(line string) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.c.Write([]byte(line + "\r\n")); err != nil {
		c.t.Fatalf("irc %s: send: %v", c.Nick, err)
	}
}

// Await reads lines, answering PINGs, until one contains want; it returns that line.
func (c *IRCClient) Await(want string, timeout time.Duration) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var seen []string
	for {
		c.c.SetReadDeadline(deadline)
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("irc %s: no line with %q: %v; seen:\n%s", c.Nick, want, err, strings.Join(seen, ""))
		}
		if strings.HasPrefix(line, "PING ") {
			c.Send("PONG " + strings.TrimSpace(strings.TrimPrefix(line, "PING ")))
		}
		if strings.Contains(line, want) {
			return line
		}
		seen = append(seen, line)
	}
}
