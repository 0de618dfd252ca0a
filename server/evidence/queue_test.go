package evidence

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"twincap/server/evidence/evidencetest"
	"twincap/server/settings"
)

func newQueue(t *testing.T, dir string, u *Uploader, peer Peer, mod func(*QueueConfig)) *Queue {
	t.Helper()
	cfg := QueueConfig{
		Dir:         dir,
		Alone:       true,
		Preferences: settings.Evidence{Order: settings.OrderDefault, RetryAttempts: 3},
		BackoffBase: time.Minute,
		BackoffMax:  time.Hour,
	}
	if mod != nil {
		mod(&cfg)
	}
	q, err := NewQueue(cfg, u, peer, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func status(t *testing.T, q *Queue, id string) Status {
	t.Helper()
	st, err := q.Status(id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func step(t *testing.T, ctx context.Context, q *Queue) time.Time {
	t.Helper()
	next, err := q.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return next
}

// TestQueueOrder: recordings go out in the configured upload order.
func TestQueueOrder(t *testing.T) {
	s := startStore(t, false)
	ctx := ctxT(t)
	// Added in this order, finalized at these minutes (as in settings).
	added := []struct {
		id  string
		min int
	}{{"rec-c", 3}, {"rec-a", 1}, {"rec-d", 3}, {"rec-b", 2}}
	reverse := func(n int, swap func(i, j int)) {
		for i := range n / 2 {
			swap(i, n-1-i)
		}
	}
	for _, tc := range []struct {
		order settings.UploadOrder
		want  string
	}{
		{settings.OrderDefault, "abcd"},
		{settings.OrderStandard, "cadb"},
		{settings.OrderRandom, "bdac"}, // the injected shuffle reverses
		{settings.OrderNewestFirst, "cdba"},
		{settings.OrderOldestFirst, "abcd"},
	} {
		t.Run(string(tc.order), func(t *testing.T) {
			u, f := newUploader(t, s, "srv-a", func(c *Config) { c.Prefix = string(tc.order) + "/" })
			q := newQueue(t, t.TempDir(), u, nil, func(c *QueueConfig) {
				c.Preferences.Order = tc.order
				c.Shuffle = reverse
			})
			dir := t.TempDir()
			for _, a := range added {
				if err := q.Add(fixture(t, dir, a.id, "srv-a", 1000, 1, t0.Add(time.Duration(a.min)*time.Minute))); err != nil {
					t.Fatal(err)
				}
			}
			step(t, ctx, q)
			var got string
			for _, c := range f.take("put") {
				if strings.HasSuffix(c, "/"+MarkerName) {
					got += strings.TrimPrefix(strings.Split(c, "/")[2], "rec-")
				}
			}
			if got != tc.want {
				t.Fatalf("uploaded %s; want %s", got, tc.want)
			}
			for _, st := range q.List() {
				if st.State != Done || st.Marker == nil {
					t.Fatalf("%s: %s, marker %v", st.Recording.ID, st.State, st.Marker)
				}
			}
		})
	}
}

// TestQueueRetry: failed attempts back off exponentially on the injected
// clock; after RetryAttempts failures the recording is given up (and stays
// so across a restart) until Retry.
func TestQueueRetry(t *testing.T) {
	s := startStore(t, false)
	ctx := ctxT(t)
	clock := evidencetest.NewClock(time.Now())
	u, f := newUploader(t, s, "srv-a", func(c *Config) { c.Now = clock.Now })
	dir := t.TempDir()
	q := newQueue(t, dir, u, nil, func(c *QueueConfig) { c.Clock = clock })
	rec := fixture(t, t.TempDir(), "rec-1", "srv-a", 1000, 1, clock.Now())
	if err := q.Add(rec); err != nil {
		t.Fatal(err)
	}
	down := errors.New("dial tcp: connection refused")
	f.setFault(func(string, string, int) error { return down })
	start := clock.Now()

	for _, tc := range []struct {
		advance  time.Duration
		calls    bool // the store was contacted
		state    State
		attempts int
		nextAt   time.Duration // after start; -1: zero
	}{
		{0, true, Backoff, 1, time.Minute},
		{0, false, Backoff, 1, time.Minute},
		{59 * time.Second, false, Backoff, 1, time.Minute},
		{time.Second, true, Backoff, 2, 3 * time.Minute},
		{2 * time.Minute, true, GivenUp, 3, -1},
		{time.Hour, false, GivenUp, 3, -1},
	} {
		clock.Advance(tc.advance)
		step(t, ctx, q)
		st := status(t, q, rec.ID)
		want := time.Time{}
		if tc.nextAt >= 0 {
			want = start.Add(tc.nextAt)
		}
		calls := len(f.take("")) > 0
		if calls != tc.calls || st.State != tc.state || st.Attempts != tc.attempts || !st.NextAt.Equal(want) {
			t.Fatalf("at +%v: calls %v, %s, %d attempts, next %v; want calls %v, %s, %d, next %v",
				clock.Now().Sub(start), calls, st.State, st.Attempts, st.NextAt, tc.calls, tc.state, tc.attempts, want)
		}
		if !strings.Contains(st.LastError, "connection refused") {
			t.Fatalf("last error %q", st.LastError)
		}
	}

	// A restart keeps the verdict.
	q = newQueue(t, dir, u, nil, func(c *QueueConfig) { c.Clock = clock })
	if st := status(t, q, rec.ID); st.State != GivenUp {
		t.Fatalf("after restart: %s", st.State)
	}
	if err := q.Retry("rec-missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Retry of an unknown recording: %v", err)
	}
	f.setFault(nil)
	if err := q.Retry(rec.ID); err != nil {
		t.Fatal(err)
	}
	if st := status(t, q, rec.ID); st.State != Waiting || st.Attempts != 0 {
		t.Fatalf("after Retry: %s, %d attempts", st.State, st.Attempts)
	}
	step(t, ctx, q)
	if st := status(t, q, rec.ID); st.State != Done || st.LastError != "" {
		t.Fatalf("after the store came back: %s (%s)", st.State, st.LastError)
	}
	if err := q.Retry(rec.ID); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Retry of a done upload: %v; want ErrInvalid", err)
	}
}

// TestQueueRun: Run uploads what is added, waits on the injected clock
// between attempts, and returns when its context ends.
func TestQueueRun(t *testing.T) {
	s := startStore(t, false)
	ctx := ctxT(t)
	clock := evidencetest.NewClock(time.Now())
	u, f := newUploader(t, s, "srv-a", func(c *Config) { c.Now = clock.Now })
	q := newQueue(t, t.TempDir(), u, nil, func(c *QueueConfig) { c.Clock = clock })
	fails := 1
	f.setFault(func(op, key string, _ int) error {
		if op == "put" && strings.HasSuffix(key, MarkerName) && fails > 0 {
			fails--
			return errors.New("connection reset by peer")
		}
		return nil
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- q.Run(runCtx) }()

	rec := fixture(t, t.TempDir(), "rec-1", "srv-a", 1000, 1, clock.Now())
	if err := q.Add(rec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first attempt to fail", func() bool { return status(t, q, rec.ID).State == Backoff && clock.Waiters() > 0 })
	clock.Advance(time.Minute)
	waitFor(t, "upload", func() bool { return status(t, q, rec.ID).State == Done })
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// waitFor polls cond (it reads state another goroutine changes) until it
// holds or a minute passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestQueueResume: a process killed in the middle of an upload leaves the
// recording Uploading and no marker; the restarted queue resumes it.
func TestQueueResume(t *testing.T) {
	s := startStore(t, false)
	ctx := ctxT(t)
	dir := t.TempDir()
	// One part at a time, so that the kill at part 2 leaves part 1 stored.
	u, f := newUploader(t, s, "srv-a", func(c *Config) { c.PartsInFlight = 1 })
	q := newQueue(t, dir, u, nil, nil)
	rec := fixture(t, t.TempDir(), "rec-1", "srv-a", int(2*MinPartSize)+1, 1, t0)
	if err := q.Add(rec); err != nil {
		t.Fatal(err)
	}
	killed, kill := context.WithCancel(ctx)
	f.setFault(func(op, _ string, part int) error {
		if op == "putPart" && part == 2 {
			kill()
			return context.Canceled
		}
		return nil
	})
	step(t, killed, q)
	if st := status(t, q, rec.ID); st.State != Uploading || st.Attempts != 0 {
		t.Fatalf("after the kill: %s, %d attempts", st.State, st.Attempts)
	}
	if found, err := u.Find(ctx, rec.ID); err != nil || len(found.Markers) != 0 {
		t.Fatalf("partial upload reported complete: %+v, %v", found, err)
	}

	u2, f2 := newUploader(t, s, "srv-a", nil)
	q2 := newQueue(t, dir, u2, nil, nil)
	if st := status(t, q2, rec.ID); st.State != Uploading || st.Recording.AuditPath == "" {
		t.Fatalf("reloaded: %s, audit %q", st.State, st.Recording.AuditPath)
	}
	step(t, ctx, q2)
	st := status(t, q2, rec.ID)
	if st.State != Done || !strings.Contains(st.Reason, "resuming") {
		t.Fatalf("after restart: %s (%s) %s", st.State, st.Reason, st.LastError)
	}
	got := f2.take("putPart")
	slices.Sort(got) // sent side by side: any order
	if len(got) != 2 || !strings.HasSuffix(got[0], "#2") || !strings.HasSuffix(got[1], "#3") {
		t.Fatalf("parts sent after restart: %v; want #2 and #3", got)
	}
	if !bytesEqualFile(t, s, st.Marker.Objects[2].Key, rec.Audit) {
		t.Fatal("audit trail given as bytes was not uploaded as given")
	}
}

func bytesEqualFile(t *testing.T, s *evidencetest.Server, key string, want []byte) bool {
	return string(getObject(t, s, key)) == string(want)
}

// TestQueuePeerRules runs the seed's cover-for-peer rules end to end on the
// redundant server srv-b, with the preferred server srv-a's uploads in the
// same store and its peer API faked.
func TestQueuePeerRules(t *testing.T) {
	s := startStore(t, false)
	ctx := ctxT(t)
	prefs := settings.Evidence{
		Order:              settings.OrderDefault,
		RetryAttempts:      3,
		TakeoverAfter:      settings.Duration(12 * time.Hour),
		StalledAfter:       settings.Duration(3 * time.Hour),
		SecondUploadIfMore: true,
		SecondUploadMargin: 1000,
	}
	setup := func(t *testing.T) (*evidencetest.Clock, *Queue, *evidencetest.Peer, *Uploader, *faultyAPI, string) {
		clock := evidencetest.NewClock(time.Now())
		prefix := strings.ReplaceAll(t.Name(), "/", "-") + "/"
		ua, fa := newUploader(t, s, "srv-a", func(c *Config) { c.Now, c.Prefix = clock.Now, prefix })
		ub, _ := newUploader(t, s, "srv-b", func(c *Config) { c.Now, c.Prefix = clock.Now, prefix })
		peer := evidencetest.NewPeer()
		q := newQueue(t, t.TempDir(), ub, peer, func(c *QueueConfig) {
			c.Alone, c.Role, c.Preferences, c.Clock = false, settings.Redundant, prefs, clock
			c.Poll = 24 * time.Hour
		})
		return clock, q, peer, ua, fa, prefix
	}
	dir := t.TempDir()

	t.Run("takeover after N hours", func(t *testing.T) {
		clock, q, peer, _, _, prefix := setup(t)
		peer.SetDown(true) // the preferred server is gone
		rec := fixture(t, dir, "rec-1", "srv-b", 1000, 1, clock.Now())
		if err := q.Add(rec); err != nil {
			t.Fatal(err)
		}
		next := step(t, ctx, q)
		st := status(t, q, rec.ID)
		if want := clock.Now().Add(12 * time.Hour); st.State != Waiting || !next.Equal(want) || !st.NextAt.Equal(want) {
			t.Fatalf("before the takeover: %s, next %v (Step %v); want waiting until %v", st.State, st.NextAt, next, want)
		}
		clock.Advance(12*time.Hour - time.Second)
		step(t, ctx, q)
		if st := status(t, q, rec.ID); st.State != Waiting {
			t.Fatalf("a second early: %s", st.State)
		}
		clock.Advance(time.Second)
		step(t, ctx, q)
		st = status(t, q, rec.ID)
		if st.State != Done || st.Marker.Folder != prefix+"room-1/rec-1/" || !strings.Contains(st.Marker.Reason, "within 12h") {
			t.Fatalf("after the takeover: %s, marker %+v", st.State, st.Marker)
		}
		if peer.Calls() == 0 {
			t.Fatal("the peer was never asked")
		}
	})

	t.Run("second upload when the other stalled", func(t *testing.T) {
		clock, q, peer, ua, fa, prefix := setup(t)
		recA := fixture(t, dir, "rec-2", "srv-a", int(MinPartSize)+10, 2, clock.Now())
		// srv-a claims the recording and sends part of it, then hangs.
		fa.setFault(func(op, _ string, part int) error {
			if op == "putPart" && part == 2 {
				return errors.New("srv-a lost its network")
			}
			return nil
		})
		if _, err := ua.Upload(ctx, recA, "preferred server"); err == nil {
			t.Fatal("srv-a's upload should have stopped half-way")
		}
		peer.Set("rec-2", PeerUpload{Bytes: int64(MinPartSize) + 10, Started: clock.Now()})
		rec := fixture(t, dir, "rec-2", "srv-b", int(MinPartSize)+10, 2, clock.Now())
		if err := q.Add(rec); err != nil {
			t.Fatal(err)
		}
		step(t, ctx, q)
		if st := status(t, q, rec.ID); st.State != Waiting || !st.NextAt.Equal(clock.Now().Add(3*time.Hour)) {
			t.Fatalf("while srv-a uploads: %s until %v", st.State, st.NextAt)
		}
		clock.Advance(3 * time.Hour)
		step(t, ctx, q)
		st := status(t, q, rec.ID)
		if st.State != Done || st.Marker.Folder != prefix+"room-1/rec-2/srv-b/" || st.Marker.Supersedes != "srv-a" ||
			!strings.Contains(st.Marker.Reason, "has not finished within 3h") {
			t.Fatalf("after the stall: %s, marker %+v", st.State, st.Marker)
		}
		found, err := ua.Find(ctx, "rec-2")
		if err != nil || len(found.Markers) != 1 || found.Markers[0].ServerID != "srv-b" {
			t.Fatalf("store holds %+v, %v; want only srv-b's upload complete", found, err)
		}
	})

	for _, tc := range []struct {
		name   string
		bBytes int
		want   State
	}{
		{"second upload when this server holds more", 1000 + 1001, Done},
		{"no second upload within the margin", 1000 + 1000, Covered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock, q, _, ua, _, prefix := setup(t)
			if _, err := ua.Upload(ctx, fixture(t, dir, "rec-3", "srv-a", 1000, 3, clock.Now()), "preferred server"); err != nil {
				t.Fatal(err)
			}
			rec := fixture(t, t.TempDir(), "rec-3", "srv-b", tc.bBytes, 3, clock.Now())
			if err := q.Add(rec); err != nil {
				t.Fatal(err)
			}
			step(t, ctx, q)
			st := status(t, q, rec.ID)
			if st.State != tc.want || st.Marker == nil {
				t.Fatalf("%s (%s); want %s", st.State, st.Reason, tc.want)
			}
			wantFolder, wantServer := prefix+"room-1/rec-3/", "srv-a"
			if tc.want == Done {
				wantFolder, wantServer = prefix+"room-1/rec-3/srv-b/", "srv-b"
			}
			if st.Marker.Folder != wantFolder || st.Marker.ServerID != wantServer {
				t.Fatalf("marker %s by %s; want %s by %s", st.Marker.Folder, st.Marker.ServerID, wantFolder, wantServer)
			}
			found, err := ua.Find(ctx, rec.ID)
			if err != nil {
				t.Fatal(err)
			}
			if ev, _ := ChooseEvidence(found.Markers); ev.ServerID != wantServer {
				t.Fatalf("evidence from %s; want %s", ev.ServerID, wantServer)
			}
		})
	}

	t.Run("peer reports its upload", func(t *testing.T) {
		clock, q, _, _, _, _ := setup(t)
		rec := fixture(t, dir, "rec-4", "srv-b", 1234, 4, clock.Now())
		if err := q.Add(rec); err != nil {
			t.Fatal(err)
		}
		if err := q.Add(rec); err != nil {
			t.Fatalf("adding twice: %v", err)
		}
		p, err := q.PeerUpload(rec.ID)
		if err != nil || p.Bytes != 1234 || !p.Started.IsZero() || !p.Finished.IsZero() {
			t.Fatalf("PeerUpload = %+v, %v", p, err)
		}
		if _, err := q.PeerUpload("rec-none"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("PeerUpload of an unknown recording: %v", err)
		}
	})

	t.Run("recheck when the other server says it uploaded", func(t *testing.T) {
		clock := evidencetest.NewClock(time.Now())
		prefix := strings.ReplaceAll(t.Name(), "/", "-") + "/"
		ua, _ := newUploader(t, s, "srv-a", func(c *Config) { c.Now, c.Prefix = clock.Now, prefix })
		ub, _ := newUploader(t, s, "srv-b", func(c *Config) { c.Now, c.Prefix = clock.Now, prefix })
		peer := evidencetest.NewPeer()
		var settled []Status
		q := newQueue(t, t.TempDir(), ub, peer, func(c *QueueConfig) {
			c.Alone, c.Role, c.Preferences, c.Clock = false, settings.Redundant, prefs, clock
			c.Poll = 24 * time.Hour
			c.Settled = func(st Status) { settled = append(settled, st) }
		})
		rec := fixture(t, dir, "rec-5", "srv-b", 1000, 5, clock.Now())
		peer.Set(rec.ID, PeerUpload{Bytes: 1000, Started: clock.Now()})
		if err := q.Add(rec); err != nil {
			t.Fatal(err)
		}
		step(t, ctx, q)
		if st := status(t, q, rec.ID); st.State != Waiting || st.NextAt.IsZero() {
			t.Fatalf("while the preferred server uploads: %+v", st)
		}
		if _, err := ua.Upload(ctx, fixture(t, dir, "rec-5", "srv-a", 1000, 5, clock.Now()), "preferred server"); err != nil {
			t.Fatal(err)
		}
		if err := q.Recheck(rec.ID); err != nil {
			t.Fatal(err)
		}
		if err := q.Recheck("rec-none"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Recheck of an unknown recording: %v", err)
		}
		step(t, ctx, q) // no time passed
		st := status(t, q, rec.ID)
		if st.State != Covered || st.Marker == nil || st.Marker.ServerID != "srv-a" {
			t.Fatalf("after the recheck: %+v", st)
		}
		if len(settled) != 1 || settled[0].State != Covered || settled[0].Recording.ID != rec.ID {
			t.Fatalf("settled %+v, want one covered", settled)
		}
		step(t, ctx, q)
		if len(settled) != 1 {
			t.Fatalf("settled again: %+v", settled)
		}
	})
}

func TestNewQueueRejects(t *testing.T) {
	u, err := New(validConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*QueueConfig)
	}{
		{"no folder", func(c *QueueConfig) { c.Dir = "" }},
		{"no attempts", func(c *QueueConfig) { c.Preferences.RetryAttempts = 0 }},
		{"unknown order", func(c *QueueConfig) { c.Preferences.Order = "alphabetical" }},
		{"no role in a room of two", func(c *QueueConfig) { c.Alone, c.Role = false, "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := QueueConfig{Dir: t.TempDir(), Alone: true, Preferences: settings.Evidence{RetryAttempts: 1}}
			tc.mod(&cfg)
			if _, err := NewQueue(cfg, u, nil, nil); !errors.Is(err, ErrInvalid) {
				t.Fatalf("NewQueue: %v; want ErrInvalid", err)
			}
		})
	}
	cfg := QueueConfig{Dir: t.TempDir(), Alone: true, Preferences: settings.Evidence{RetryAttempts: 1}}
	q, err := NewQueue(cfg, u, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range []Recording{
		{ID: "../x", FinalizedAt: t0, MediaPath: "m", MetadataPath: "j", AuditPath: "a"},
		{ID: "rec-1", MediaPath: "m", MetadataPath: "j", AuditPath: "a"},
		{ID: "rec-1", FinalizedAt: t0, MediaPath: "m", MetadataPath: "j"},
	} {
		if err := q.Add(rec); !errors.Is(err, ErrInvalid) {
			t.Errorf("Add #%d: %v; want ErrInvalid", i, err)
		}
	}
}
