package uplink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"twincap/encoder/segment"
	"twincap/firmware/buffer"
	"twincap/firmware/roomclient"
	"twincap/server/wire"
)

// fakeServer is an in-memory room server that can be taken down (every
// connection is dropped) and brought back, and can lose what it held (a
// reboot with an empty disk is not what servers do, but a lost segment is
// what stop's 409 exists for).
type fakeServer struct {
	t  *testing.T
	ts *httptest.Server

	mu        sync.Mutex
	down      bool
	boot      int
	ticket    string
	recs      map[string]*fakeRec
	finalized map[string]bool
	deleted   map[string]bool
	puts      int

	inflight, maxInflight atomic.Int32 // segment uploads under way, and the most seen

	pmu      sync.Mutex
	progress map[string]string // path of a PUT under way: the body so far
	streamed map[string]bool   // path of a PUT whose checksum came as a trailer
}

type fakeRec struct {
	segs    map[uint64][]byte
	gaps    []wire.Gap
	outages []wire.Outage // as the last create sent them
}

func (r *fakeRec) next() uint64 {
	n := uint64(0)
	for {
		if _, ok := r.segs[n]; ok {
			n++
			continue
		}
		covered := false
		for _, g := range r.gaps {
			if n >= g.From && n < g.To {
				n, covered = g.To, true
			}
		}
		if !covered {
			return n
		}
	}
}

func newFakeServer(t *testing.T, ticket string) *fakeServer {
	f := &fakeServer{t: t, ticket: ticket, recs: map[string]*fakeRec{}, finalized: map[string]bool{}, deleted: map[string]bool{}}
	f.ts = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.ts.Config.ErrorLog = log.New(io.Discard, "", 0) // dropped connections are the point
	f.ts.StartTLS()
	t.Cleanup(f.ts.Close)
	return f
}

func (f *fakeServer) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	if !down {
		f.boot++
	}
	f.mu.Unlock()
	if down {
		f.ts.CloseClientConnections()
	}
}

func (f *fakeServer) client(t *testing.T) *roomclient.Client {
	c, err := roomclient.New(strings.TrimPrefix(f.ts.URL, "https://"), f.ts.Client().Transport.(*http.Transport).TLSClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// readBody reads a PUT's body as it comes (so tests see a stream's
// progress) and returns it with its checksum, from the header or, for a
// streamed PUT, the trailer.
func (f *fakeServer) readBody(r *http.Request) ([]byte, string) {
	var body []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Body.Read(buf)
		body = append(body, buf[:n]...)
		f.pmu.Lock()
		if f.progress == nil {
			f.progress, f.streamed = map[string]string{}, map[string]bool{}
		}
		f.progress[r.URL.Path] = string(body)
		f.pmu.Unlock()
		if err != nil {
			break
		}
	}
	if sum := r.Header.Get(wire.HeaderChecksum); sum != "" {
		return body, sum
	}
	f.pmu.Lock()
	f.streamed[r.URL.Path] = true
	f.pmu.Unlock()
	return body, r.Trailer.Get(wire.HeaderChecksum)
}

// inProgress is what a PUT to path has sent so far, and whether it came
// as a stream.
func (f *fakeServer) inProgress(path string) (string, bool) {
	f.pmu.Lock()
	defer f.pmu.Unlock()
	return f.progress[path], f.streamed[path]
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	var putBody []byte
	var putSum string
	if r.Method == http.MethodPut {
		putBody, putSum = f.readBody(r)
		n := f.inflight.Add(1)
		defer f.inflight.Add(-1)
		for m := f.maxInflight.Load(); n > m && !f.maxInflight.CompareAndSwap(m, n); m = f.maxInflight.Load() {
		}
		time.Sleep(5 * time.Millisecond) // a disk's fsync, outside the lock as a real server's is
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		// Drop the connection, as a dead process would.
		if hj, ok := w.(http.Hijacker); ok {
			c, _, _ := hj.Hijack()
			c.Close()
			return
		}
		reply(w, 503, wire.Error{Error: "down"})
		return
	}
	if r.URL.Path == wire.PathHealth {
		reply(w, 200, wire.Health{ServerID: "fake", BootID: strconv.Itoa(f.boot)})
		return
	}
	if r.Header.Get(wire.HeaderAuthorization) != "Bearer "+f.ticket {
		reply(w, 401, wire.Error{Error: "no ticket"})
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/recordings"), "/")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == wire.PathRecordings:
		var req wire.CreateRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		rec := f.recs[req.ID]
		if rec == nil {
			rec = &fakeRec{segs: map[uint64][]byte{}}
			f.recs[req.ID] = rec
		}
		rec.outages = req.Outages
		st := wire.StateRecording
		if f.finalized[req.ID] {
			st = wire.StateFinalized
		}
		reply(w, 200, wire.RecordingState{ID: req.ID, State: st, Mode: req.Mode, NextSeq: rec.next()})
	case r.Method == http.MethodPut && len(parts) == 4 && parts[2] == "segments":
		rec := f.recs[parts[1]]
		if rec == nil {
			reply(w, 404, wire.Error{Error: "unknown"})
			return
		}
		body := putBody
		if segment.Sum(body).String() != putSum {
			reply(w, 422, wire.Error{Error: "checksum"})
			return
		}
		seq, _ := strconv.ParseUint(parts[3], 10, 64)
		rec.segs[seq] = body
		f.puts++
		reply(w, 200, wire.SegmentAck{Seq: seq, NextSeq: rec.next()})
	case r.Method == http.MethodPost && len(parts) == 3 && parts[2] == "gaps":
		var g wire.Gap
		_ = json.NewDecoder(r.Body).Decode(&g)
		rec := f.recs[parts[1]]
		rec.gaps = append(rec.gaps, g)
		reply(w, 200, wire.RecordingState{ID: parts[1], Mode: wire.Unbuffered, NextSeq: rec.next(), Gaps: rec.gaps})
	case r.Method == http.MethodPost && len(parts) == 3 && parts[2] == "stop":
		var req wire.StopRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		rec := f.recs[parts[1]]
		var missing []uint64
		for s := uint64(0); s < req.Count; s++ {
			if _, ok := rec.segs[s]; ok {
				continue
			}
			inGap := false
			for _, g := range rec.gaps {
				inGap = inGap || (s >= g.From && s < g.To)
			}
			if !inGap {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			reply(w, 409, wire.RecordingState{ID: parts[1], Mode: wire.Buffered, Missing: missing})
			return
		}
		f.finalized[parts[1]] = true
		reply(w, 200, wire.RecordingState{ID: parts[1], Mode: wire.Buffered, State: wire.StateFinalized})
	case r.Method == http.MethodDelete && len(parts) == 2:
		delete(f.recs, parts[1])
		f.deleted[parts[1]] = true
		reply(w, 200, struct{}{})
	default:
		reply(w, 404, wire.Error{Error: "no route " + r.Method + " " + r.URL.Path})
	}
}

func (f *fakeServer) holds(id string) (n int, gaps []wire.Gap, final bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rec := f.recs[id]; rec != nil {
		n, gaps = len(rec.segs), append([]wire.Gap(nil), rec.gaps...)
	}
	return n, gaps, f.finalized[id]
}

// testUplink runs an uplink against f with short timeouts.
func testUplink(t *testing.T, f *fakeServer) (*Server, context.Context) {
	t.Helper()
	u := New(Config{Name: "preferred", RequestTimeout: 300 * time.Millisecond, PutTimeout: time.Second,
		Heartbeat: 50 * time.Millisecond, Retry: 50 * time.Millisecond}, f.client(t), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = u.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return u, ctx
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// recording runs an uplink against f, logged in and online, gives it
// recording id over a window of the given size, and waits until the
// server holds its first n segments.
func recording(t *testing.T, f *fakeServer, id string, window, n int) (*Server, context.Context, *buffer.Window) {
	t.Helper()
	u, ctx := testUplink(t, f)
	_ = u.SetTicket(ctx, "tk")
	waitUntil(t, "online", func() bool { return u.Status().State == Online })
	src := buffer.NewWindow(window)
	if err := u.Begin(ctx, Job{Create: wire.CreateRequest{ID: id, Mode: wire.Buffered}, Src: src}); err != nil {
		t.Fatal(err)
	}
	for i := range uint64(n) {
		_ = src.Append(seg(i))
	}
	waitUntil(t, fmt.Sprintf("%d segments held", n), func() bool { h, _, _ := f.holds(id); return h == n })
	return u, ctx, src
}

func seg(seq uint64) segment.Segment {
	return segment.New(seq, 0, time.Second, []byte(fmt.Sprintf("segment %d payload", seq)))
}

func TestBackfillAfterOutageAndFinalize(t *testing.T) {
	f := newFakeServer(t, "tk")
	u, ctx := testUplink(t, f)
	waitUntil(t, "online", func() bool { return u.Status().State == Online })
	if err := u.SetTicket(ctx, "tk"); err != nil {
		t.Fatal(err)
	}
	src := buffer.NewWindow(1000)
	create := wire.CreateRequest{ID: "rec-1", Mode: wire.Buffered}
	if err := u.Begin(ctx, Job{Create: create, Src: src}); err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < 3; i++ {
		_ = src.Append(seg(i))
	}
	waitUntil(t, "3 segments held", func() bool { n, _, _ := f.holds("rec-1"); return n == 3 })

	f.setDown(true)
	waitUntil(t, "offline", func() bool { return u.Status().State == Offline })
	for i := uint64(3); i < 8; i++ {
		_ = src.Append(seg(i))
	}
	f.setDown(false)
	waitUntil(t, "backfilled", func() bool { n, _, _ := f.holds("rec-1"); return n == 8 })
	// The ack is recorded once the whole batch is back, a moment after
	// the server holds the last segment.
	waitUntil(t, "acked 8", func() bool { return src.Acked("preferred") == 8 })
	// The backlog went out side by side, never more than the window.
	if m := f.maxInflight.Load(); m < 2 || m > 4 {
		t.Errorf("at most %d segment uploads at once during the backfill; want 2..4 (window 4)", m)
	}
	if err := u.Stop(ctx, "rec-1", 8); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "finalized", func() bool { _, _, fin := f.holds("rec-1"); return fin })
	waitUntil(t, "done reported", func() bool { return u.Status().Done["rec-1"] })
	if s := u.Status(); s.State != Online {
		t.Errorf("state after the last job %s, want online", s.State)
	}
}

func TestUnbufferedOutageBecomesAGap(t *testing.T) {
	f := newFakeServer(t, "tk")
	u, ctx, src := recording(t, f, "rec-2", 2, 1)
	f.setDown(true)
	waitUntil(t, "offline", func() bool { return u.Status().State == Offline })
	for i := uint64(1); i < 6; i++ { // the window keeps only 4 and 5
		_ = src.Append(seg(i))
	}
	f.setDown(false)
	_ = u.Stop(ctx, "rec-2", 6)
	waitUntil(t, "finalized", func() bool { _, _, fin := f.holds("rec-2"); return fin })
	n, gaps, _ := f.holds("rec-2")
	if n != 3 || len(gaps) != 1 || gaps[0].From != 1 || gaps[0].To != 4 {
		t.Errorf("server holds %d segments with gaps %+v; want 3 and [1,4)", n, gaps)
	}
}

func TestStopResendsWhatTheServerLacks(t *testing.T) {
	f := newFakeServer(t, "tk")
	u, ctx, _ := recording(t, f, "rec-3", 100, 4)
	f.mu.Lock()
	delete(f.recs["rec-3"].segs, 2) // lost behind our back
	f.mu.Unlock()
	_ = u.Stop(ctx, "rec-3", 4)
	waitUntil(t, "finalized", func() bool { _, _, fin := f.holds("rec-3"); return fin })
	if n, _, _ := f.holds("rec-3"); n != 4 {
		t.Errorf("holds %d, want 4", n)
	}
}

func TestLoginNeededThenResumed(t *testing.T) {
	f := newFakeServer(t, "good")
	u, ctx := testUplink(t, f)
	_ = u.SetTicket(ctx, "stale")
	waitUntil(t, "online", func() bool { return u.Status().State == Online })
	src := buffer.NewWindow(100)
	err := u.Begin(ctx, Job{Create: wire.CreateRequest{ID: "rec-4", Mode: wire.Buffered}, Src: src})
	if !errors.Is(err, roomclient.ErrUnauthorized) {
		t.Fatalf("Begin with a stale ticket = %v, want ErrUnauthorized", err)
	}
	if !u.Status().NeedsLogin {
		t.Error("status does not say a login is needed")
	}
	_ = src.Append(seg(0))
	_ = u.SetTicket(ctx, "good")
	waitUntil(t, "recording after login", func() bool { n, _, _ := f.holds("rec-4"); return n == 1 })
	if u.Status().NeedsLogin {
		t.Error("still needs login")
	}
}

func TestCancelOwedUntilServerReturns(t *testing.T) {
	f := newFakeServer(t, "tk")
	u, ctx, _ := recording(t, f, "rec-5", 100, 1)
	f.setDown(true)
	waitUntil(t, "offline", func() bool { return u.Status().State == Offline })
	if err := u.Cancel(ctx, "rec-5"); err != nil {
		t.Fatal(err)
	}
	f.setDown(false)
	waitUntil(t, "deleted", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.deleted["rec-5"] })
	if n, _, _ := f.holds("rec-5"); n != 0 {
		t.Errorf("server still holds %d segments", n)
	}
}

func TestBeginOnOfflineServer(t *testing.T) {
	f := newFakeServer(t, "tk")
	f.setDown(true)
	u, ctx := testUplink(t, f)
	_ = u.SetTicket(ctx, "tk")
	err := u.Begin(ctx, Job{Create: wire.CreateRequest{ID: "rec-6", Mode: wire.Buffered}, Src: buffer.NewWindow(10)})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Begin = %v, want ErrUnavailable", err)
	}
}

// Outages learned while recording (a lost camera) reach the server in a
// create sent before the stop, so its metadata has them.
func TestStopWithOutagesCreatesAgainFirst(t *testing.T) {
	f := newFakeServer(t, "tk")
	u, ctx, _ := recording(t, f, "rec-5", 100, 3)
	lost := wire.Outage{Seq: 2, From: time.Now().Add(-time.Second), To: time.Now(), Reason: "camera lost"}
	if err := u.StopWith(ctx, "rec-5", 3, []wire.Outage{lost}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "finalized", func() bool { _, _, fin := f.holds("rec-5"); return fin })
	f.mu.Lock()
	got := f.recs["rec-5"].outages
	f.mu.Unlock()
	if len(got) != 1 || got[0].Seq != 2 || got[0].Reason != "camera lost" {
		t.Fatalf("server got outages %+v before the stop", got)
	}
}
