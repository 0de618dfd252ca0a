package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"twincap/drivers/leds"
	"twincap/firmware/box"
	"twincap/firmware/config"
	"twincap/watchdog"
)

// health registers the box's watchdog probes. Their limits are generous
// against the work they watch (a segment every segment_duration, an
// uplink loop at least every second), so only a daemon that is really
// stuck stops petting.
func health(cfg config.Config) (*watchdog.Health, box.Progress, error) {
	h := watchdog.NewHealth(nil)
	seg := cfg.SegmentDuration.Duration
	var p box.Progress
	var err error
	reg := func(name string, stale time.Duration, disabled bool) box.Probe {
		if err != nil {
			return nil
		}
		var q *watchdog.Probe
		if q, err = h.Register(name, stale); err != nil {
			return nil
		}
		if disabled {
			q.Disable()
		}
		return q
	}
	p.Loop = reg("loop", 10*time.Second, false)
	p.Frames = reg("frames", 5*time.Second, true)
	p.Segments = reg("encoder", 3*seg+5*time.Second, true)
	p.Journal = reg("journal", 3*seg+10*time.Second, true)
	for _, s := range cfg.Servers() {
		p.Uplinks = append(p.Uplinks, reg("uplink-"+s.Name, 30*time.Second, false))
	}
	if err != nil {
		return nil, box.Progress{}, fmt.Errorf("watchdog: %w", err)
	}
	return h, p, nil
}

// petter opens the hardware watchdog (if configured) and joins it with
// systemd's. It is opened last of all, after the config is validated, so
// a box that cannot start does not arm a timer it will never pet.
func petter(cfg config.Config, h *watchdog.Health, log *slog.Logger) (*watchdog.Petter, *watchdog.Notifier, error) {
	n, err := watchdog.NewNotifier()
	if err != nil {
		return nil, nil, err
	}
	deps := watchdog.Deps{Notifier: n, Health: h, Log: log}
	if cfg.Watchdog.Device != "" {
		hw, err := watchdog.Open(cfg.Watchdog.Device)
		if err != nil {
			return nil, nil, err
		}
		deps.Device = hw
	}
	p, err := watchdog.New(watchdog.Config{HardwareTimeout: cfg.Watchdog.Timeout.Duration}, deps)
	if err != nil {
		return nil, nil, err
	}
	log.Info("watchdog", "hardware", cfg.Watchdog.Device, "timeout", p.HardwareTimeout(),
		"systemd", n.WatchdogSec(), "interval", p.Interval())
	return p, n, nil
}

// ledEngine builds the status LEDs from the config; nil when the box has
// none.
func ledEngine(cfg config.Config, log *slog.Logger) (*leds.Engine, error) {
	names := cfg.LEDs.Names()
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var outs []leds.Output
	for _, k := range keys {
		var o leds.Output
		var err error
		switch cfg.LEDs.Driver {
		case "none":
			return nil, nil
		case "class":
			o, err = leds.NewClass(cfg.LEDs.ClassRoot, names[k])
		case "gpio":
			o, err = leds.LookupGPIO(k, names[k], cfg.LEDs.ActiveLow)
		}
		if err != nil {
			return nil, fmt.Errorf("leds: %s: %w", k, err)
		}
		outs = append(outs, renamed{o, k})
	}
	if len(outs) == 0 {
		return nil, nil
	}
	return leds.New(leds.Config{OnError: func(err error) { log.Warn("leds", "err", err) }}, outs...)
}

// renamed gives an output the status mapping's name (power, status, ...)
// whatever the device is called.
type renamed struct {
	leds.Output
	name string
}

func (r renamed) Name() string { return r.name }

// showStatus keeps the LEDs in step with the box until ctx ends.
func showStatus(ctx context.Context, e *leds.Engine, b *box.Box, log *slog.Logger) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		s := box.LEDs(b.Status())
		select {
		case <-b.Ready():
		default:
			s.Booting, s.Ready = true, false
		}
		if err := e.Apply(leds.Patterns(s)); err != nil {
			log.Debug("leds", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
