package rtmp

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// hookCall is what nginx-rtmp's on_publish hook reports: the app and tcUrl of connect, and
// the publish name split by nginx at '?' into name and args.
type hookCall struct{ App, Name, Args, TCURL string }

// startNginxWithHook runs nginx-rtmp with one application per app name, each calling an
// on_publish HTTP hook served by the test, and returns its address and the hook's calls.
func startNginxWithHook(t *testing.T, apps ...string) (addr string, calls <-chan hookCall) {
	t.Helper()
	peers.Require(t, "nginx")
	const module = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
	if _, err := os.Stat(module); err != nil {
		peers.Require(t, "ngx_rtmp_module.so (package libnginx-mod-rtmp)")
	}
	ch := make(chan hookCall, 64)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// nginx-rtmp posts app, name, tcurl... as form fields and appends the publish
		// arguments raw after them: "...&type=live&<args>".
		body, _ := io.ReadAll(r.Body)
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("call") == "publish" {
			_, args, _ := strings.Cut(string(body), "&type="+form.Get("type")+"&")
			ch <- hookCall{App: form.Get("app"), Name: form.Get("name"), Args: args, TCURL: form.Get("tcurl")}
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(hook.Close)

	prefix := t.TempDir()
	for _, d := range []string{"conf", "logs", "tmp"} {
		os.MkdirAll(filepath.Join(prefix, d), 0o777)
		os.Chmod(filepath.Join(prefix, d), 0o777)
	}
	port := peers.FreePort(t)
	var b strings.Builder
	for _, app := range apps {
		fmt.Fprintf(&b, "        application %s { live on; }\n", app)
	}
	conf := fmt.Sprintf(`load_module %s;
daemon off;
master_process on;
worker_processes 1;
pid %[2]s/logs/nginx.pid;
error_log %[2]s/logs/error.log info;
events { worker_connections 64; }
rtmp {
    access_log %[2]s/logs/rtmp_access.log;
    server {
        listen 127.0.0.1:%[3]d;
        on_publish %[4]s/publish;
%[5]s    }
}
`, module, prefix, port, hook.URL, b.String())
	confPath := filepath.Join(prefix, "conf", "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nginx", "-p", prefix, "-c", confPath, "-e", filepath.Join(prefix, "logs", "error.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if out, err := os.Create(filepath.Join(prefix, "logs", "stdout.log")); err == nil {
		cmd.Stdout, cmd.Stderr = out, out
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGQUIT)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
			}
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(prefix, "logs", "error.log"))
			t.Logf("nginx error.log:\n%s", tail(string(b), 30))
		}
	})
	addr = "127.0.0.1:" + strconv.Itoa(port)
	if err := peers.WaitPort(addr, 20*time.Second); err != nil {
		b, _ := os.ReadFile(filepath.Join(prefix, "logs", "error.log"))
		t.Fatalf("nginx: %v\n%s", err, b)
	}
	return addr, ch
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestPlatformURLsIntoNginx publishes with every platform's URL form, moved to a local
// nginx-rtmp (rtmps through a TLS front, as an rtmps ingest terminates it), and checks what
// arrived in nginx's on_publish hook: the app, the name, the arguments and the tcUrl are
// what the URL says and what OBS and ffmpeg send; the fragment never arrives.
func TestPlatformURLsIntoNginx(t *testing.T) {
	addr, calls := startNginxWithHook(t, "live", "live-bvc", "live2", "app", "rtmp", "app/inst")
	cert, pool := selfSignedCert(t)
	tlsAddr := startTLSProxy(t, cert, addr)
	for _, tt := range platformURLs {
		t.Run(tt.name, func(t *testing.T) {
			orig, err := ParseURL(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			// The same path and query on the local ingest.
			hostport := addr
			if orig.Scheme == "rtmps" {
				hostport = tlsAddr
			}
			_, pathAndQuery, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(tt.raw), strings.SplitN(strings.TrimSpace(tt.raw), "/", 4)[0]+"//"), "/")
			raw := orig.Scheme + "://" + hostport + "/" + pathAndQuery
			u, err := ParseURL(raw)
			if err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			c, err := Dial(context.Background(), raw, Options{Timeout: 10 * time.Second, TLSConfig: &tls.Config{RootCAs: pool}})
			if err != nil {
				t.Fatalf("Dial %s: %v", u, err)
			}
			defer c.Close()
			var got hookCall
			select {
			case got = <-calls:
			case <-time.After(30 * time.Second):
				t.Fatal("nginx called no on_publish hook")
			}
			wantName, wantArgs, _ := strings.Cut(tt.publish, "?")
			want := hookCall{App: tt.app, Name: wantName, Args: wantArgs, TCURL: u.TCURL}
			if got != want {
				t.Errorf("nginx got %+v\nwant      %+v", got, want)
			}
			// The query's parameters arrive as the platform's server reads them.
			if q, err := url.ParseQuery(got.Args); err == nil && strings.Contains(tt.raw, "key=0123abcd") && q.Get("key") != "0123abcd" {
				t.Errorf("bilibili key arrived as %q", q.Get("key"))
			}
			if strings.Contains(got.Name+got.Args+got.TCURL, "FRAG") {
				t.Errorf("the fragment was sent: %+v", got)
			}
		})
	}
}
