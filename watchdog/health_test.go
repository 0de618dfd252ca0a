package watchdog_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"twincap/watchdog"
	"twincap/watchdog/watchdogtest"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// probeEvent is something the daemon does to a probe at an offset from t0.
type probeEvent struct {
	at    time.Duration
	probe string
	do    string // "bump", "enable", "disable"
}

func apply(t *testing.T, clock *watchdogtest.Clock, probes map[string]*watchdog.Probe, e probeEvent) {
	t.Helper()
	clock.Advance(t0.Add(e.at).Sub(clock.Now()))
	p := probes[e.probe]
	switch e.do {
	case "bump":
		p.Bump()
	case "enable":
		p.Enable()
	case "disable":
		p.Disable()
	default:
		t.Fatalf("unknown probe event %q", e.do)
	}
}

func TestHealthCheck(t *testing.T) {
	// frames may be 2 s old, journal 10 s; both registered at t0.
	tests := []struct {
		name    string
		events  []probeEvent
		checkAt time.Duration
		stale   []string
	}{
		{"fresh at registration", nil, 0, nil},
		{"exactly at the limit is not stale", nil, 2 * time.Second, nil},
		{"past the limit", nil, 2*time.Second + time.Millisecond, []string{"frames"}},
		{"both past", nil, 11 * time.Second, []string{"frames", "journal"}},
		{"bumped in time", []probeEvent{{time.Second, "frames", "bump"}, {2 * time.Second, "frames", "bump"}}, 4 * time.Second, nil},
		{"bumped, then stalled", []probeEvent{{time.Second, "frames", "bump"}}, 3500 * time.Millisecond, []string{"frames"}},
		{"disabled is ignored", []probeEvent{{0, "frames", "disable"}}, 4 * time.Second, nil},
		{"disabled while stale is ignored", []probeEvent{{3 * time.Second, "frames", "disable"}}, 4 * time.Second, nil},
		{"re-enabled gets a full allowance", []probeEvent{{0, "frames", "disable"}, {4 * time.Second, "frames", "enable"}}, 6 * time.Second, nil},
		{"re-enabled, then stale", []probeEvent{{0, "frames", "disable"}, {4 * time.Second, "frames", "enable"}}, 6*time.Second + time.Millisecond, []string{"frames"}},
		{"journal alone", []probeEvent{{10 * time.Second, "frames", "bump"}}, 10*time.Second + time.Millisecond, []string{"journal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := watchdogtest.NewClock(t0)
			h := watchdog.NewHealth(clock.Now)
			probes := map[string]*watchdog.Probe{}
			for name, max := range map[string]time.Duration{"frames": 2 * time.Second, "journal": 10 * time.Second} {
				p, err := h.Register(name, max)
				if err != nil {
					t.Fatal(err)
				}
				probes[name] = p
			}
			for _, e := range tt.events {
				apply(t, clock, probes, e)
			}
			err := h.Check(t0.Add(tt.checkAt))
			if tt.stale == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var se *watchdog.StaleError
			if !errors.As(err, &se) || !errors.Is(err, watchdog.ErrStale) {
				t.Fatalf("Check = %v, want a *StaleError that is ErrStale", err)
			}
			if !slices.Equal(se.Names(), tt.stale) {
				t.Errorf("stale %q, want %q", se.Names(), tt.stale)
			}
			for _, n := range tt.stale {
				if !strings.Contains(err.Error(), n+" (no progress for ") {
					t.Errorf("error %q does not name %s", err, n)
				}
			}
		})
	}
}

func TestHealthErrorText(t *testing.T) {
	clock := watchdogtest.NewClock(t0)
	h := watchdog.NewHealth(clock.Now)
	for _, n := range []string{"uplink-redundant", "frames", "uplink-preferred"} {
		if _, err := h.Register(n, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	want := "watchdog: stale: frames (no progress for 1.5s, limit 1s), " +
		"uplink-preferred (no progress for 1.5s, limit 1s), uplink-redundant (no progress for 1.5s, limit 1s)"
	if err := h.Check(t0.Add(1500 * time.Millisecond)); err == nil || err.Error() != want {
		t.Errorf("Check =\n%v\nwant\n%s", err, want)
	}
}

func TestHealthRegister(t *testing.T) {
	h := watchdog.NewHealth(nil)
	if _, err := h.Register("frames", time.Second); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		maxStale time.Duration
		want     string
	}{
		{"frames", time.Second, "watchdog: register probe frames: already registered"},
		{"", time.Second, "watchdog: register probe: empty name"},
		{"journal", 0, "watchdog: register probe journal: max staleness 0s is not positive"},
		{"journal", -time.Second, "watchdog: register probe journal: max staleness -1s is not positive"},
	}
	for _, tt := range tests {
		p, err := h.Register(tt.name, tt.maxStale)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Register(%q, %v) = %v, %v; want error %q", tt.name, tt.maxStale, p, err, tt.want)
		}
	}
}

func TestHealthSnapshot(t *testing.T) {
	clock := watchdogtest.NewClock(t0)
	h := watchdog.NewHealth(clock.Now)
	frames, _ := h.Register("frames", 2*time.Second)
	enc, _ := h.Register("encoder", 3*time.Second)
	enc.Disable()
	clock.Advance(time.Second)
	frames.Bump()
	frames.Bump()
	got := h.Snapshot(t0.Add(4 * time.Second))
	want := []watchdog.ProbeStatus{
		{Name: "encoder", Enabled: false, Count: 0, Age: 4 * time.Second, MaxStale: 3 * time.Second, Stale: false},
		{Name: "frames", Enabled: true, Count: 2, Age: 3 * time.Second, MaxStale: 2 * time.Second, Stale: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Snapshot =\n%+v\nwant\n%+v", got, want)
	}
	// A check timed before the last bump (a tick read just before a
	// frame came in) sees age 0, not a negative one.
	if got := h.Snapshot(t0.Add(500 * time.Millisecond)); got[1].Age != 0 {
		t.Errorf("age before the last bump = %v, want 0", got[1].Age)
	}
}

// The real clock: what the daemon uses when it passes nil.
func TestHealthRealClock(t *testing.T) {
	h := watchdog.NewHealth(nil)
	p, err := h.Register("frames", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p.Bump()
	if err := h.Check(time.Now()); err != nil {
		t.Errorf("Check right after a bump: %v", err)
	}
	if err := h.Check(time.Now().Add(2 * time.Hour)); !errors.Is(err, watchdog.ErrStale) {
		t.Errorf("Check two hours on = %v, want ErrStale", err)
	}
}

// Probes are bumped from the daemon's goroutines while the Petter checks;
// run with -race.
func TestHealthConcurrent(t *testing.T) {
	clock := watchdogtest.NewClock(t0)
	h := watchdog.NewHealth(clock.Now)
	var wg sync.WaitGroup
	probes := make([]*watchdog.Probe, 4)
	for i := range probes {
		p, err := h.Register(string(rune('a'+i)), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		probes[i] = p
	}
	for _, p := range probes {
		wg.Go(func() {
			for j := range 1000 {
				p.Bump()
				if j%100 == 0 {
					p.Disable()
					p.Enable()
				}
			}
		})
	}
	wg.Go(func() {
		for range 1000 {
			_ = h.Check(clock.Now())
			_ = h.Snapshot(clock.Now())
		}
	})
	wg.Go(func() {
		for i := range 100 {
			_, _ = h.Register("late"+string(rune('a'+i%26))+string(rune('a'+i/26)), time.Second)
		}
	})
	wg.Wait()
	for _, p := range probes {
		if p.Count() != 1000 {
			t.Errorf("%s counted %d bumps, want 1000", p.Name(), p.Count())
		}
	}
	if err := h.Check(clock.Now()); err != nil {
		t.Errorf("Check after the bumps: %v", err)
	}
}
