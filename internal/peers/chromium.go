package peers

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium is a headless Debian Chromium (package chromium) driven over the DevTools
// protocol, with a fresh profile, for tests of web pages camnode serves.
type Chromium struct {
	ctx context.Context
	pid int
}

// StartChromium starts the browser; it stops when the test ends. Extra options add to
// the flags below (e.g. chromedp.Flag("host-resolver-rules", "MAP camnode.lan 127.0.0.1"),
// to open a page under a LAN name, which is not a secure context).
func StartChromium(t testing.TB, extra ...chromedp.ExecAllocatorOption) *Chromium {
	t.Helper()
	Require(t, "chromium")
	path, _ := exec.LookPath("chromium")
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// A page in a headless window is never "in the background": keep its timers and
		// rendering at full rate on a loaded machine.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.WindowSize(1280, 720),
		chromedp.UserDataDir(t.TempDir()),
	}, extra...)...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("peers: start chromium: %v", err)
	}
	c := &Chromium{ctx: ctx}
	if p := chromedp.FromContext(ctx).Browser.Process(); p != nil {
		c.pid = p.Pid
	}
	return c
}

// PID is the browser's main process (its renderers are its children).
func (c *Chromium) PID() int { return c.pid }

// RunAction runs one action in the page, with a deadline of a minute.
func RunAction[T any](t testing.TB, c *Chromium, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("peers: chromium: %v", err)
	}
	return v
}

// Navigate loads url.
func (c *Chromium) Navigate(t testing.TB, url string) {
	t.Helper()
	RunAction(t, c, chromedp.Navigate(url))
}

// Click clicks the first element that matches the CSS selector sel, as a user would (the
// page gets a user activation: it may then play sound).
func (c *Chromium) Click(t testing.TB, sel string) {
	t.Helper()
	RunAction(t, c, chromedp.Click(chromedp.CSS(sel)))
}

// Key types keys into the page, as a user would.
func (c *Chromium) Key(t testing.TB, keys string) {
	t.Helper()
	RunAction(t, c, chromedp.KeyEvent(keys))
}

// Screenshot returns a PNG of the window.
func (c *Chromium) Screenshot(t testing.TB) []byte {
	t.Helper()
	return RunAction(t, c, chromedp.CaptureScreenshot())
}

// Eval evaluates a JavaScript expression in the page and decodes its JSON value into out.
func (c *Chromium) Eval(t testing.TB, expr string, out any) {
	t.Helper()
	raw := RunAction(t, c, chromedp.Evaluate[[]byte](expr))
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("peers: chromium: %s: result %s: %v", expr, raw, err)
	}
}

// WaitJS polls a JavaScript condition until it is true, or fails the test after timeout.
func (c *Chromium) WaitJS(t testing.TB, what, cond string, timeout time.Duration) {
	t.Helper()
	waitJS(t, "chromium", c.Eval, what, cond, timeout)
}

// waitJS polls cond with eval (a browser's Eval) until it is true, or fails the test.
func waitJS(t testing.TB, browser string, eval func(testing.TB, string, any), what, cond string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		eval(t, "!!("+cond+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("peers: %s: gave up after %v waiting for %s", browser, timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
