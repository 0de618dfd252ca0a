package watchdogtest

import (
	"sync"
	"time"

	"twincap/watchdog"
)

// Ticker is a watchdog.Ticker ticked by the test. Pass its New as
// watchdog.Config.NewTicker.
type Ticker struct {
	c chan time.Time

	mu      sync.Mutex
	period  time.Duration
	stopped bool
}

// NewTicker returns a ticker that ticks only when Tick is called.
func NewTicker() *Ticker { return &Ticker{c: make(chan time.Time)} }

// New is the watchdog.Config.NewTicker hook; it remembers the period.
func (t *Ticker) New(d time.Duration) watchdog.Ticker {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.period = d
	return t
}

// C implements watchdog.Ticker.
func (t *Ticker) C() <-chan time.Time { return t.c }

// Stop implements watchdog.Ticker.
func (t *Ticker) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
}

// Tick delivers a tick at time at and returns once the Petter has finished
// the check for it. The channel is unbuffered and at is sent twice:
// watchdog.Petter.Run skips a tick no later than its last check, so taking
// the repeat means the check for the first is done. Ticks must move forward
// in time, and Run must be running (or Tick blocks).
func (t *Ticker) Tick(at time.Time) {
	t.c <- at
	t.c <- at
}

// Period is the tick period the Petter asked for.
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
