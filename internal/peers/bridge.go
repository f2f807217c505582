package peers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// StartMosquittoBridge runs a second broker that bridges to remote: every topic filter in
// topics crosses both ways at QoS 1, as a site broker bridged to a central one would. The
// bridge reconnects within seconds when either side restarts.
func StartMosquittoBridge(t testing.TB, remote *Mosquitto, topics ...string) *Mosquitto {
	t.Helper()
	conf := []string{
		"connection bridge-to-" + strconv.Itoa(remote.Port),
		"address " + remote.Addr(),
		"cleansession true",
		"restart_timeout 1 3",
		"notifications false",
		"try_private true",
	}
	for _, f := range topics {
		conf = append(conf, "topic "+f+" both 1")
	}
	return StartMosquitto(t, conf...)
}

// StartMosquittoACL runs a broker where the users (name: password) log in with a password
// file, and the ACL (Mosquitto's acl_file syntax, %u and %c patterns included) decides who
// may read and write what. Anonymous clients (the test's own mosquitto_pub/sub) are still
// let in; the ACL's lines before its first "user" line are theirs.
func StartMosquittoACL(t testing.TB, users map[string]string, acl string) *Mosquitto {
	t.Helper()
	Require(t, "mosquitto_passwd")
	dir := tempDir(t)
	pw := filepath.Join(dir, "passwd")
	if err := os.WriteFile(pw, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for u, p := range users {
		if out, err := exec.Command("mosquitto_passwd", "-b", pw, u, p).CombinedOutput(); err != nil {
			t.Fatalf("peers: mosquitto_passwd %s: %v\n%s", u, err, out)
		}
	}
	os.Chmod(pw, 0o644) // mosquitto drops to its own user when started as root
	aclPath := filepath.Join(dir, "acl")
	if err := os.WriteFile(aclPath, []byte(acl), 0o644); err != nil {
		t.Fatal(err)
	}
	return StartMosquitto(t, "password_file "+pw, "acl_file "+aclPath)
}

// AwaitEach waits until each of topics has a message that match accepts, among the
// messages from index from on, and returns when the first such message of each arrived.
// Topics still without one when timeout has passed are returned as missing.
func (s *Sub) AwaitEach(from int, topics []string, match func(Message) bool, timeout time.Duration) (at map[string]time.Time, missing []string) {
	want := map[string]bool{}
	for _, tp := range topics {
		want[tp] = true
	}
	at = map[string]time.Time{}
	deadline := time.After(timeout)
	seen := from
	for {
		msgs := s.Messages()
		for _, m := range msgs[min(seen, len(msgs)):] {
			if want[m.Topic] && match(m) {
				if _, done := at[m.Topic]; !done {
					at[m.Topic] = m.At
				}
			}
		}
		seen = len(msgs)
		if len(at) == len(want) {
			return at, nil
		}
		select {
		case <-s.notify:
		case <-deadline:
			for _, tp := range topics {
				if _, ok := at[tp]; !ok {
					missing = append(missing, tp)
				}
			}
			return at, missing
		}
	}
}

// RSS is the resident set size of a process in bytes, from /proc/<pid>/status.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
