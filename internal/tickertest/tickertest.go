// Package tickertest is a ticker that ticks only when a test says so, for
// the loops that step on a ticker and skip a tick no later than their last
// step (leds.Engine, watchdog.Petter). ledstest and watchdogtest wrap it
// with the New hook of their own package's Ticker interface.
package tickertest

import (
	"sync"
	"time"
)

// Ticker is ticked by the test.
type Ticker struct {
	c chan time.Time

	mu      sync.Mutex
	period  time.Duration
	stopped bool
}

// New returns a ticker that ticks only when Tick is called.
func New() *Ticker { return &Ticker{c: make(chan time.Time)} }

// Started records the period the loop asked for; the wrappers' New hooks
// call it.
func (t *Ticker) Started(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.period = d
}

// C is the tick channel.
func (t *Ticker) C() <-chan time.Time { return t.c }

// Stop records that the loop stopped the ticker.
func (t *Ticker) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
}

// Tick delivers a tick at time at and returns once the loop has stepped
// for it. The channel is unbuffered and at is sent twice: the loop skips a
// tick no later than its last step, so taking the repeat means it has
// finished the step for the first, and the test may then move its clock
// or look at the outputs without racing the step. Ticks must move forward
// in time, and the loop must be running (or Tick blocks).
func (t *Ticker) Tick(at time.Time) {
	t.c <- at
	t.c <- at
}

// Period is the tick period the loop asked for.
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
