package watchdog

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier tells systemd about the daemon through sd_notify: READY=1 when
// it is up, WATCHDOG=1 to feed the service watchdog, STATUS= for `systemctl
// status`, STOPPING=1 on an orderly stop. Outside systemd (no NOTIFY_SOCKET)
// every method does nothing and returns nil; so does the zero Notifier.
type Notifier struct {
	enabled  bool
	watchdog time.Duration
}

// NewNotifier reads the environment systemd gives a Type=notify service:
// NOTIFY_SOCKET, and WATCHDOG_USEC/WATCHDOG_PID when WatchdogSec= is set.
// A malformed WATCHDOG_USEC is an error: the unit asked for a watchdog and
// the daemon could not tell how often to feed it.
func NewNotifier() (*Notifier, error) {
	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return nil, fmt.Errorf("watchdog: systemd WATCHDOG_USEC: %w", err)
	}
	return &Notifier{enabled: os.Getenv("NOTIFY_SOCKET") != "", watchdog: wd}, nil
}

// Enabled reports whether the daemon runs under systemd with a notify
// socket.
func (n *Notifier) Enabled() bool { return n != nil && n.enabled }

// WatchdogSec is the unit's WatchdogSec, or 0 when systemd does not watch
// this process. systemd kills the daemon when WATCHDOG=1 is not sent within
// it.
func (n *Notifier) WatchdogSec() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog
}

// Ready sends READY=1: start-up is over.
func (n *Notifier) Ready() error { return n.send(daemon.SdNotifyReady) }

// Watchdog sends WATCHDOG=1.
func (n *Notifier) Watchdog() error { return n.send(daemon.SdNotifyWatchdog) }

// Stopping sends STOPPING=1: the daemon is shutting down on purpose.
func (n *Notifier) Stopping() error { return n.send(daemon.SdNotifyStopping) }

// Status sends STATUS=s. Line breaks become spaces: sd_notify reads one
// assignment per line, and a status must not be able to say READY=1.
func (n *Notifier) Status(s string) error {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	return n.send("STATUS=" + s)
}

func (n *Notifier) send(state string) error {
	if !n.Enabled() {
		return nil
	}
	if _, err := daemon.SdNotify(false, state); err != nil {
		return fmt.Errorf("watchdog: sd_notify %s: %w", state, err)
	}
	return nil
}
