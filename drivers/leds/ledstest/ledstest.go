package ledstest

import (
	"fmt"
	"sync"
	"time"

	"twincap/drivers/leds"
	"twincap/internal/tickertest"
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

// Ticker is a leds.Ticker ticked by the test (Tick returns once the
// engine has stepped for the tick; a tick at the engine's start time only
// waits for its first step). Pass its New as leds.Config.NewTicker.
type Ticker struct{ *tickertest.Ticker }

// NewTicker returns a ticker that ticks only when Tick is called.
func NewTicker() *Ticker { return &Ticker{tickertest.New()} }

// New is the leds.Config.NewTicker hook; it remembers the period asked for.
func (t *Ticker) New(d time.Duration) leds.Ticker {
	t.Started(d)
	return t
}
