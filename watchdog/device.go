package watchdog

import (
	"errors"
	"time"
)

// Device is a hardware watchdog. Opening it starts its timer; from then on
// the box resets unless Keepalive is called within every timeout.
type Device interface {
	// SetTimeout asks for timeout d and returns the one the device took:
	// hardware counts whole seconds and has a range, so it may differ.
	SetTimeout(d time.Duration) (time.Duration, error)
	// Timeout returns the current timeout.
	Timeout() (time.Duration, error)
	// Keepalive restarts the timer.
	Keepalive() error
	// Close releases the device. With magic set it first writes the magic
	// character 'V', which stops the timer: only an orderly stop may do
	// that. Without it the timer keeps running and the box resets unless
	// someone reopens the device and pets it in time.
	Close(magic bool) error
}

// ErrNotWatchdog is returned by Open for a file that does not answer the
// watchdog API.
var ErrNotWatchdog = errors.New("watchdog: not a watchdog device")

// ErrUnsupported is returned by Open where the Linux watchdog API does not
// exist.
var ErrUnsupported = errors.New("watchdog: hardware watchdog not supported on this system")

// magicClose is the character that, written just before close, tells the
// kernel the close is deliberate and the timer may stop.
const magicClose = 'V'
