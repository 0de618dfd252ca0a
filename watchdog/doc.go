// Package watchdog keeps the capture box's two watchdogs fed while, and only
// while, the box daemon is healthy, so that a hung or stuck daemon gets the
// box reset instead of sitting there not recording.
//
// The hardware watchdog is a Device (Open for /dev/watchdog through the Linux
// watchdog API; a fake in watchdogtest). systemd's service watchdog is fed
// through a Notifier (sd_notify: READY, WATCHDOG, STATUS, STOPPING), which
// does nothing when the daemon does not run under systemd. Health is a
// registry of progress probes the daemon bumps (frames, encoder output,
// journal appends, uplink heartbeats); a Petter checks it at every tick and
// pets both watchdogs only when no enabled probe is stale.
//
// Only Petter.Stop disarms the hardware watchdog (the magic close). A crash,
// a panic, a kill or an error exit closes the device without it, and the
// timer keeps running until the box resets or a restarted daemon takes over.
package watchdog
