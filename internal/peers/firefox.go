package peers

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Firefox is a headless Debian Firefox ESR (package firefox-esr) driven over WebDriver
// BiDi, the protocol built into it (no geckodriver), with a fresh profile, for tests of
// web pages camnode serves. Every host name resolves to 127.0.0.1 in it, so that a page
// opens under a LAN name (http://camnode.lan:PORT/), which is not a secure context.
type Firefox struct {
	mu      sync.Mutex
	ws      *websocket.Conn
	next    int
	context string // the top-level browsing context
}

// StartFirefox starts the browser (a 1280x720 window); it stops when the test ends. A
// missing firefox-esr fails the test in CI (Require).
func StartFirefox(t testing.TB) *Firefox {
	t.Helper()
	Require(t, "firefox-esr")
	profile := t.TempDir()
	prefs := map[string]any{
		"network.dns.forceResolve": "127.0.0.1",
		// Autoplay allowed (the page starts muted anyway); the rest keeps a first start quiet.
		"media.autoplay.default":                     0,
		"browser.shell.checkDefaultBrowser":          false,
		"datareporting.policy.dataSubmissionEnabled": false,
		"toolkit.telemetry.reportingpolicy.firstRun": false,
	}
	var userJS strings.Builder
	for k, v := range prefs {
		b, _ := json.Marshal(v)
		fmt.Fprintf(&userJS, "user_pref(%q, %s);\n", k, b)
	}
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(userJS.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	logPath := filepath.Join(profile, "firefox.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the browser holds its own descriptor
	logged := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	cmd := exec.Command("firefox-esr", "--headless", "--no-remote", "--profile", profile,
		"--remote-debugging-port", strconv.Itoa(port), "about:blank")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so that its content processes end with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), "MOZ_HEADLESS=1", "MOZ_HEADLESS_WIDTH=1280", "MOZ_HEADLESS_HEIGHT=720", "HOME="+profile)
	if err := cmd.Start(); err != nil {
		t.Fatalf("peers: start firefox: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})

	// The BiDi server listens once the browser has started.
	url := fmt.Sprintf("ws://127.0.0.1:%d/session", port)
	deadline := time.Now().Add(2 * time.Minute)
	var ws *websocket.Conn
	for {
		var err error
		ws, _, err = websocket.DefaultDialer.Dial(url, nil)
		if err == nil {
			break
		}
		select {
		case <-done:
			t.Fatalf("peers: firefox ended before its WebDriver BiDi server listened:\n%s", logged())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("peers: firefox: no WebDriver BiDi server at %s: %v\n%s", url, err, logged())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Cleanup(func() { ws.Close() })
	f := &Firefox{ws: ws}
	f.call(t, "session.new", map[string]any{"capabilities": map[string]any{}}, nil)
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	f.call(t, "browsingContext.getTree", map[string]any{}, &tree)
	if len(tree.Contexts) == 0 {
		t.Fatal("peers: firefox: no browsing context")
	}
	f.context = tree.Contexts[0].Context
	return f
}

// call sends one command and decodes its result into out (unless nil), skipping events.
func (f *Firefox) call(t testing.TB, method string, params any, out any) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	id := f.next
	f.ws.SetWriteDeadline(time.Now().Add(time.Minute))
	if err := f.ws.WriteJSON(map[string]any{"id": id, "method": method, "params": params}); err != nil {
		t.Fatalf("peers: firefox: %s: %v", method, err)
	}
	f.ws.SetReadDeadline(time.Now().Add(time.Minute))
	for {
		var msg struct {
			Type    string          `json:"type"`
			ID      int             `json:"id"`
			Result  json.RawMessage `json:"result"`
			Error   string          `json:"error"`
			Message string          `json:"message"`
		}
		if err := f.ws.ReadJSON(&msg); err != nil {
			t.Fatalf("peers: firefox: %s: %v", method, err)
		}
		if msg.ID != id || msg.Type == "event" {
			continue
		}
		if msg.Type == "error" {
			t.Fatalf("peers: firefox: %s: %s: %s", method, msg.Error, msg.Message)
		}
		if out != nil {
			if err := json.Unmarshal(msg.Result, out); err != nil {
				t.Fatalf("peers: firefox: %s: result %s: %v", method, msg.Result, err)
			}
		}
		return
	}
}

// Navigate loads url and waits for its document to be complete.
func (f *Firefox) Navigate(t testing.TB, url string) {
	t.Helper()
	f.call(t, "browsingContext.navigate", map[string]any{"context": f.context, "url": url, "wait": "complete"}, nil)
}

// Eval evaluates a JavaScript expression in the page (a promise is awaited) and decodes
// its JSON value into out.
func (f *Firefox) Eval(t testing.TB, expr string, out any) {
	t.Helper()
	var res struct {
		Type   string `json:"type"`
		Result struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	f.call(t, "script.evaluate", map[string]any{
		"expression":   "(async () => JSON.stringify(await (" + expr + ")))()",
		"target":       map[string]any{"context": f.context},
		"awaitPromise": true,
	}, &res)
	if res.Type != "success" {
		t.Fatalf("peers: firefox: %s: %s", expr, res.ExceptionDetails.Text)
	}
	if res.Result.Type != "string" {
		t.Fatalf("peers: firefox: %s: no JSON value (%s)", expr, res.Result.Type)
	}
	if err := json.Unmarshal([]byte(res.Result.Value), out); err != nil {
		t.Fatalf("peers: firefox: %s: result %s: %v", expr, res.Result.Value, err)
	}
}

// WaitJS polls a JavaScript condition until it is true, or fails the test after timeout.
func (f *Firefox) WaitJS(t testing.TB, what, cond string, timeout time.Duration) {
	t.Helper()
	waitJS(t, "firefox", f.Eval, what, cond, timeout)
}

// Screenshot returns a PNG of the page's viewport.
func (f *Firefox) Screenshot(t testing.TB) []byte {
	t.Helper()
	var res struct {
		Data string `json:"data"`
	}
	f.call(t, "browsingContext.captureScreenshot", map[string]any{"context": f.context}, &res)
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		t.Fatalf("peers: firefox: screenshot: %v", err)
	}
	return png
}
