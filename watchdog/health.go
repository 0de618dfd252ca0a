package watchdog

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrStale matches the error of Health.Check when a probe has made no
// progress for longer than it may.
var ErrStale = errors.New("watchdog: stale")

// Health is a registry of named progress probes. The daemon bumps each
// probe where the work happens; Check says which enabled probes have gone
// stale. Register, Check and Snapshot may be called from any goroutine,
// Bump, Enable and Disable from any goroutine at any rate.
type Health struct {
	now func() time.Time
	// base is the origin of every probe's progress time. Probes store
	// their offset from it, taken with time.Time.Sub, so the monotonic
	// clock is used: the box's wall clock jumps by years when NTP first
	// sets it, and that must not look like a stall.
	base time.Time

	mu     sync.Mutex // guards probes only
	probes []*Probe   // sorted by name
}

// NewHealth returns an empty registry timed by now (nil means time.Now).
func NewHealth(now func() time.Time) *Health {
	if now == nil {
		now = time.Now
	}
	return &Health{now: now, base: now()}
}

// Probe is one thing that must keep making progress, such as frames
// arriving from the camera.
type Probe struct {
	h        *Health
	name     string
	maxStale time.Duration

	enabled atomic.Bool
	last    atomic.Int64 // last progress, in ns after h.base
	count   atomic.Uint64
}

// Register adds an enabled probe that is stale when it has not been bumped
// (or enabled) for longer than maxStale. Registering counts as progress.
func (h *Health) Register(name string, maxStale time.Duration) (*Probe, error) {
	if name == "" {
		return nil, errors.New("watchdog: register probe: empty name")
	}
	if maxStale <= 0 {
		return nil, fmt.Errorf("watchdog: register probe %s: max staleness %v is not positive", name, maxStale)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	i, found := slices.BinarySearchFunc(h.probes, name, func(p *Probe, n string) int { return strings.Compare(p.name, n) })
	if found {
		return nil, fmt.Errorf("watchdog: register probe %s: already registered", name)
	}
	p := &Probe{h: h, name: name, maxStale: maxStale}
	p.Enable()
	h.probes = slices.Insert(h.probes, i, p)
	return p, nil
}

// Name is the name the probe was registered under.
func (p *Probe) Name() string { return p.name }

// MaxStale is how long the probe may go without progress.
func (p *Probe) MaxStale() time.Duration { return p.maxStale }

// Bump records progress now. It is cheap enough to call per frame.
func (p *Probe) Bump() {
	p.last.Store(int64(p.h.now().Sub(p.h.base)))
	p.count.Add(1)
}

// Enable makes Check consider the probe again, from now: a probe that was
// off (an encoder between interviews) gets its full staleness allowance.
func (p *Probe) Enable() {
	p.last.Store(int64(p.h.now().Sub(p.h.base)))
	p.enabled.Store(true)
}

// Disable makes Check ignore the probe, for work that is not expected now
// (no encoder output while no interview is recorded).
func (p *Probe) Disable() { p.enabled.Store(false) }

// Enabled reports whether Check considers the probe.
func (p *Probe) Enabled() bool { return p.enabled.Load() }

// Count is how many times the probe was bumped.
func (p *Probe) Count() uint64 { return p.count.Load() }

// ProbeStatus is one probe as Snapshot saw it.
type ProbeStatus struct {
	Name     string        `json:"name"`
	Enabled  bool          `json:"enabled"`
	Count    uint64        `json:"count"`
	Age      time.Duration `json:"age_ns"` // since the last progress (or enabling)
	MaxStale time.Duration `json:"max_stale_ns"`
	Stale    bool          `json:"stale"` // enabled and older than MaxStale
}

// Snapshot returns every probe at now, sorted by name, for the box's
// status page.
func (h *Health) Snapshot(now time.Time) []ProbeStatus {
	h.mu.Lock()
	probes := slices.Clone(h.probes)
	h.mu.Unlock()
	at := now.Sub(h.base)
	out := make([]ProbeStatus, len(probes))
	for i, p := range probes {
		s := ProbeStatus{Name: p.name, Enabled: p.Enabled(), Count: p.Count(), MaxStale: p.maxStale}
		s.Age = max(at-time.Duration(p.last.Load()), 0)
		s.Stale = s.Enabled && s.Age > s.MaxStale
		out[i] = s
	}
	return out
}

// Check returns nil when every enabled probe has made progress within its
// allowance at now, else a *StaleError naming every stale probe.
func (h *Health) Check(now time.Time) error {
	var stale []ProbeStatus
	for _, s := range h.Snapshot(now) {
		if s.Stale {
			stale = append(stale, s)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	return &StaleError{Probes: stale}
}

// StaleError names the probes that made no progress in time; errors.Is
// matches it to ErrStale.
type StaleError struct {
	Probes []ProbeStatus // sorted by name
}

func (e *StaleError) Error() string {
	parts := make([]string, len(e.Probes))
	for i, p := range e.Probes {
		parts[i] = fmt.Sprintf("%s (no progress for %v, limit %v)", p.Name, p.Age.Round(time.Millisecond), p.MaxStale)
	}
	return "watchdog: stale: " + strings.Join(parts, ", ")
}

// Is makes errors.Is(err, ErrStale) true.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// Names lists the stale probes, sorted.
func (e *StaleError) Names() []string {
	names := make([]string, len(e.Probes))
	for i, p := range e.Probes {
		names[i] = p.Name
	}
	return names
}
