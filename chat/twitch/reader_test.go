package twitch

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/chat/platform"
	"github.com/camnode/camnode/chat/platform/platformtest"
	"github.com/camnode/camnode/internal/peers"
)

// run supervises a reader of opts until the test ends.
func run(t *testing.T, opts Options) *platformtest.Collector {
	c, _ := platformtest.Run(t, platform.Room{Platform: platform.Twitch, ID: opts.Channel}, Session(opts))
	return c
}

// Against a real IRC server (ngircd): the reader registers as justinfanNNNNN (ngircd
// answers CAP REQ with NAK), joins the channel, and a viewer's lines arrive as chat
// messages in order, the viewer's nick as the user; a /me action too.
func TestReadsAChannelOnNgircd(t *testing.T) {
	irc := peers.StartNgircd(t)
	viewer := peers.DialIRC(t, irc.Addr(), "alice")
	viewer.Send("JOIN #garden")
	viewer.Await("366", 10*time.Second)

	u, _ := url.Parse(irc.URL())
	c := run(t, Options{Channel: "Garden", Endpoint: u})
	c.Await(t, "connected", func([]chat.Message, []platform.Status) bool { return c.Connects() == 1 })
	viewer.Await(":justinfan", 10*time.Second) // the reader's JOIN, as the channel sees it

	lines := []string{"hello from irc", "大家好 😀", "\x01ACTION waves\x01"}
	for _, l := range lines {
		viewer.Send("PRIVMSG #garden :" + l)
	}
	c.Await(t, "three messages", func(m []chat.Message, _ []platform.Status) bool { return len(m) >= 3 })
	want := []string{"hello from irc", "大家好 😀", "waves"}
	for i, m := range c.Messages() {
		if m.Text != want[i] || m.User != "alice" || m.Source != "twitch" {
			t.Errorf("message %d: %+v, want %q from alice", i, m, want[i])
		}
	}
}

// standIn is a scripted IRC server on 127.0.0.1: each connection gets the next script.
type standIn struct {
	ln    net.Listener
	conns chan net.Conn
}

func newStandIn(t *testing.T, scripts ...func(c net.Conn, r *bufio.Reader)) *standIn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			script := scripts[min(i, len(scripts)-1)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				script(c, bufio.NewReader(c))
			}()
		}
	}()
	return &standIn{ln: ln}
}

// welcome reads the registration up to CAP END, says 001, and echoes the JOIN.
func welcome(c net.Conn, r *bufio.Reader) {
	nick := ""
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if n, ok := strings.CutPrefix(strings.TrimSpace(l), "NICK "); ok {
			nick = n
		}
		if strings.HasPrefix(l, "CAP REQ") {
			fmt.Fprintf(c, ":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands\r\n")
		}
		if strings.HasPrefix(l, "CAP END") {
			fmt.Fprintf(c, ":tmi.twitch.tv 001 %s :Welcome, GLHF!\r\n", nick)
		}
		if strings.HasPrefix(l, "JOIN ") {
			fmt.Fprintf(c, ":%s!%s@%s.tmi.twitch.tv JOIN #chan\r\n", nick, nick, nick)
			return
		}
	}
}

// RECONNECT makes the reader connect again; a server that stops answering (no PONG, no
// lines) is found dead by the keep-alive and left; the third connection delivers, with
// Twitch's tags.
func TestReconnectsOnRECONNECTAndSilence(t *testing.T) {
	s := newStandIn(t,
		func(c net.Conn, r *bufio.Reader) {
			welcome(c, r)
			fmt.Fprintf(c, ":tmi.twitch.tv RECONNECT\r\n")
			r.ReadString('\n') // until the reader closes
		},
		func(c net.Conn, r *bufio.Reader) {
			welcome(c, r)
			// Silent: read and never answer, until the reader gives up.
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			for {
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
			}
		},
		func(c net.Conn, r *bufio.Reader) {
			welcome(c, r)
			fmt.Fprintf(c, "@color=#1E90FF;display-name=Bob;id=m-1;tmi-sent-ts=1700000000000 :bob!bob@bob.tmi.twitch.tv PRIVMSG #chan :third time lucky\r\n")
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			r.ReadString('\n')
			for {
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
			}
		},
	)
	u, _ := url.Parse("irc://" + s.ln.Addr().String())
	c := run(t, Options{Channel: "chan", Endpoint: u, KeepAlive: 200 * time.Millisecond})
	c.Await(t, "a message after two failures", func(m []chat.Message, _ []platform.Status) bool { return len(m) == 1 })
	want := chat.Message{Text: "third time lucky", User: "Bob", Color: 0x1e90ff, ID: "m-1", Source: "twitch", TS: 1700000000000}
	if got := c.Messages()[0]; got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	reasons := c.Failures()
	if c.Connects() != 3 || len(reasons) != 2 ||
		!strings.Contains(reasons[0], "asked to reconnect") || !strings.Contains(reasons[1], "nothing heard for 400ms") {
		t.Fatalf("status: %v", c.Statuses())
	}
}

// Messages per second one reader takes from a socket into a deliver func.
func BenchmarkReaderThroughput(b *testing.B) {
	line := "@color=#1E90FF;display-name=Bob;id=m-1;tmi-sent-ts=1700000000000 :bob!bob@bob.tmi.twitch.tv PRIVMSG #chan :a message of some forty characters ok\r\n"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	n := b.N
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		welcome(c, r)
		w := bufio.NewWriter(c)
		for range n {
			w.WriteString(line)
		}
		w.Flush()
		r.ReadString('\n')
	}()
	u, _ := url.Parse("irc://" + ln.Addr().String())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := 0
	done := make(chan struct{})
	b.ResetTimer()
	go func() {
		Session(Options{Channel: "chan", Endpoint: u})(ctx, func() {}, func(chat.Message) {
			got++
			if got == n {
				close(done)
			}
		})
	}()
	<-done
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
	cancel()
}

// IRC over WebSocket (wss://irc-ws.chat.twitch.tv's form): a text message may hold several
// CR LF lines.
func TestReadsOverWebSocket(t *testing.T) {
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			switch l := string(b); {
			case strings.HasPrefix(l, "CAP END"):
				c.WriteMessage(websocket.TextMessage, []byte(":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands\r\n:tmi.twitch.tv 001 justinfan :Welcome, GLHF!\r\n"))
			case strings.HasPrefix(l, "JOIN"):
				c.WriteMessage(websocket.TextMessage, []byte(":tmi.twitch.tv 366 justinfan #chan :End of /NAMES list\r\n"+
					"@display-name=Eve;id=w1 :eve!eve@eve.tmi.twitch.tv PRIVMSG #chan :over websocket\r\n"))
			}
		}
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse("ws" + strings.TrimPrefix(srv.URL, "http"))
	c := run(t, Options{Channel: "chan", Endpoint: u})
	c.Await(t, "a message", func(m []chat.Message, _ []platform.Status) bool { return len(m) == 1 })
	if m := c.Messages()[0]; m.Text != "over websocket" || m.User != "Eve" || m.ID != "w1" {
		t.Fatalf("%+v", m)
	}
}
