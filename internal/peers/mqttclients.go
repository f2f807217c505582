package peers

import (
	"bufio"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Message is one message as mosquitto_sub printed it.
type Message struct {
	Topic    string
	Payload  string
	Retained bool
	At       time.Time
}

// Sub is a running mosquitto_sub, the client users watch camnode with.
type Sub struct {
	cmd *exec.Cmd

	mu     sync.Mutex
	msgs   []Message
	notify chan struct{}
}

// Subscribe runs mosquitto_sub on the broker for the topic filters until the test ends.
// It returns once the subscription is in place, so nothing published afterwards is missed.
func Subscribe(t testing.TB, m *Mosquitto, filters ...string) *Sub {
	t.Helper()
	// A marker topic published after the client starts tells us the SUBSCRIBE went through.
	marker := "peers-ready/" + strconv.FormatInt(time.Now().UnixNano(), 36)
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(m.Port), "-q", "1", "-F", "%r\t%t\t%p", "-t", marker}
	for _, f := range filters {
		args = append(args, "-t", f)
	}
	cmd := exec.Command("mosquitto_sub", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("peers: mosquitto_sub: %v", err)
	}
	s := &Sub{cmd: cmd, notify: make(chan struct{}, 1)}
	go s.read(out)
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		Publish(t, m, marker, "x")
		if _, ok := s.WaitFor(func(msg Message) bool { return msg.Topic == marker }, 300*time.Millisecond); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("peers: mosquitto_sub did not subscribe within 10 s")
		}
	}
	return s
}

func (s *Sub) read(out interface{ Read([]byte) (int, error) }) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "\t", 3)
		if len(parts) != 3 {
			continue
		}
		msg := Message{Retained: parts[0] == "1", Topic: parts[1], Payload: parts[2], At: time.Now()}
		s.mu.Lock()
		s.msgs = append(s.msgs, msg)
		s.mu.Unlock()
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

// Messages returns every message received so far.
func (s *Sub) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// OnTopic returns the messages received so far on one topic.
func (s *Sub) OnTopic(topic string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// WaitFor waits until a message that match accepts has arrived (also one that arrived
// before the call) and returns the first such message.
func (s *Sub) WaitFor(match func(Message) bool, timeout time.Duration) (Message, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		for _, m := range s.Messages() {
			if match(m) {
				return m, true
			}
		}
		select {
		case <-s.notify:
		case <-deadline.C:
			return Message{}, false
		}
	}
}

// WaitNext waits for a message that match accepts among those arriving after index from
// (use len(s.Messages()) taken before the action under test).
func (s *Sub) WaitNext(from int, match func(Message) bool, timeout time.Duration) (Message, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		msgs := s.Messages()
		for i := from; i < len(msgs); i++ {
			if match(msgs[i]) {
				return msgs[i], true
			}
		}
		select {
		case <-s.notify:
		case <-deadline.C:
			return Message{}, false
		}
	}
}

// Publish sends one message with mosquitto_pub at QoS 1; extra arguments (e.g. "-r") are
// passed on.
func Publish(t testing.TB, m *Mosquitto, topic, payload string, extra ...string) {
	t.Helper()
	args := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(m.Port), "-q", "1", "-t", topic, "-m", payload}, extra...)
	if _, err := run("mosquitto_pub", args...); err != nil {
		t.Fatalf("peers: %v", err)
	}
}

// PublishFile sends the contents of a file as one message (mosquitto_pub -f), for payloads
// that are not valid text arguments.
func PublishFile(t testing.TB, m *Mosquitto, topic, path string, extra ...string) {
	t.Helper()
	args := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(m.Port), "-q", "1", "-t", topic, "-f", path}, extra...)
	if _, err := run("mosquitto_pub", args...); err != nil {
		t.Fatalf("peers: %v", err)
	}
}
