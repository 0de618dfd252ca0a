package leds

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrUnknownLED is returned when a pattern is asked of an LED the engine
// does not own.
var ErrUnknownLED = errors.New("leds: unknown LED")

// ErrBadPattern is returned for a Pattern value outside the defined set.
var ErrBadPattern = errors.New("leds: invalid pattern")

// Output is one physical LED. Set(true) lights it, whatever the wiring
// polarity. Errors name the LED, so callers can pass them on as they are.
type Output interface {
	Set(on bool) error
	Name() string
}

// Ticker is the part of *time.Ticker the engine uses, so tests can tick by
// hand.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// DefaultTick is fast enough for FastBlink's 62.5 ms phases and costs 40
// wake-ups a second, which the box does not notice.
const DefaultTick = 25 * time.Millisecond

// Config holds the engine's clock. Zero values mean production defaults.
type Config struct {
	Tick      time.Duration              // default DefaultTick
	Now       func() time.Time           // default time.Now
	NewTicker func(time.Duration) Ticker // default wraps time.NewTicker
	OnError   func(err error)            // Run reports write failures here; nil drops them
}

// Engine owns a fixed set of LEDs. Set and Apply may be called from any
// goroutine; Step and Run belong to one goroutine (Run's), which is the only
// one that touches the outputs.
type Engine struct {
	cfg   Config
	names []string // sorted, so writes and errors come in a stable order

	mu   sync.Mutex // guards want only: the one thing other goroutines touch
	want map[string]Pattern

	// Owned by the goroutine that calls Step.
	leds    map[string]*ledState
	started bool
	epoch   time.Time
}

type ledState struct {
	out Output
	on  bool
	// known is false until a write succeeded: the first step writes every
	// LED (its power-on level is unknown) and a failed write is retried.
	known bool
}

// New returns an engine that owns outs, all Off. LED names must be unique
// and not empty.
func New(cfg Config, outs ...Output) (*Engine, error) {
	if cfg.Tick < 0 {
		return nil, fmt.Errorf("leds: tick %v is negative", cfg.Tick)
	}
	if cfg.Tick == 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewTicker == nil {
		cfg.NewTicker = func(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }
	}
	e := &Engine{cfg: cfg, want: map[string]Pattern{}, leds: map[string]*ledState{}}
	for _, o := range outs {
		n := o.Name()
		if n == "" {
			return nil, errors.New("leds: an output has no name")
		}
		if _, dup := e.leds[n]; dup {
			return nil, fmt.Errorf("leds: two outputs named %q", n)
		}
		e.leds[n] = &ledState{out: o}
		e.want[n] = Off
		e.names = append(e.names, n)
	}
	sort.Strings(e.names)
	return e, nil
}

// Names lists the LEDs the engine owns, sorted.
func (e *Engine) Names() []string { return slices.Clone(e.names) }

// Set asks for led to show p from the next step on.
func (e *Engine) Set(led string, p Pattern) error {
	return e.Apply(map[string]Pattern{led: p})
}

// Apply sets several LEDs at once, so they change on the same step. LEDs
// not in ps keep their pattern. Unknown LEDs and invalid patterns are
// reported (all of them) and skipped; the others are still applied, because
// a box with fewer LEDs than the status mapping knows should still show
// what it can.
func (e *Engine) Apply(ps map[string]Pattern) error {
	var errs []error
	e.mu.Lock()
	for led, p := range ps {
		switch {
		case e.leds[led] == nil:
			errs = append(errs, fmt.Errorf("leds: set %q: %w", led, ErrUnknownLED))
		case !p.Valid():
			errs = append(errs, fmt.Errorf("leds: set %q to %v: %w", led, p, ErrBadPattern))
		default:
			e.want[led] = p
		}
	}
	e.mu.Unlock()
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// Pattern returns what led was last asked to show.
func (e *Engine) Pattern(led string) (Pattern, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.want[led]
	return p, ok
}

// Step writes the level every LED should have at now, touching only the
// LEDs whose level changes (GPIO and sysfs writes are cheap, but a write per
// tick per LED would be 200 syscalls a second for nothing). Patterns are
// timed from the first step, one origin for all LEDs, so LEDs showing the
// same pattern blink together. Run calls Step; tests may call it instead of
// Run, never alongside it.
func (e *Engine) Step(now time.Time) error {
	if !e.started {
		e.started, e.epoch = true, now
	}
	t := now.Sub(e.epoch)
	e.mu.Lock()
	want := make([]Pattern, len(e.names))
	for i, n := range e.names {
		want[i] = e.want[n]
	}
	e.mu.Unlock()
	var errs []error
	for i, n := range e.names {
		if err := e.write(e.leds[n], Level(want[i], t)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) write(l *ledState, on bool) error {
	if l.known && l.on == on {
		return nil
	}
	if err := l.out.Set(on); err != nil {
		l.known = false
		return err
	}
	l.on, l.known = on, true
	return nil
}

// Run steps at start and at every tick until ctx ends, then turns every LED
// off, so a stopped daemon does not leave a stale "recording" lit. Steps
// are timed by the tick's own time (Config.Now times only the first), and
// a tick no later than the previous step is skipped: it could change
// nothing, and skipping it is what lets ledstest.Ticker prove a step has
// finished. A failing LED does not stop the others: its write is retried
// each tick and reported to OnError once, when the set of failures
// changes. Run returns the error of turning the LEDs off, nil when all
// went dark.
func (e *Engine) Run(ctx context.Context) error {
	tk := e.cfg.NewTicker(e.cfg.Tick)
	defer tk.Stop()
	prev := e.cfg.Now()
	last := e.report(e.Step(prev), "")
	for {
		select {
		case <-ctx.Done():
			return e.allOff()
		case now := <-tk.C():
			if !now.After(prev) {
				continue
			}
			prev = now
			last = e.report(e.Step(now), last)
		}
	}
}

// report passes err on unless it repeats the previous step's, so one dead
// LED does not log 40 lines a second.
func (e *Engine) report(err error, last string) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if msg != last && e.cfg.OnError != nil {
		e.cfg.OnError(err)
	}
	return msg
}

func (e *Engine) allOff() error {
	var errs []error
	for _, n := range e.names {
		l := e.leds[n]
		l.known = false // write even if believed dark: this is the last word
		if err := e.write(l, false); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("leds: turn off: %w", err)
	}
	return nil
}

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }
