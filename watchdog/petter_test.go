package watchdog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"twincap/watchdog"
	"twincap/watchdog/watchdogtest"
)

const (
	staleJournal = "STATUS=unhealthy, watchdogs not petted: stale journal"
	healthy      = "STATUS=healthy: watchdogs petted"
)

// rig is a Petter with a fake device (4 s timeout) on a fake clock,
// systemd's socket with WatchdogSec=10s, and two probes: frames (2 s) and
// journal (3 s).
type rig struct {
	clock  *watchdogtest.Clock
	dev    *watchdogtest.Device
	sock   *systemdSocket
	probes map[string]*watchdog.Probe
	ticker *watchdogtest.Ticker
	log    *lockedBuffer
	p      *watchdog.Petter
}

func newRig(t *testing.T) *rig {
	t.Helper()
	t.Setenv("WATCHDOG_USEC", "10000000")
	t.Setenv("WATCHDOG_PID", "")
	r := &rig{
		clock:  watchdogtest.NewClock(t0),
		sock:   newSystemdSocket(t),
		probes: map[string]*watchdog.Probe{},
		ticker: watchdogtest.NewTicker(),
		log:    &lockedBuffer{},
	}
	r.dev = watchdogtest.NewDevice(r.clock.Now, 30*time.Second)
	n, err := watchdog.NewNotifier()
	if err != nil {
		t.Fatal(err)
	}
	h := watchdog.NewHealth(r.clock.Now)
	for name, max := range map[string]time.Duration{"frames": 2 * time.Second, "journal": 3 * time.Second} {
		if r.probes[name], err = h.Register(name, max); err != nil {
			t.Fatal(err)
		}
	}
	r.p, err = watchdog.New(
		watchdog.Config{HardwareTimeout: 4 * time.Second, Now: r.clock.Now, NewTicker: r.ticker.New},
		watchdog.Deps{Device: r.dev, Notifier: n, Health: h, Log: slog.New(slog.NewTextHandler(r.log, nil))},
	)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.sock.sent(); len(got) != 0 {
		t.Fatalf("New sent %q", got)
	}
	return r
}

// to moves the clock to t0+at.
func (r *rig) to(at time.Duration) time.Time { return r.clock.Advance(t0.Add(at).Sub(r.clock.Now())) }

func (r *rig) bump(names ...string) {
	for _, n := range names {
		r.probes[n].Bump()
	}
}

// checkExpiry says whether the device has expired by t0+at, and when.
func (r *rig) checkExpiry(t *testing.T, at, wantAt time.Duration) {
	t.Helper()
	r.to(at)
	got, expired := r.dev.Expired()
	switch {
	case wantAt < 0 && expired:
		t.Errorf("by %v the device expired (at %v): the box was reset", at, got.Sub(t0))
	case wantAt >= 0 && !expired:
		t.Errorf("by %v the device has not expired, want expired at %v", at, wantAt)
	case expired && got.Sub(t0) != wantAt:
		t.Errorf("device expired at %v, want %v", got.Sub(t0), wantAt)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestPetterSteps(t *testing.T) {
	both := []string{"frames", "journal"}
	type step struct {
		at      time.Duration
		bump    []string
		enable  []string
		disable []string
		pet     bool
		sent    []string
		state   watchdog.State
	}
	pet := func(at time.Duration, bump ...string) step {
		return step{at: at, bump: bump, pet: true, sent: []string{"WATCHDOG=1"}, state: watchdog.Petting}
	}
	hold := func(at time.Duration, bump []string, sent ...string) step {
		return step{at: at, bump: bump, sent: sent, state: watchdog.Withholding}
	}
	tests := []struct {
		name      string
		steps     []step
		end       time.Duration // when the device's fate is read
		expiredAt time.Duration // -1: never
	}{
		{
			name:      "healthy: pets at every check",
			steps:     []step{pet(time.Second, both...), pet(2*time.Second, both...), pet(3*time.Second, both...), pet(4*time.Second, both...), pet(5*time.Second, both...)},
			end:       9 * time.Second, // 4 s after the last pet: at the deadline, not past it
			expiredAt: -1,
		},
		{
			name: "one probe stale: no pets, status names it, the device expires",
			steps: []step{
				pet(time.Second, "frames"),
				pet(2*time.Second, "frames"),
				pet(3*time.Second, "frames"), // journal 3 s old: at its limit, not past it
				hold(4*time.Second, []string{"frames"}, staleJournal),
				hold(5*time.Second, []string{"frames"}), // same probes: status not resent
				hold(6*time.Second, []string{"frames"}),
				hold(7*time.Second, []string{"frames"}),
			},
			end:       8 * time.Second,
			expiredAt: 7 * time.Second, // 4 s after the last pet
		},
		{
			name: "recovers: pets again and clears the status",
			steps: []step{
				pet(time.Second, both...),
				pet(2*time.Second, both...),
				hold(5100*time.Millisecond, []string{"frames"}, staleJournal),
				{at: 5500 * time.Millisecond, bump: both, pet: true, sent: []string{"WATCHDOG=1", healthy}, state: watchdog.Petting},
				pet(6500*time.Millisecond, both...),
				pet(7500*time.Millisecond, both...),
			},
			end:       11 * time.Second, // 3.5 s after the last pet
			expiredAt: -1,
		},
		{
			name: "every stale probe named, status resent when the list changes",
			steps: []step{
				pet(time.Second),
				pet(2 * time.Second),
				hold(2500*time.Millisecond, nil, "STATUS=unhealthy, watchdogs not petted: stale frames"),
				hold(3500*time.Millisecond, nil, "STATUS=unhealthy, watchdogs not petted: stale frames, journal"),
				hold(4*time.Second, []string{"frames"}, staleJournal),
				hold(4500*time.Millisecond, nil),
			},
			end:       7 * time.Second,
			expiredAt: 6 * time.Second,
		},
		{
			name: "a disabled probe does not count until it is enabled again",
			steps: []step{
				{at: time.Second, bump: []string{"frames"}, disable: []string{"journal"}, pet: true, sent: []string{"WATCHDOG=1"}, state: watchdog.Petting},
				pet(3*time.Second, "frames"),
				pet(5*time.Second, "frames"),
				{at: 6 * time.Second, bump: []string{"frames"}, enable: []string{"journal"}, pet: true, sent: []string{"WATCHDOG=1"}, state: watchdog.Petting},
				pet(8*time.Second, "frames"),
				pet(9*time.Second, "frames"),
				hold(10*time.Second, []string{"frames"}, staleJournal),
			},
			end:       14 * time.Second,
			expiredAt: 13 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			for _, s := range tt.steps {
				now := r.to(s.at)
				for _, n := range s.disable {
					r.probes[n].Disable()
				}
				for _, n := range s.enable {
					r.probes[n].Enable()
				}
				r.bump(s.bump...)
				before := r.dev.Keepalives()
				if err := r.p.Step(now); err != nil {
					t.Errorf("at %v: Step: %v", s.at, err)
				}
				if pet := r.dev.Keepalives() > before; pet != s.pet {
					t.Errorf("at %v: petted the device %v, want %v", s.at, pet, s.pet)
				}
				if got := r.sock.sent(); !slices.Equal(got, s.sent) {
					t.Errorf("at %v: sent %q, want %q", s.at, got, s.sent)
				}
				if got := r.p.State(); got != s.state {
					t.Errorf("at %v: state %v, want %v", s.at, got, s.state)
				}
			}
			r.checkExpiry(t, tt.end, tt.expiredAt)
			if closed, _ := r.dev.Closed(); closed {
				t.Error("Step closed the device")
			}
		})
	}
}

// runPetter runs r.p.Run in a goroutine; the returned func waits for it to
// return and gives Run's error, or a panic it raised.
func (r *rig) runPetter(t *testing.T, ctx context.Context) (wait func() (err error, panicked any)) {
	t.Helper()
	type result struct {
		err      error
		panicked any
	}
	done := make(chan result, 1)
	go func() {
		var res result
		defer func() {
			res.panicked = recover()
			done <- res
		}()
		res.err = r.p.Run(ctx)
	}()
	return func() (error, any) {
		t.Helper()
		select {
		case res := <-done:
			return res.err, res.panicked
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return")
			return nil, nil
		}
	}
}

// startPetter runs r.p.Run and returns once its first check is done: a
// tick at the start time is skipped by Run, so Tick returns only when Run
// takes it, after that check.
func (r *rig) startPetter(t *testing.T, ctx context.Context) (wait func() (err error, panicked any)) {
	t.Helper()
	wait = r.runPetter(t, ctx)
	r.ticker.Tick(r.clock.Now())
	return wait
}

// tick runs one Run check at t0+at after bumping names.
func (r *rig) tick(at time.Duration, names ...string) {
	now := r.to(at)
	r.bump(names...)
	r.ticker.Tick(now)
}

func TestRunOrderlyStop(t *testing.T) {
	tests := []struct {
		name string
		// stopWhileRunning calls Stop with Run still running (Run then
		// returns); otherwise ctx is cancelled first and Stop called
		// after Run returned, as the daemon's main does.
		stopWhileRunning bool
	}{
		{"after Run returned", false},
		{"while Run runs", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			wait := r.startPetter(t, ctx)
			for i := 1; i <= 3; i++ {
				r.tick(time.Duration(i)*time.Second, "frames", "journal")
			}
			if got, want := r.sock.sent(), slices.Repeat([]string{"WATCHDOG=1"}, 4); !slices.Equal(got, want) {
				t.Errorf("sent %q, want %q (one at start, one per tick)", got, want)
			}
			if n := r.dev.Keepalives(); n != 4 {
				t.Errorf("%d keepalives, want 4", n)
			}
			if got := r.ticker.Period(); got != 2*time.Second {
				t.Errorf("tick period %v, want 2s: half of min(4s, 10s/2)", got)
			}
			if !tt.stopWhileRunning {
				cancel()
				if err, p := wait(); err != nil || p != nil {
					t.Fatalf("Run = %v (panic %v)", err, p)
				}
				if closed, _ := r.dev.Closed(); closed {
					t.Fatal("cancelling Run's ctx closed the device; only Stop may")
				}
				if got := r.sock.sent(); len(got) != 0 {
					t.Errorf("cancelling Run's ctx sent %q", got)
				}
			}
			r.to(4 * time.Second)
			if err := r.p.Stop(); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if tt.stopWhileRunning {
				if err, p := wait(); err != nil || p != nil {
					t.Fatalf("Run = %v (panic %v)", err, p)
				}
			}
			if got := r.sock.sent(); !slices.Equal(got, []string{"STOPPING=1"}) {
				t.Errorf("Stop sent %q, want STOPPING=1", got)
			}
			if closed, magic := r.dev.Closed(); !closed || !magic {
				t.Errorf("after Stop: closed %v, magic %v; want a magic close", closed, magic)
			}
			if r.p.State() != watchdog.Stopped || !r.ticker.Stopped() {
				t.Errorf("state %v, ticker stopped %v; want stopped, true", r.p.State(), r.ticker.Stopped())
			}
			// Stopped is final: nothing touches the closed device.
			calls := len(r.dev.Calls())
			if err := r.p.Stop(); err != nil {
				t.Errorf("second Stop: %v", err)
			}
			r.bump("frames", "journal")
			if err := r.p.Step(r.clock.Now()); err != nil {
				t.Errorf("Step after Stop: %v", err)
			}
			if err := r.p.Run(ctx); err != nil {
				t.Errorf("Run after Stop: %v", err)
			}
			if got := r.dev.Calls(); len(got) != calls {
				t.Errorf("calls after Stop: %v", got[calls:])
			}
			if got := r.sock.sent(); len(got) != 0 {
				t.Errorf("sent after Stop: %q", got)
			}
			r.checkExpiry(t, time.Hour, -1)
		})
	}
}

// panicky is a device whose Keepalive panics, standing in for a bug
// anywhere in the daemon's petting path.
type panicky struct{ *watchdogtest.Device }

func (panicky) Keepalive() error { panic("bug while petting") }

// A daemon that fails must leave the hardware timer running: the box is
// reset unless a restarted daemon takes over the device in time.
func TestCrashLeavesTimerRunning(t *testing.T) {
	tests := []struct {
		name  string
		crash func(t *testing.T, r *rig)
	}{
		{
			name: "error exit: ctx cancelled and Stop never called",
			crash: func(t *testing.T, r *rig) {
				ctx, cancel := context.WithCancel(context.Background())
				wait := r.startPetter(t, ctx)
				r.tick(time.Second, "frames", "journal")
				cancel() // as errgroup does when another goroutine fails
				if err, p := wait(); err != nil || p != nil {
					t.Errorf("Run = %v (panic %v)", err, p)
				}
			},
		},
		{
			name: "panic while stepping",
			crash: func(t *testing.T, r *rig) {
				p, err := watchdog.New(watchdog.Config{Now: r.clock.Now}, watchdog.Deps{
					Device: panicky{r.dev}, Health: watchdog.NewHealth(r.clock.Now),
				})
				if err != nil {
					t.Fatal(err)
				}
				r.to(time.Second)
				func() {
					defer func() {
						if recover() == nil {
							t.Error("Step did not panic")
						}
					}()
					_ = p.Step(r.clock.Now())
				}()
			},
		},
		{
			name: "panic in Run",
			crash: func(t *testing.T, r *rig) {
				var err error
				r.p, err = watchdog.New(watchdog.Config{Now: r.clock.Now, NewTicker: r.ticker.New}, watchdog.Deps{
					Device: panicky{r.dev}, Health: watchdog.NewHealth(r.clock.Now),
				})
				if err != nil {
					t.Fatal(err)
				}
				r.to(time.Second)
				if _, p := r.runPetter(t, context.Background())(); p == nil {
					t.Error("Run did not panic")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			tt.crash(t, r)
			if closed, magic := r.dev.Closed(); closed || magic {
				t.Errorf("device closed %v, magic %v; a crash must not touch it", closed, magic)
			}
			if got := r.sock.sent(); slices.Contains(got, "STOPPING=1") {
				t.Errorf("sent %q: a crash is not an orderly stop", got)
			}
			if !r.dev.Running() {
				t.Error("the timer stopped")
			}
			r.checkExpiry(t, time.Minute, r.dev.Deadline().Sub(t0))
		})
	}
}

func TestRunLogsFailuresOnce(t *testing.T) {
	r := newRig(t)
	eio := errors.New("EIO")
	r.dev.Fail(watchdogtest.OpKeepalive, eio)
	if err := r.p.Step(r.to(time.Second)); !errors.Is(err, eio) {
		t.Errorf("Step with a failing device = %v, want %v", err, eio)
	}
	// systemd is still fed: the device failing is the kernel's business.
	if got := r.sock.sent(); !slices.Equal(got, []string{"WATCHDOG=1"}) {
		t.Errorf("sent %q, want WATCHDOG=1", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	wait := r.startPetter(t, ctx)
	for _, at := range []time.Duration{1500 * time.Millisecond, 2 * time.Second, 2500 * time.Millisecond} {
		r.tick(at, "frames", "journal")
	}
	r.dev.Fail(watchdogtest.OpKeepalive, nil)
	r.tick(3*time.Second, "frames", "journal")
	cancel()
	wait()
	log := r.log.String()
	if n := strings.Count(log, "petting failed"); n != 1 {
		t.Errorf("logged the failure %d times, want once:\n%s", n, log)
	}
	if !strings.Contains(log, "EIO") {
		t.Errorf("log does not say why:\n%s", log)
	}
	r.checkExpiry(t, 7*time.Second, -1) // the last tick's pet went through
}

func TestRunLogsHealthTransitions(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	wait := r.startPetter(t, ctx)
	r.tick(time.Second, "frames")
	r.tick(3*time.Second, "frames") // journal 3.0 s old: at the limit
	r.tick(3500*time.Millisecond, "frames")
	r.tick(4*time.Second, "frames", "journal")
	cancel()
	wait()
	want := []string{"WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1", staleJournal, "WATCHDOG=1", healthy}
	if got := r.sock.sent(); !slices.Equal(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
	log := r.log.String()
	for _, w := range []string{"level=WARN msg=\"watchdog: health check failed", "journal (no progress for 3.5s, limit 3s)", "level=INFO msg=\"watchdog: healthy again"} {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %q:\n%s", w, log)
		}
	}
}

func TestNewInterval(t *testing.T) {
	einval := errors.New("EINVAL")
	tests := []struct {
		name        string
		device      bool // a fake whose own timeout is 10 s
		failSet     bool
		hw          time.Duration // Config.HardwareTimeout
		interval    time.Duration // Config.Interval
		watchdogSec string        // WATCHDOG_USEC
		want        time.Duration
		wantHW      time.Duration
		wantErr     string
	}{
		{name: "hardware only", device: true, hw: 30 * time.Second, want: 15 * time.Second, wantHW: 30 * time.Second},
		{name: "the device's own timeout", device: true, want: 5 * time.Second, wantHW: 10 * time.Second},
		{name: "rounded up by the device", device: true, hw: 2500 * time.Millisecond, want: 1500 * time.Millisecond, wantHW: 3 * time.Second},
		{name: "systemd only", watchdogSec: "20000000", want: 5 * time.Second},
		{name: "systemd shorter", device: true, hw: 30 * time.Second, watchdogSec: "20000000", want: 5 * time.Second, wantHW: 30 * time.Second},
		{name: "hardware shorter", device: true, hw: 8 * time.Second, watchdogSec: "60000000", want: 4 * time.Second, wantHW: 8 * time.Second},
		{name: "neither", want: watchdog.DefaultInterval},
		{name: "neither, interval given", interval: time.Minute, want: time.Minute},
		{name: "shorter interval given", device: true, hw: 30 * time.Second, interval: 2 * time.Second, want: 2 * time.Second, wantHW: 30 * time.Second},
		{name: "longer interval refused", device: true, hw: 30 * time.Second, interval: 20 * time.Second,
			wantErr: "watchdog: new: interval 20s is too long: the hardware timeout is 30s and systemd's WatchdogSec 0s, so at most 15s"},
		{name: "device refuses the timeout", device: true, failSet: true, hw: 30 * time.Second,
			wantErr: "watchdog: new: watchdogtest: SetTimeout: EINVAL"},
		{name: "negative", interval: -time.Second, wantErr: "watchdog: new: negative interval -1s or hardware timeout 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NOTIFY_SOCKET", "")
			t.Setenv("WATCHDOG_USEC", tt.watchdogSec)
			t.Setenv("WATCHDOG_PID", "")
			n, err := watchdog.NewNotifier()
			if err != nil {
				t.Fatal(err)
			}
			clock := watchdogtest.NewClock(t0)
			deps := watchdog.Deps{Notifier: n, Health: watchdog.NewHealth(clock.Now)}
			var dev *watchdogtest.Device
			if tt.device {
				dev = watchdogtest.NewDevice(clock.Now, 10*time.Second)
				if tt.failSet {
					dev.Fail(watchdogtest.OpSetTimeout, einval)
				}
				deps.Device = dev
			}
			p, err := watchdog.New(watchdog.Config{HardwareTimeout: tt.hw, Interval: tt.interval}, deps)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("New = %v, want error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Interval(); got != tt.want {
				t.Errorf("Interval() = %v, want %v", got, tt.want)
			}
			if got := p.HardwareTimeout(); got != tt.wantHW {
				t.Errorf("HardwareTimeout() = %v, want %v", got, tt.wantHW)
			}
			if dev != nil {
				if got, _ := dev.Timeout(); got != tt.wantHW {
					t.Errorf("device timeout %v, want %v", got, tt.wantHW)
				}
			}
		})
	}
	if _, err := watchdog.New(watchdog.Config{}, watchdog.Deps{}); err == nil || err.Error() != "watchdog: new: no Health to check" {
		t.Errorf("New without Health = %v", err)
	}
}

// A Petter with neither watchdog (the demo, a developer's machine) still
// runs and checks, touching nothing.
func TestPetterWithoutWatchdogs(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	noWatchdogEnv(t)
	clock := watchdogtest.NewClock(t0)
	h := watchdog.NewHealth(clock.Now)
	frames, _ := h.Register("frames", time.Second)
	p, err := watchdog.New(watchdog.Config{Now: clock.Now}, watchdog.Deps{Health: h})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at    time.Duration
		bump  bool
		state watchdog.State
	}{
		{500 * time.Millisecond, false, watchdog.Petting},
		{2 * time.Second, false, watchdog.Withholding},
		{2500 * time.Millisecond, true, watchdog.Petting},
	}
	for _, tt := range tests {
		clock.Advance(t0.Add(tt.at).Sub(clock.Now()))
		if tt.bump {
			frames.Bump()
		}
		if err := p.Step(clock.Now()); err != nil {
			t.Errorf("at %v: Step: %v", tt.at, err)
		}
		if got := p.State(); got != tt.state {
			t.Errorf("at %v: state %v, want %v", tt.at, got, tt.state)
		}
	}
	if err := p.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if got := fmt.Sprint(p.State()); got != "stopped" {
		t.Errorf("state after Stop: %s", got)
	}
}
