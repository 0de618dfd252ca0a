package watchdog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// State is where a Petter is.
type State int

const (
	// Starting: no health check has run yet.
	Starting State = iota
	// Petting: the last check passed and both watchdogs were petted.
	Petting
	// Withholding: a probe is stale, so neither watchdog is petted; the
	// box resets unless the daemon recovers (or is restarted) in time.
	Withholding
	// Stopped: Stop disarmed the hardware watchdog; nothing is petted.
	Stopped
)

func (s State) String() string {
	switch s {
	case Starting:
		return "starting"
	case Petting:
		return "petting"
	case Withholding:
		return "withholding"
	case Stopped:
		return "stopped"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// event is what moves a Petter: a health check's outcome, or Stop.
type event int

const (
	evHealthy event = iota
	evStale
	evStop
)

func (e event) String() string {
	switch e {
	case evHealthy:
		return "healthy"
	case evStale:
		return "stale"
	case evStop:
		return "stop"
	}
	return fmt.Sprintf("event(%d)", int(e))
}

// actions are what a transition asks for.
type actions struct {
	pet    bool // Keepalive the device and send WATCHDOG=1
	status bool // send STATUS describing the new state
	disarm bool // send STOPPING=1 and magic-close the device
}

// transition is the Petter's whole policy.
func transition(s State, e event) (State, actions) {
	switch {
	case s == Stopped:
		return Stopped, actions{}
	case e == evStop:
		return Stopped, actions{disarm: true}
	case e == evHealthy:
		// Back from Withholding, the unit's status must stop naming
		// probes that are fine again.
		return Petting, actions{pet: true, status: s == Withholding}
	default: // evStale: the status is resent (if it changed) at each check
		return Withholding, actions{status: true}
	}
}

// Ticker is the part of *time.Ticker that Run uses, so tests can tick by
// hand (watchdogtest.Ticker).
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// DefaultInterval is the check interval when neither watchdog sets one.
const DefaultInterval = time.Second

// Config times a Petter. Zero values mean production defaults.
type Config struct {
	// HardwareTimeout is set on the device by New; 0 keeps the device's
	// current timeout.
	HardwareTimeout time.Duration
	// Interval between health checks; 0 derives it from the watchdogs'
	// timeouts (see New). A longer one than that is refused.
	Interval  time.Duration
	Now       func() time.Time           // default time.Now; times Run's first check
	NewTicker func(time.Duration) Ticker // default wraps time.NewTicker
}

// Deps are what a Petter pets and checks. Device and Notifier may be nil
// (a development machine has neither watchdog); Health may not.
type Deps struct {
	Device   Device
	Notifier *Notifier
	Health   *Health
	Log      *slog.Logger // nil: discard
}

// Petter pets the hardware and systemd watchdogs while Health passes.
//
// Step and Stop hold mu while they act: Run's goroutine steps, the daemon's
// main calls Stop, and the device must never be petted after its magic
// close.
type Petter struct {
	cfg      Config
	dev      Device
	notifier *Notifier
	health   *Health
	log      *slog.Logger
	interval time.Duration
	timeout  time.Duration // the hardware's, 0 without a device

	stopped  chan struct{} // closed by Stop
	stopOnce sync.Once

	mu         sync.Mutex
	state      State
	lastStatus string
}

// New sets the hardware timeout and works out the check interval: half of
// the smaller of the hardware timeout and half of systemd's WatchdogSec
// (systemd asks to be fed at half its timeout), so each watchdog is petted
// at least twice within its timeout. Without either watchdog it is
// DefaultInterval.
func New(cfg Config, deps Deps) (*Petter, error) {
	if deps.Health == nil {
		return nil, errors.New("watchdog: new: no Health to check")
	}
	if cfg.Interval < 0 || cfg.HardwareTimeout < 0 {
		return nil, fmt.Errorf("watchdog: new: negative interval %v or hardware timeout %v", cfg.Interval, cfg.HardwareTimeout)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewTicker == nil {
		cfg.NewTicker = func(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if deps.Notifier == nil {
		deps.Notifier = &Notifier{}
	}
	p := &Petter{
		cfg: cfg, dev: deps.Device, notifier: deps.Notifier, health: deps.Health, log: deps.Log,
		stopped: make(chan struct{}),
	}
	if p.dev != nil {
		var err error
		if cfg.HardwareTimeout > 0 {
			p.timeout, err = p.dev.SetTimeout(cfg.HardwareTimeout)
		} else {
			p.timeout, err = p.dev.Timeout()
		}
		if err != nil {
			return nil, fmt.Errorf("watchdog: new: %w", err)
		}
		if p.timeout <= 0 {
			return nil, fmt.Errorf("watchdog: new: the device reports timeout %v", p.timeout)
		}
	}
	limit := p.timeout
	if wd := p.notifier.WatchdogSec(); wd > 0 && (limit == 0 || wd/2 < limit) {
		limit = wd / 2
	}
	p.interval = DefaultInterval
	if limit > 0 {
		p.interval = limit / 2
	}
	if cfg.Interval > 0 {
		if limit > 0 && cfg.Interval > p.interval {
			return nil, fmt.Errorf("watchdog: new: interval %v is too long: the hardware timeout is %v and systemd's WatchdogSec %v, so at most %v",
				cfg.Interval, p.timeout, p.notifier.WatchdogSec(), p.interval)
		}
		p.interval = cfg.Interval
	}
	return p, nil
}

// Interval is how often Run checks health and pets.
func (p *Petter) Interval() time.Duration { return p.interval }

// HardwareTimeout is the timeout the device took, 0 without a device.
func (p *Petter) HardwareTimeout() time.Duration { return p.timeout }

// State is where the Petter is now.
func (p *Petter) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// Step runs one health check at now and pets both watchdogs if it passed.
// When it fails, nothing is petted and the unit's status names the stale
// probes (sent again only when that list changes). Step returns what went
// wrong talking to the watchdogs; a failed check is not an error here, it
// is the state Withholding. Run calls Step; tests may call it instead.
func (p *Petter) Step(now time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	check := p.health.Check(now)
	ev := evHealthy
	if check != nil {
		ev = evStale
	}
	prev := p.state
	next, act := transition(prev, ev)
	p.state = next
	switch {
	case prev != Withholding && next == Withholding:
		p.log.Warn("watchdog: health check failed; the watchdogs are no longer petted", "err", check, "hardware_timeout", p.timeout)
	case prev == Withholding && next == Petting:
		p.log.Info("watchdog: healthy again; petting the watchdogs")
	}
	return p.do(act, check)
}

// Stop is the orderly stop: it sends STOPPING=1 and magic-closes the
// device, which disarms the hardware timer; Run returns and nothing is
// petted again. Call it only once the daemon has shut down cleanly, never
// from a deferred call or an error path: a daemon that crashes must leave
// the timer running. Stop may be called from any goroutine; after the
// first call it does nothing.
func (p *Petter) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	next, act := transition(p.state, evStop)
	p.state = next
	err := p.do(act, nil)
	p.stopOnce.Do(func() { close(p.stopped) })
	return err
}

// do carries out a transition's actions; mu is held.
func (p *Petter) do(act actions, check error) error {
	var errs []error
	if act.pet {
		if p.dev != nil {
			errs = append(errs, p.dev.Keepalive())
		}
		errs = append(errs, p.notifier.Watchdog())
	}
	if act.status {
		msg := "healthy: watchdogs petted"
		var se *StaleError
		if errors.As(check, &se) {
			msg = "unhealthy, watchdogs not petted: stale " + strings.Join(se.Names(), ", ")
		}
		if msg != p.lastStatus {
			err := p.notifier.Status(msg)
			if err == nil {
				p.lastStatus = msg
			}
			errs = append(errs, err)
		}
	}
	if act.disarm {
		errs = append(errs, p.notifier.Stopping())
		if p.dev != nil {
			errs = append(errs, p.dev.Close(true))
		}
	}
	return errors.Join(errs...)
}

// Run checks and pets at once and then every Interval until ctx ends or
// Stop is called. When ctx ends it returns without touching the device:
// the hardware timer keeps running, and only Stop disarms it. Ticks are
// timed by the tick's own time (Config.Now times only the first); a tick
// no later than the previous check is skipped, which is what lets
// watchdogtest.Ticker prove a check has finished. Errors talking to the
// watchdogs are logged, once each until they change; Run returns nil.
func (p *Petter) Run(ctx context.Context) error {
	tk := p.cfg.NewTicker(p.interval)
	defer tk.Stop()
	select {
	case <-p.stopped:
		return nil
	default:
	}
	p.log.Info("watchdog: petting while healthy", "interval", p.interval, "hardware_timeout", p.timeout,
		"systemd", p.notifier.Enabled(), "systemd_watchdog", p.notifier.WatchdogSec())
	prev := p.cfg.Now()
	last := p.report(p.Step(prev), "")
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.stopped:
			return nil
		case now := <-tk.C():
			if ctx.Err() != nil {
				return nil
			}
			if !now.After(prev) {
				continue
			}
			prev = now
			last = p.report(p.Step(now), last)
		}
	}
}

// report logs err unless it repeats the previous step's, so a dead notify
// socket does not log every interval.
func (p *Petter) report(err error, last string) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if msg != last {
		p.log.Error("watchdog: petting failed", "err", err)
	}
	return msg
}

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }
