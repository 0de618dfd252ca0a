package watchdog

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Hardware is a watchdog device of the Linux watchdog API, such as
// /dev/watchdog or /dev/watchdog0. Its methods belong to one goroutine.
type Hardware struct {
	f    *os.File
	path string
	info unix.WatchdogInfo
}

var _ Device = (*Hardware)(nil)

// Open opens the watchdog device at path, which starts its timer, and asks
// it what it supports. A file that is not a watchdog is closed again and
// reported with ErrNotWatchdog.
func Open(path string) (*Hardware, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		if errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("watchdog: %w (another process holds it; is systemd's RuntimeWatchdogSec set?)", err)
		}
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	h := &Hardware{f: f, path: path}
	err = h.control(func(fd int) error {
		info, err := unix.IoctlGetWatchdogInfo(fd)
		if err == nil {
			h.info = *info
		}
		return err
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("watchdog: %s: %w: WDIOC_GETSUPPORT: %w", path, ErrNotWatchdog, err)
	}
	return h, nil
}

// control runs an ioctl on the device's descriptor.
func (h *Hardware) control(op func(fd int) error) error {
	rc, err := h.f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) { opErr = op(int(fd)) }); err != nil {
		return err
	}
	return opErr
}

// Path is the device file Open was given.
func (h *Hardware) Path() string { return h.path }

// Identity is the driver's name for the watchdog, such as "i6300ESB timer".
func (h *Hardware) Identity() string {
	b := h.info.Identity[:]
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// MagicClose reports whether the driver honours the magic close. A driver
// that does not stops its timer at every close, a crash's included, unless
// the kernel was built with CONFIG_WATCHDOG_NOWAYOUT.
func (h *Hardware) MagicClose() bool { return h.info.Options&unix.WDIOF_MAGICCLOSE != 0 }

func (h *Hardware) String() string { return fmt.Sprintf("%s (%s)", h.path, h.Identity()) }

// SetTimeout sets the timeout, rounded up to whole seconds, and returns
// the one the driver took (WDIOC_SETTIMEOUT, then WDIOC_GETTIMEOUT).
func (h *Hardware) SetTimeout(d time.Duration) (time.Duration, error) {
	if d <= 0 {
		return 0, fmt.Errorf("watchdog: %s: set timeout %v: not positive", h.path, d)
	}
	secs := int((d + time.Second - 1) / time.Second)
	err := h.control(func(fd int) error { return unix.IoctlSetPointerInt(fd, unix.WDIOC_SETTIMEOUT, secs) })
	if err != nil {
		return 0, fmt.Errorf("watchdog: %s: set timeout %ds: %w", h.path, secs, err)
	}
	return h.Timeout()
}

// Timeout reads the timeout (WDIOC_GETTIMEOUT).
func (h *Hardware) Timeout() (time.Duration, error) {
	var secs uint32
	err := h.control(func(fd int) (err error) {
		secs, err = unix.IoctlGetUint32(fd, unix.WDIOC_GETTIMEOUT)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("watchdog: %s: get timeout: %w", h.path, err)
	}
	return time.Duration(secs) * time.Second, nil
}

// Keepalive pets the watchdog: WDIOC_KEEPALIVE, or for a driver without
// it a write, which the API defines as a ping as well.
func (h *Hardware) Keepalive() error {
	var err error
	if h.info.Options&unix.WDIOF_KEEPALIVEPING != 0 {
		err = h.control(unix.IoctlWatchdogKeepalive)
	} else {
		// Any byte but 'V' pets without arming the magic close.
		_, err = h.f.Write([]byte{0})
	}
	if err != nil {
		return fmt.Errorf("watchdog: %s: keepalive: %w", h.path, err)
	}
	return nil
}

// Close closes the device; see Device.Close for what magic means.
func (h *Hardware) Close(magic bool) error {
	var werr error
	if magic {
		if _, err := h.f.Write([]byte{magicClose}); err != nil {
			werr = fmt.Errorf("watchdog: %s: magic close: %w", h.path, err)
		}
	}
	if err := h.f.Close(); err != nil {
		return errors.Join(werr, fmt.Errorf("watchdog: %s: close: %w", h.path, err))
	}
	return werr
}
