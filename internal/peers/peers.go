// Package peers starts the real third-party programs camnode's tests run against
// (Mosquitto, nginx with the RTMP module, ffmpeg/ffprobe) on free 127.0.0.1 ports, and stops
// them when the test ends.
//
// Where a program is missing the test is skipped, except when CI is set (or
// PEERS_REQUIRED=1): there a missing peer fails the test, because those tests must run.
package peers

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Mosquitto and nginx live in /usr/sbin, which a user's PATH often lacks.
func init() {
	path := os.Getenv("PATH")
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		if !strings.Contains(":"+path+":", ":"+d+":") {
			path += ":" + d
		}
	}
	os.Setenv("PATH", path)
}

// Require returns the path of each named program, or ends the test: skipped on a developer
// machine, failed in CI.
func Require(t testing.TB, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("CI") != "" || os.Getenv("PEERS_REQUIRED") == "1" {
				t.Fatalf("peer program %q is required but missing (install with: make deps)", p)
			}
			t.Skipf("peer program %q missing (install with: make deps)", p)
		}
	}
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("peers: free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// WaitPort waits until something accepts TCP connections on addr.
func WaitPort(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %v: %w", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// process is one running peer program whose output goes to a log file.
type process struct {
	name    string
	args    []string
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s already running", p.name)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.name, p.args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// stop signals the whole process group and waits for the leader to exit.
func (p *process) stop(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	// nginx workers are in the same group; make sure none survive the master.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

func (p *process) logTail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tempDir makes a directory that the unprivileged users peers drop to (mosquitto, nobody)
// can enter: t.TempDir is 0700.
func tempDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/" && d != "."; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	return dir
}

// Mosquitto is a running broker. Port is a plain listener open to anonymous clients (the
// test's own mosquitto_pub/mosquitto_sub use it); a broker from StartMosquittoTLS also
// has TLSPort, where TLS and its password file apply.
type Mosquitto struct {
	Port    int
	TLSPort int
	Dir     string
	proc    *process
}

// Addr is host:port of the broker.
func (m *Mosquitto) Addr() string { return "127.0.0.1:" + strconv.Itoa(m.Port) }

// URL is the broker's address as camnode's CAMNODE_MQTT_URL takes it.
func (m *Mosquitto) URL() string { return "tcp://" + m.Addr() }

// mosquittoCommon is the part of every broker config after its listeners: no persistence
// (a restart loses every retained message, as the fault tests want), and a log the harness
// reads.
const mosquittoCommon = `persistence false
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
`

// StartMosquitto runs a fresh broker on a free port with anonymous access and no
// persistence; it stops when the test ends. extraConf lines are appended to the config.
func StartMosquitto(t testing.TB, extraConf ...string) *Mosquitto {
	t.Helper()
	Require(t, "mosquitto", "mosquitto_pub", "mosquitto_sub")
	m := &Mosquitto{Port: FreePort(t), Dir: tempDir(t)}
	conf := fmt.Sprintf("per_listener_settings false\nlistener %d 127.0.0.1\nallow_anonymous true\n%s%s\n",
		m.Port, mosquittoCommon, strings.Join(extraConf, "\n"))
	m.run(t, conf)
	return m
}

// run writes the config, starts the broker, and when SECRETS_SWEEP_DIR is set records
// everything published on it for the secrets sweep.
func (m *Mosquitto) run(t testing.TB, conf string) {
	t.Helper()
	dir := m.Dir
	confPath := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	m.proc = &process{name: "mosquitto", args: []string{"-c", confPath}, logPath: filepath.Join(dir, "mosquitto.log")}
	t.Cleanup(func() {
		m.proc.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("mosquitto log (tail):\n%s", m.proc.logTail(40))
		}
	})
	m.Start(t)
	captureForSweep(t, m)
}

// Start starts the broker again on the same port (after Stop or Kill).
func (m *Mosquitto) Start(t testing.TB) {
	t.Helper()
	if err := m.proc.start(); err != nil {
		t.Fatalf("peers: %v", err)
	}
	if err := WaitPort(m.Addr(), 10*time.Second); err != nil {
		t.Fatalf("peers: mosquitto: %v\n%s", err, m.proc.logTail(20))
	}
}

// Stop ends the broker gracefully (SIGTERM).
func (m *Mosquitto) Stop() { m.proc.stop(syscall.SIGTERM) }

// Kill ends the broker at once (SIGKILL).
func (m *Mosquitto) Kill() { m.proc.stop(syscall.SIGKILL) }

// Log returns the broker's log so far.
func (m *Mosquitto) Log() string { b, _ := os.ReadFile(m.proc.logPath); return string(b) }

// Nginx is a running nginx-rtmp ingest. Application "live" records every published stream
// to RecDir as <stream>-<unixtime>.flv; application "closed" denies publishing.
type Nginx struct {
	Port   int
	Prefix string
	RecDir string
	proc   *process
}

// Addr is host:port of the RTMP listener.
func (n *Nginx) Addr() string { return "127.0.0.1:" + strconv.Itoa(n.Port) }

// URL returns the publish URL of a stream in the "live" application.
func (n *Nginx) URL(stream string) string {
	return "rtmp://" + n.Addr() + "/live/" + stream
}

// NginxOptions adds to the ingest that StartNginxWith runs.
type NginxOptions struct {
	// Apps are more applications (live, not recorded) beside "live" and "closed"; those
	// two names are left as they are.
	Apps []string
	// OnPublish, when set, is the URL nginx-rtmp posts every publish to (on_publish).
	OnPublish string
}

// StartNginx runs nginx with the RTMP module on a free port; it stops when the test ends.
// Its application "live" records every stream into RecDir; "closed" refuses publishing.
func StartNginx(t testing.TB) *Nginx {
	t.Helper()
	return StartNginxWith(t, NginxOptions{})
}

// StartNginxWith is StartNginx with more applications and an on_publish hook.
func StartNginxWith(t testing.TB, o NginxOptions) *Nginx {
	t.Helper()
	Require(t, "nginx", "ffprobe", "ffmpeg")
	const module = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
	if _, err := os.Stat(module); err != nil {
		Require(t, "ngx_rtmp_module.so (package libnginx-mod-rtmp)")
	}
	prefix := tempDir(t)
	n := &Nginx{Port: FreePort(t), Prefix: prefix, RecDir: filepath.Join(prefix, "rec")}
	for _, d := range []string{"conf", "logs", "rec", "tmp"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o777); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(prefix, d), 0o777) // workers run as nobody
	}
	var extra strings.Builder
	if o.OnPublish != "" {
		fmt.Fprintf(&extra, "        on_publish %s;\n", o.OnPublish)
	}
	for _, app := range o.Apps {
		if app != "live" && app != "closed" {
			fmt.Fprintf(&extra, "        application %s { live on; }\n", app)
		}
	}
	conf := fmt.Sprintf(`load_module %[3]s;
daemon off;
master_process on;
worker_processes 1;
pid %[1]s/logs/nginx.pid;
error_log %[1]s/logs/error.log info;
events { worker_connections 256; }
rtmp {
    access_log %[1]s/logs/rtmp_access.log;
    server {
        listen 127.0.0.1:%[2]d;
        chunk_size 4096;
        max_message 16M;
        application live {
            live on;
            record all;
            record_path %[1]s/rec;
            record_unique on;
            allow publish 127.0.0.1;
            deny publish all;
            allow play all;
        }
        application closed {
            live on;
            deny publish all;
        }
%[4]s    }
}
`, prefix, n.Port, module, extra.String())
	confPath := filepath.Join(prefix, "conf", "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.proc = &process{name: "nginx", args: []string{"-p", prefix, "-c", confPath, "-e", filepath.Join(prefix, "logs", "error.log")},
		logPath: filepath.Join(prefix, "logs", "stdout.log")}
	t.Cleanup(func() {
		n.proc.stop(syscall.SIGQUIT)
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(prefix, "logs", "error.log"))
			t.Logf("nginx error.log (tail):\n%s", tail(string(b), 30))
		}
	})
	n.Start(t)
	return n
}

// Start starts nginx again on the same port (after Stop or Kill).
func (n *Nginx) Start(t testing.TB) {
	t.Helper()
	if err := n.proc.start(); err != nil {
		t.Fatalf("peers: %v", err)
	}
	if err := WaitPort(n.Addr(), 10*time.Second); err != nil {
		b, _ := os.ReadFile(filepath.Join(n.Prefix, "logs", "error.log"))
		t.Fatalf("peers: nginx: %v\n%s", err, tail(string(b), 20))
	}
}

// Stop ends nginx gracefully (SIGQUIT lets it finish recordings).
func (n *Nginx) Stop() { n.proc.stop(syscall.SIGQUIT) }

// Kill ends nginx and its worker at once.
func (n *Nginx) Kill() { n.proc.stop(syscall.SIGKILL) }

// Recordings lists the recorded files of a stream, oldest first.
func (n *Nginx) Recordings(stream string) []string {
	files, _ := filepath.Glob(filepath.Join(n.RecDir, stream+"-*.flv"))
	return files
}

// AccessLog returns nginx-rtmp's access log: one line per finished session.
func (n *Nginx) AccessLog() string {
	b, _ := os.ReadFile(filepath.Join(n.Prefix, "logs", "rtmp_access.log"))
	return string(b)
}

// ErrorLog returns nginx's error log.
func (n *Nginx) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(n.Prefix, "logs", "error.log"))
	return string(b)
}

// WaitPublishEnded waits until count publish sessions of stream have ended (nginx writes
// the access log line when the session closes, after the recording is complete) and returns
// the recordings.
func (n *Nginx) WaitPublishEnded(t testing.TB, stream string, count int, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	needle := `PUBLISH "live" "` + stream + `"`
	for {
		if strings.Count(n.AccessLog(), needle) >= count {
			return n.Recordings(stream)
		}
		if time.Now().After(deadline) {
			t.Fatalf("peers: nginx saw %d/%d ended publishes of %q after %v; access log:\n%s\nerror log:\n%s",
				strings.Count(n.AccessLog(), needle), count, stream, timeout, n.AccessLog(), tail(n.ErrorLog(), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// run runs a program and returns its stdout; stderr goes into the error.
func run(name string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, tail(stderr.String(), 10))
	}
	return stdout.Bytes(), nil
}

// SweepDir is where the secrets sweep collects what the tests' programs printed and
// published (set by `make test`; scripts/ci/secrets.sh greps it), or "" when unset.
func SweepDir() string { return os.Getenv("SECRETS_SWEEP_DIR") }

// SweepFile creates a file for the secrets sweep named after the test and what it holds
// ("camnode.log", "mqtt.txt"), or returns nil when SweepDir is unset.
func SweepFile(t testing.TB, what string) *os.File {
	t.Helper()
	dir := SweepDir()
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("peers: secrets sweep directory: %v", err)
	}
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, t.Name())
	ext := filepath.Ext(what)
	f, err := os.CreateTemp(dir, name+"-"+strings.TrimSuffix(what, ext)+"-*"+ext)
	if err != nil {
		t.Fatalf("peers: secrets sweep file: %v", err)
	}
	return f
}

// captureForSweep records every message published on the broker (mosquitto_sub -v on
// '#', which reconnects by itself when the broker restarts) into a sweep file, so the
// sweep sees every event, state, telemetry and discovery payload. Nothing without
// SECRETS_SWEEP_DIR.
func captureForSweep(t testing.TB, m *Mosquitto) {
	t.Helper()
	f := SweepFile(t, "mqtt.txt")
	if f == nil {
		return
	}
	cmd := exec.Command("mosquitto_sub", "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port), "-q", "1", "-v", "-t", "#")
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("peers: mosquitto_sub for the secrets sweep: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
	})
	// Wait for the subscription, so the first messages of the test are in the file too.
	marker := "peers-sweep/" + strconv.FormatInt(time.Now().UnixNano(), 36)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := run("mosquitto_pub", "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port), "-q", "1", "-t", marker, "-m", "x"); err != nil {
			t.Fatalf("peers: %v", err)
		}
		for i := 0; i < 10; i++ {
			if b, _ := os.ReadFile(f.Name()); bytes.Contains(b, []byte(marker)) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatalf("peers: mosquitto_sub for the secrets sweep did not subscribe within 10 s")
		}
	}
}
