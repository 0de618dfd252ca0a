package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"twincap/firmware/box"
	"twincap/server/wire"
)

// viewerStats is the part of the viewer page's window.twincapStats the
// test reads.
type viewerStats struct {
	State             string    `json:"state"`
	Server            string    `json:"server"`
	FramesPresented   int       `json:"framesPresented"`
	LastFrameWallTime float64   `json:"lastFrameWallTime"`
	MaxFrameGapMs     float64   `json:"maxFrameGapMs"`
	Failovers         int       `json:"failovers"`
	LatencyMs         []float64 `json:"latencyMs"`
	LatencyServer     []int     `json:"latencyServer"`
	StampErrors       int       `json:"stampErrors"`
}

// latency is the glass-to-glass figures of the samples the page took
// while it played from server index i.
func (s viewerStats) latency(i int) (n int, minMs, meanMs, maxMs float64) {
	for k, v := range s.LatencyMs {
		if k >= len(s.LatencyServer) || s.LatencyServer[k] != i {
			continue
		}
		if n == 0 || v < minMs {
			minMs = v
		}
		maxMs = max(maxMs, v)
		meanMs += v
		n++
	}
	if n > 0 {
		meanMs /= float64(n)
	}
	return n, minMs, meanMs, maxMs
}

// benchViewer, set by scripts/bench, makes the viewer test print its
// figures in a form the script sums up over several runs.
var benchViewer = os.Getenv("TWINCAP_BENCH_VIEWER") != ""

// maxLatency is what the test asserts for the mean glass-to-glass
// latency. The target is 0.5 s on loopback, which `make bench` reports on
// an idle machine (about 0.35 s with the box's 200 ms chunks); the test
// allows twice the target so that a loaded 2-core CI machine does not make
// it flake, and still fails when the stream lags a whole segment (1 s and
// more) behind.
const maxLatency = time.Second

// latencySamples is how many frames the glass-to-glass latency is taken
// over (4 s at the room's 15 fps).
const latencySamples = 60

func (r *room) viewerStats(ctx context.Context) viewerStats {
	r.t.Helper()
	return read(r, ctx, "viewer stats", chromedp.Evaluate[viewerStats](`window.twincapStats`))
}

// waitViewer polls the page's stats until ok, or fails.
func (r *room) waitViewer(ctx context.Context, what string, d time.Duration, ok func(viewerStats) bool) viewerStats {
	r.t.Helper()
	deadline := time.Now().Add(d)
	var s viewerStats
	for time.Now().Before(deadline) {
		if s = r.viewerStats(ctx); ok(s) {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("viewer: timed out after %v waiting for %s; stats %+v%s", d, what, s, r.logs())
	return s
}

// The viewer page in a real browser: it asks unauthenticated viewers to
// log in; it plays the interview over WebRTC from the preferred server
// (the glass-to-glass latency is read off the pictures it shows);
// when that server is killed it goes on from the redundant one by itself
// (the gap between the last frame before and the first after is
// measured); and when the preferred server is down before the stream
// starts, one click watches from the redundant one.
func TestViewerFailsOverInABrowser(t *testing.T) {
	r := newRoom(t, roomOptions{mode: wire.Buffered, fallback: "any"})
	pref, red := r.servers[0], r.servers[1]
	r.readyAndLoggedIn()
	ctx := browserWith(t, chromedp.Flag("ignore-certificate-errors", true)) // the room's own CA
	shots := artifacts(t)
	servers := "https://" + pref.addr + ",https://" + red.addr
	// stamp=1: the page reads the capture time the box's test pattern
	// stamps into each frame (glass-to-glass latency).
	page := "https://" + pref.addr + "/live?stamp=1&servers=" + url.QueryEscape(servers)

	// No login, no stream: the login form.
	r.page(ctx, "viewer without a login", 20*time.Second,
		chromedp.Navigate(page),
		chromedp.WaitVisible(css(`#login`)),
	)
	if s := r.viewerStats(ctx); s.FramesPresented != 0 || s.State != "login" {
		t.Fatalf("unauthenticated viewer: %+v; want the login state and no frames", s)
	}
	r.screenshot(ctx, shots, "1-login")

	r.action(box.PathStart)
	ticket := r.ticket()
	r.page(ctx, "viewer with a ticket", 20*time.Second,
		chromedp.Navigate("about:blank"), // a new hash alone would not load the page again
		chromedp.Navigate(page+"#ticket="+url.QueryEscape(ticket)))
	r.waitViewer(ctx, "frames from the preferred server", 30*time.Second, func(s viewerStats) bool {
		return s.State == "playing" && s.FramesPresented > 10 && s.Server == "https://"+pref.addr
	})
	r.screenshot(ctx, shots, "2-playing-preferred")

	// Glass-to-glass: from the capture of a frame on the box to Chromium
	// presenting it, read off the decoded picture.
	lat := r.waitViewer(ctx, "glass-to-glass samples", 30*time.Second, func(s viewerStats) bool {
		n, _, _, _ := s.latency(0)
		return n >= latencySamples
	})
	n, minMs, meanMs, maxMs := lat.latency(0)
	t.Logf("glass-to-glass latency over %d frames: min %.0f ms, mean %.0f ms, max %.0f ms (target < 500 ms); %d frames whose stamp did not read",
		n, minMs, meanMs, maxMs, lat.StampErrors)
	if benchViewer {
		fmt.Printf("BENCH latency-ms n=%d min=%.1f mean=%.1f max=%.1f\n", n, minMs, meanMs, maxMs)
	}
	if meanMs >= maxLatency.Seconds()*1000 {
		t.Errorf("glass-to-glass latency mean %.0f ms, want < %v (target 500 ms)", meanMs, maxLatency)
	}
	if lat.StampErrors > lat.FramesPresented/10 {
		t.Errorf("%d of %d frames shown had no readable capture stamp", lat.StampErrors, lat.FramesPresented)
	}

	before := r.viewerStats(ctx)
	pref.p.kill()
	after := r.waitViewer(ctx, "frames from the redundant server", 30*time.Second, func(s viewerStats) bool {
		return s.Server == "https://"+red.addr && s.FramesPresented > before.FramesPresented+10
	})
	t.Logf("viewer failover: largest gap between frames shown %.0f ms (target < 2000 ms), %d automatic failover(s)",
		after.MaxFrameGapMs, after.Failovers)
	if benchViewer {
		fmt.Printf("BENCH failover-gap-ms %.1f\n", after.MaxFrameGapMs)
	}
	if after.Failovers < 1 {
		t.Errorf("the page moved to the redundant server without counting a failover: %+v", after)
	}
	if after.MaxFrameGapMs > 2500 { // the target is 2 s; a loaded CI machine gets some slack
		t.Errorf("failover gap %.0f ms", after.MaxFrameGapMs)
	}
	r.screenshot(ctx, shots, "3-playing-redundant")

	// The preferred server is down before the stream starts (the page
	// comes from the redundant one, still listing the preferred first):
	// one click.
	r.page(ctx, "reload with the preferred down", 30*time.Second,
		chromedp.Navigate("https://"+red.addr+"/live?servers="+url.QueryEscape(servers)+"#ticket="+url.QueryEscape(ticket)),
		chromedp.WaitVisible(css(`#switch`)),
	)
	r.screenshot(ctx, shots, "4-choose")
	r.page(ctx, "watch from the redundant server", 10*time.Second, chromedp.Click(css(`#switch`)))
	r.waitViewer(ctx, "frames after the click", 30*time.Second, func(s viewerStats) bool {
		return s.State == "playing" && s.Server == "https://"+red.addr && s.FramesPresented > 10
	})
	r.screenshot(ctx, shots, "5-picked-redundant")
	r.action(box.PathStop)
}

// BenchmarkGlassToGlass is the glass-to-glass latency in headless
// Chromium, from the capture of a frame on the box to Chromium presenting
// it, with the box's CMAF chunks streamed to the servers (its default,
// 200 ms) and, as the baseline in the same run, with whole segments
// (chunk_duration = "0s": a segment goes live once complete and stored).
func BenchmarkGlassToGlass(b *testing.B) {
	for _, bc := range []struct{ name, chunk string }{{"chunks", ""}, {"whole-segments", "0s"}} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				n, minMs, meanMs, maxMs := measureGlassToGlass(b, roomOptions{mode: wire.Buffered, fallback: "any", chunk: bc.chunk})
				b.ReportMetric(float64(n), "frames")
				b.ReportMetric(minMs, "ms-min")
				b.ReportMetric(meanMs, "ms-mean")
				b.ReportMetric(maxMs, "ms-max")
			}
		})
	}
}

// measureGlassToGlass records on a new room and reads the latency of
// latencySamples frames off the viewer page playing from the preferred
// server.
func measureGlassToGlass(tb testing.TB, o roomOptions) (n int, minMs, meanMs, maxMs float64) {
	r := newRoom(tb, o)
	r.readyAndLoggedIn()
	ctx := browserWith(tb, chromedp.Flag("ignore-certificate-errors", true))
	pref := r.servers[0]
	r.action(box.PathStart)
	ticket := r.ticket()
	r.page(ctx, "viewer with a ticket", 20*time.Second,
		chromedp.Navigate("https://"+pref.addr+"/live?stamp=1#ticket="+url.QueryEscape(ticket)))
	lat := r.waitViewer(ctx, "glass-to-glass samples", 30*time.Second, func(s viewerStats) bool {
		n, _, _, _ := s.latency(0)
		return n >= latencySamples
	})
	r.action(box.PathStop)
	return lat.latency(0)
}
