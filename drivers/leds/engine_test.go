package leds_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"twincap/drivers/internal/fakeclock"
	"twincap/drivers/leds"
	"twincap/drivers/leds/ledstest"
)

const ms = time.Millisecond

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// transcript renders writes as offsets from t0, e.g. "0s:on 250ms:off".
func transcript(ws []ledstest.Write) string {
	var parts []string
	for _, w := range ws {
		lvl := "off"
		if w.On {
			lvl = "on"
		}
		parts = append(parts, fmt.Sprintf("%v:%s", w.At.Sub(t0), lvl))
	}
	return strings.Join(parts, " ")
}

type rig struct {
	clock *fakeclock.Clock
	leds  map[string]*ledstest.LED
	e     *leds.Engine
}

func newRig(t *testing.T, cfg leds.Config, names ...string) *rig {
	t.Helper()
	r := &rig{clock: fakeclock.New(t0), leds: map[string]*ledstest.LED{}}
	var outs []leds.Output
	for _, n := range names {
		l := ledstest.NewLED(n, r.clock.Now)
		r.leds[n] = l
		outs = append(outs, l)
	}
	cfg.Now = r.clock.Now
	e, err := leds.New(cfg, outs...)
	if err != nil {
		t.Fatal(err)
	}
	r.e = e
	return r
}

// stepUntil steps every 25 ms from the clock's time up to and including end
// (an offset from t0), as Run would at the default tick.
func (r *rig) stepUntil(t *testing.T, end time.Duration) {
	t.Helper()
	for {
		if err := r.e.Step(r.clock.Now()); err != nil {
			t.Fatalf("step at %v: %v", r.clock.Now().Sub(t0), err)
		}
		if r.clock.Now().Sub(t0) >= end {
			return
		}
		r.clock.Advance(25 * ms)
	}
}

func TestEngineSequence(t *testing.T) {
	r := newRig(t, leds.Config{}, "power", "status", "fault")
	if err := r.e.Apply(map[string]leds.Pattern{"power": leds.Solid, "status": leds.Blink}); err != nil {
		t.Fatal(err)
	}
	r.stepUntil(t, 600*ms)
	// Mid-way: the status LED stops blinking and the fault LED starts; both
	// take effect on the next step (625 ms), not before.
	if err := r.e.Set("status", leds.Off); err != nil {
		t.Fatal(err)
	}
	if err := r.e.Set("fault", leds.Solid); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(25 * ms)
	r.stepUntil(t, 1000*ms)
	if err := r.e.Set("status", leds.SlowBlink); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(25 * ms)
	r.stepUntil(t, 3000*ms)

	want := map[string]string{
		// One write: the engine writes levels, not ticks.
		"power": "0s:on",
		// Blink toggles every 250 ms from the first step; off at the step
		// after the Set; the slow blink keeps the engine's origin, so it
		// is dark from 1 s to 2 s and lit again at 2 s.
		"status": "0s:on 250ms:off 500ms:on 625ms:off 2s:on 3s:off",
		// Every LED is written on the first step: its power-on level is
		// not known.
		"fault": "0s:off 625ms:on",
	}
	for name, w := range want {
		if got := transcript(r.leds[name].Writes()); got != w {
			t.Errorf("%s wrote %q, want %q", name, got, w)
		}
	}
}

func TestEngineSetErrors(t *testing.T) {
	r := newRig(t, leds.Config{}, "status")
	err := r.e.Apply(map[string]leds.Pattern{"status": leds.Blink, "nope": leds.Solid, "status2": leds.Solid})
	if !errors.Is(err, leds.ErrUnknownLED) || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), `"status2"`) {
		t.Errorf("Apply with unknown LEDs: %v", err)
	}
	if p, _ := r.e.Pattern("status"); p != leds.Blink {
		t.Errorf("known LED not applied beside unknown ones: %v", p)
	}
	if err := r.e.Set("status", leds.Pattern(77)); !errors.Is(err, leds.ErrBadPattern) {
		t.Errorf("Set invalid pattern: %v", err)
	}
	if p, _ := r.e.Pattern("status"); p != leds.Blink {
		t.Errorf("invalid pattern replaced %v", leds.Blink)
	}
}

func TestNewRejects(t *testing.T) {
	now := func() time.Time { return t0 }
	tests := []struct {
		name string
		cfg  leds.Config
		outs []string
		want string
	}{
		{"duplicate", leds.Config{}, []string{"a", "b", "a"}, `two outputs named "a"`},
		{"empty name", leds.Config{}, []string{""}, "no name"},
		{"negative tick", leds.Config{Tick: -time.Second}, nil, "negative"},
	}
	for _, tt := range tests {
		var outs []leds.Output
		for _, n := range tt.outs {
			outs = append(outs, ledstest.NewLED(n, now))
		}
		_, err := leds.New(tt.cfg, outs...)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "leds: ") {
			t.Errorf("%s: New = %v, want error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestEngineRetriesFailedWrite(t *testing.T) {
	r := newRig(t, leds.Config{}, "a", "b")
	r.e.Apply(map[string]leds.Pattern{"a": leds.Solid, "b": leds.Solid})
	broken := errors.New("bus error")
	r.leds["a"].Fail(broken)
	err := r.e.Step(r.clock.Now())
	if !errors.Is(err, broken) || !strings.Contains(err.Error(), "a") {
		t.Fatalf("step with a failing LED: %v", err)
	}
	if on, _ := r.leds["b"].On(); !on {
		t.Error("a failing LED kept the others dark")
	}
	r.leds["a"].Fail(nil)
	r.clock.Advance(25 * ms)
	if err := r.e.Step(r.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if got := transcript(r.leds["a"].Writes()); got != "25ms:on" {
		t.Errorf("healed LED wrote %q, want the retry at the next step", got)
	}
	if got := transcript(r.leds["b"].Writes()); got != "0s:on" {
		t.Errorf("healthy LED rewritten: %q", got)
	}
}

func TestRun(t *testing.T) {
	tk := ledstest.NewTicker()
	var reported []error
	r := newRig(t, leds.Config{NewTicker: tk.New, OnError: func(err error) { reported = append(reported, err) }}, "status", "fault")
	r.e.Set("status", leds.Blink)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.e.Run(ctx) }()

	// Run steps once at start, then at each tick. Tick returns after the
	// step, so moving the clock between ticks does not race it; the first
	// tick, at t0, waits for the start step the same way.
	tk.Tick(r.clock.Now())
	for range 12 { // 25 ms .. 300 ms
		r.clock.Advance(25 * ms)
		tk.Tick(r.clock.Now())
	}
	r.e.Set("fault", leds.Solid)
	r.leds["fault"].Fail(errors.New("gone"))
	for range 4 { // the fault LED fails four times; reported once
		r.clock.Advance(25 * ms)
		tk.Tick(r.clock.Now())
	}
	r.leds["fault"].Fail(nil)
	r.clock.Advance(25 * ms) // 425 ms
	tk.Tick(r.clock.Now())
	r.clock.Advance(100 * ms)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}

	if got, want := transcript(r.leds["status"].Writes()), "0s:on 250ms:off 525ms:off"; got != want {
		t.Errorf("status wrote %q, want %q (the last write is Run turning it off)", got, want)
	}
	if got, want := transcript(r.leds["fault"].Writes()), "0s:off 425ms:on 525ms:off"; got != want {
		t.Errorf("fault wrote %q, want %q", got, want)
	}
	if len(reported) != 1 || !strings.Contains(reported[0].Error(), "gone") {
		t.Errorf("OnError got %v, want the failure once", reported)
	}
	if tk.Period() != leds.DefaultTick || !tk.Stopped() {
		t.Errorf("ticker: period %v stopped %v", tk.Period(), tk.Stopped())
	}
}

func TestRunReportsFailureToTurnOff(t *testing.T) {
	tk := ledstest.NewTicker()
	r := newRig(t, leds.Config{NewTicker: tk.New, Tick: 10 * ms}, "status")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.e.Run(ctx) }()
	tk.Tick(r.clock.Now())
	r.leds["status"].Fail(errors.New("stuck"))
	cancel()
	err := <-done
	if err == nil || !strings.HasPrefix(err.Error(), "leds: turn off: ") || !strings.Contains(err.Error(), "stuck") {
		t.Errorf("Run = %v", err)
	}
	if tk.Period() != 10*ms {
		t.Errorf("period %v", tk.Period())
	}
}
