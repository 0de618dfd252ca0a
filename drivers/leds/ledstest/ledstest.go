package ledstest

import (
	"fmt"
	"sync"
	"time"

	"twincap/drivers/leds"
)

// Write is one Set call seen by an LED.
type Write struct {
	At time.Time
	On bool
}

func (w Write) String() string {
	if w.On {
		return w.At.Format("15:04:05.000") + " on"
	}
	return w.At.Format("15:04:05.000") + " off"
}

// LED is a fake leds.Output. It is safe for concurrent use, so a test can
// read it while an engine runs.
type LED struct {
	name string
	now  func() time.Time

	mu     sync.Mutex
	writes []Write
	fail   error
}

var _ leds.Output = (*LED)(nil)

// NewLED returns an LED named name that stamps writes with now.
func NewLED(name string, now func() time.Time) *LED {
	return &LED{name: name, now: now}
}

// Name implements leds.Output.
func (l *LED) Name() string { return l.name }

// Set implements leds.Output: it records the write, or fails with the
// error given to Fail (and records nothing, as a dead LED would show
// nothing).
func (l *LED) Set(on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return fmt.Errorf("ledstest: %s: %w", l.name, l.fail)
	}
	l.writes = append(l.writes, Write{At: l.now(), On: on})
	return nil
}

// Fail makes every following Set return err; nil heals the LED.
func (l *LED) Fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fail = err
}

// Writes returns every write so far, oldest first.
func (l *LED) Writes() []Write {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Write(nil), l.writes...)
}

// On reports the last level written, and whether anything was.
func (l *LED) On() (on, written bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.writes) == 0 {
		return false, false
	}
	return l.writes[len(l.writes)-1].On, true
}

// Ticker is a leds.Ticker ticked by the test. Pass its New as
// leds.Config.NewTicker.
type Ticker struct {
	c chan time.Time

	mu      sync.Mutex
	period  time.Duration
	stopped bool
}

// NewTicker returns a ticker that ticks only when Tick is called.
func NewTicker() *Ticker { return &Ticker{c: make(chan time.Time)} }

// New is the leds.Config.NewTicker hook; it remembers the period asked for.
func (t *Ticker) New(d time.Duration) leds.Ticker {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.period = d
	return t
}

// C implements leds.Ticker.
func (t *Ticker) C() <-chan time.Time { return t.c }

// Stop implements leds.Ticker.
func (t *Ticker) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
}

// Tick delivers a tick at time at and returns once the engine has stepped
// for it. The channel is unbuffered and at is sent twice: leds.Engine.Run
// skips a tick no later than its last step, so taking the repeat means it
// has finished the step for the first. The test may then move its clock or
// read the LEDs without racing the step. Ticks must move forward in time;
// a tick at the engine's start time only waits for its first step.
func (t *Ticker) Tick(at time.Time) {
	t.c <- at
	t.c <- at
}

// Period is the tick period the engine asked for.
func (t *Ticker) Period() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.period
}

// Stopped reports whether Stop was called.
func (t *Ticker) Stopped() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stopped
}
