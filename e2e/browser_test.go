package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"twincap/server/wire"
)

// browser starts a headless Chromium from Debian's package (no browser is
// downloaded) and returns a context that drives one tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	return browserWith(t)
}

// browserWith is browser with more Chromium options.
func browserWith(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found: the page tests drive Debian's headless Chromium (apt-get install chromium, or ./scripts/setup): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1024, 768), // a tablet in landscape
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	// The first call starts the browser, which lives as long as ctx: no
	// timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// artifacts is where screenshots go: out/artifacts/<test> in the
// repository, kept after the run for people to look at.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "out", "artifacts", strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// page runs browser actions with a deadline, failing with the box's state.
func (r *room) page(ctx context.Context, what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	r.t.Helper()
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(cctx, actions...); err != nil {
		r.t.Fatalf("page: %s: %v%s", what, err, r.logs())
	}
}

// read runs one action that returns a value.
func read[T any](r *room, ctx context.Context, what string, a chromedp.Action[T]) T {
	r.t.Helper()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(cctx, a)
	if err != nil {
		r.t.Fatalf("page: %s: %v%s", what, err, r.logs())
	}
	return v
}

func (r *room) screenshot(ctx context.Context, dir, name string) {
	r.t.Helper()
	png := read(r, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func serverIcon(name, attr, value string) chromedp.CSS {
	return chromedp.CSS(fmt.Sprintf(`#servers li[data-name=%q][%s=%q]`, name, attr, value))
}

// css is a CSS selector (a plain string would be a text search).
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// The operator's page on the box, in a real browser: log in, start by
// keyboard, both icons go to recording, the preferred server is killed and
// its icon goes offline while recording goes on, it returns and records
// again, stop. Cancel asks first and says what is deleted.
func TestControlPageInABrowser(t *testing.T) {
	r := newRoom(t, roomOptions{mode: wire.Buffered, fallback: "any"})
	pref := r.servers[0]
	ctx := browser(t)
	shots := artifacts(t)
	url := "http://" + r.control + "/"

	r.page(ctx, "open the page", 20*time.Second,
		chromedp.Navigate(url),
		chromedp.WaitVisible(css(`#login-form`)),
		chromedp.WaitVisible(serverIcon("preferred", "data-green", "true")),
		chromedp.WaitVisible(serverIcon("redundant", "data-green", "true")),
	)
	r.screenshot(ctx, shots, "1-login")
	if !read(r, ctx, "start is disabled before login", chromedp.JavascriptAttribute[bool](css(`#start`), "disabled")) {
		t.Error("start is enabled before anyone logged in")
	}
	r.page(ctx, "log in", 20*time.Second,
		chromedp.SendKeys(css(`input[name=username]`), testUser),
		chromedp.SendKeys(css(`input[name=password]`), testPassword+kb.Enter),
		chromedp.WaitVisible(css(`#session`)),
		chromedp.WaitEnabled(css(`#start`)),
	)
	r.screenshot(ctx, shots, "2-ready")

	// Start by keyboard only.
	r.page(ctx, "start by keyboard", 20*time.Second,
		chromedp.Focus(css(`#start`)),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(css(`#phase[data-phase=recording]`)),
		chromedp.WaitVisible(serverIcon("preferred", "data-state", "recording")),
		chromedp.WaitVisible(serverIcon("redundant", "data-state", "recording")),
		chromedp.WaitVisible(css(`#live`)),
	)
	icon := read(r, ctx, "icon text", chromedp.Text(serverIcon("preferred", "data-state", "recording")))
	if !strings.Contains(icon, "Server recording, viewing from this server") {
		t.Errorf("preferred icon says %q; buffered mode's recording icon is %q", icon, "Server recording, viewing from this server")
	}
	r.screenshot(ctx, shots, "3-recording")

	pref.p.kill()
	r.page(ctx, "preferred offline, still recording", 10*time.Second,
		chromedp.WaitVisible(serverIcon("preferred", "data-state", "offline")),
		chromedp.WaitVisible(serverIcon("redundant", "data-state", "recording")),
		chromedp.WaitVisible(css(`#phase[data-phase=recording]`)),
	)
	e1 := read(r, ctx, "elapsed", chromedp.Text(css(`#elapsed`)))
	time.Sleep(1500 * time.Millisecond)
	e2 := read(r, ctx, "elapsed", chromedp.Text(css(`#elapsed`)))
	if e1 == e2 {
		t.Errorf("elapsed time stuck at %s while the redundant server records", e1)
	}
	r.screenshot(ctx, shots, "4-preferred-offline")

	r.startServer(pref)
	r.page(ctx, "preferred recording again", 20*time.Second,
		chromedp.WaitVisible(serverIcon("preferred", "data-state", "recording")))
	r.screenshot(ctx, shots, "5-preferred-back")

	r.page(ctx, "stop", 20*time.Second,
		chromedp.Click(css(`#stop`)),
		chromedp.WaitVisible(css(`#phase[data-phase=idle]`)),
	)
	r.screenshot(ctx, shots, "6-stopped")
	id := r.mustStatus().LastID
	r.waitFinalized(id, r.servers...)

	// Cancel asks first; "keep" keeps recording.
	r.page(ctx, "cancel asks", 20*time.Second,
		chromedp.WaitEnabled(css(`#start`)),
		chromedp.Click(css(`#start`)),
		chromedp.WaitVisible(css(`#phase[data-phase=recording]`)),
		chromedp.Click(css(`#cancel`)),
		chromedp.WaitVisible(css(`#confirm-cancel`)),
	)
	dialogText := read(r, ctx, "dialog", chromedp.Text(css(`#confirm-cancel`)))
	if !strings.Contains(dialogText, "buffered recording will be deleted") {
		t.Errorf("cancel dialog says %q; it must say the buffered recording will be deleted", dialogText)
	}
	r.screenshot(ctx, shots, "7-cancel-asks")
	r.page(ctx, "keep", 10*time.Second,
		chromedp.Click(css(`#confirm-cancel button[value=keep]`)),
		chromedp.WaitNotVisible(css(`#confirm-cancel`)),
		chromedp.WaitVisible(css(`#phase[data-phase=recording]`)),
	)
	r.page(ctx, "cancel for real", 20*time.Second,
		chromedp.Click(css(`#cancel`)),
		chromedp.WaitVisible(css(`#confirm-cancel`)),
		chromedp.Click(css(`#confirm-cancel button[value=cancel]`)),
		chromedp.WaitVisible(css(`#phase[data-phase=idle]`)),
		chromedp.WaitVisible(css(`#message`)),
	)
	msg := read(r, ctx, "message", chromedp.Text(css(`#message`)))
	if !strings.Contains(msg, "cancelled") {
		t.Errorf("after cancel the page says %q", msg)
	}
	r.screenshot(ctx, shots, "8-cancelled")
}
