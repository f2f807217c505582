package rtmp

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// hookCall is what nginx-rtmp's on_publish hook reports: the app and tcUrl of connect, and
// the publish name split by nginx at '?' into name and args.
type hookCall struct{ App, Name, Args, TCURL string }

// startNginxWithHook runs nginx-rtmp with one more application per app name and an
// on_publish HTTP hook served by the test, and returns its address and the hook's calls.
func startNginxWithHook(t *testing.T, apps ...string) (addr string, calls <-chan hookCall) {
	t.Helper()
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
	n := peers.StartNginxWith(t, peers.NginxOptions{Apps: apps, OnPublish: hook.URL + "/publish"})
	return n.Addr(), ch
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
