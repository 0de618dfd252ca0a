package evidencetest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"twincap/server/settings"
)

// Clock is a clock that moves only when Advance is called; it satisfies
// evidence.Clock.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After fires once the clock has been advanced by d.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	return ch
}

// Advance moves the clock and fires the timers that are due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// Waiters is how many After timers have not fired yet.
func (c *Clock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// Peer is the other server as the test sets it; it satisfies
// evidence.Peer. An unknown recording is a zero answer; Down makes every
// call fail as when the peer cannot be reached.
type Peer struct {
	mu    sync.Mutex
	state map[string]settings.PeerUpload
	down  bool
	calls int
}

// NewPeer returns a peer that knows nothing.
func NewPeer() *Peer { return &Peer{state: map[string]settings.PeerUpload{}} }

// Set sets the answer for recordingID.
func (p *Peer) Set(recordingID string, u settings.PeerUpload) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state[recordingID] = u
}

// SetDown makes the peer unreachable (true) or reachable again.
func (p *Peer) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// Calls is how many times PeerState was called.
func (p *Peer) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// PeerState answers as set.
func (p *Peer) PeerState(ctx context.Context, recordingID string) (settings.PeerUpload, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if err := ctx.Err(); err != nil {
		return settings.PeerUpload{}, err
	}
	if p.down {
		return settings.PeerUpload{}, fmt.Errorf("evidencetest: peer is down")
	}
	return p.state[recordingID], nil
}
