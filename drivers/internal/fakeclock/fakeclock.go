package fakeclock

import (
	"sync"
	"time"
)

// Clock is a clock whose time moves only when After or Advance is called.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	waited []time.Duration
}

// New returns a clock reading start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d, as if the program had been busy.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// After behaves like time.After but returns at once, having moved the clock
// forward by d. Every wait is recorded for Waits.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waited = append(c.waited, d)
	if d > 0 {
		c.now = c.now.Add(d)
	}
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// Waits returns the durations passed to After so far and forgets them.
func (c *Clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.waited
	c.waited = nil
	return w
}
