//go:build !linux

package watchdog

import (
	"fmt"
	"time"
)

// Hardware is the Linux watchdog device; elsewhere Open always fails.
type Hardware struct{}

var _ Device = (*Hardware)(nil)

// Open fails with ErrUnsupported: the watchdog API is Linux's.
func Open(path string) (*Hardware, error) {
	return nil, fmt.Errorf("watchdog: %s: %w", path, ErrUnsupported)
}

// Path is empty: no Hardware is ever opened here.
func (h *Hardware) Path() string { return "" }

// Identity is empty: no Hardware is ever opened here.
func (h *Hardware) Identity() string { return "" }

// MagicClose is false: no Hardware is ever opened here.
func (h *Hardware) MagicClose() bool { return false }

// SetTimeout fails with ErrUnsupported.
func (h *Hardware) SetTimeout(time.Duration) (time.Duration, error) { return 0, ErrUnsupported }

// Timeout fails with ErrUnsupported.
func (h *Hardware) Timeout() (time.Duration, error) { return 0, ErrUnsupported }

// Keepalive fails with ErrUnsupported.
func (h *Hardware) Keepalive() error { return ErrUnsupported }

// Close fails with ErrUnsupported.
func (h *Hardware) Close(bool) error { return ErrUnsupported }
