package watchdog_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"twincap/watchdog"
)

// systemdSocket stands in for systemd: a unixgram socket in a temp dir,
// set as NOTIFY_SOCKET for the test. Datagrams are queued in the order
// they were sent, so after a synchronous call the test sends a marker of
// its own and reads up to it: what came before is exactly what the call
// sent, with no waiting for things that might still arrive.
type systemdSocket struct {
	t    *testing.T
	conn *net.UnixConn
	addr *net.UnixAddr
}

const marker = "TEST-MARKER=1"

func newSystemdSocket(t *testing.T) *systemdSocket {
	t.Helper()
	// A short folder of our own: unix socket paths are limited to 108
	// bytes and t.TempDir's include the test's name.
	dir, err := os.MkdirTemp("", "wd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	addr := &net.UnixAddr{Name: filepath.Join(dir, "notify"), Net: "unixgram"}
	conn, err := net.ListenUnixgram("unixgram", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", addr.Name)
	return &systemdSocket{t: t, conn: conn, addr: addr}
}

// sent returns the datagrams received since the last call.
func (s *systemdSocket) sent() []string {
	s.t.Helper()
	c, err := net.DialUnix("unixgram", nil, s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(marker)); err != nil {
		s.t.Fatal(err)
	}
	var got []string
	buf := make([]byte, 4096)
	for {
		// The marker is already queued; the deadline only turns a bug
		// into a failure instead of a hang.
		if err := s.conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			s.t.Fatal(err)
		}
		n, err := s.conn.Read(buf)
		if err != nil {
			s.t.Fatalf("reading the notify socket: %v (got %q so far)", err, got)
		}
		if string(buf[:n]) == marker {
			return got
		}
		got = append(got, string(buf[:n]))
	}
}

// noWatchdogEnv clears what systemd would set, in case the tests run
// under a unit.
func noWatchdogEnv(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "")
	t.Setenv("WATCHDOG_PID", "")
}

func TestNotifierDatagrams(t *testing.T) {
	noWatchdogEnv(t)
	sock := newSystemdSocket(t)
	n, err := watchdog.NewNotifier()
	if err != nil {
		t.Fatal(err)
	}
	if !n.Enabled() {
		t.Fatal("Enabled() = false with NOTIFY_SOCKET set")
	}
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"Ready", n.Ready, "READY=1"},
		{"Watchdog", n.Watchdog, "WATCHDOG=1"},
		{"Status", func() error { return n.Status("recording 2024-03-01-room1") }, "STATUS=recording 2024-03-01-room1"},
		// A status cannot smuggle in another assignment.
		{"Status with line breaks", func() error { return n.Status("a\nREADY=1\r\nb\rc") }, "STATUS=a READY=1 b c"},
		{"Stopping", n.Stopping, "STOPPING=1"},
	}
	for _, tt := range tests {
		if err := tt.call(); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if got := sock.sent(); !slices.Equal(got, []string{tt.want}) {
			t.Errorf("%s sent %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestNotifierOutsideSystemd(t *testing.T) {
	noWatchdogEnv(t)
	sock := newSystemdSocket(t) // there, but not announced
	t.Setenv("NOTIFY_SOCKET", "")
	n, err := watchdog.NewNotifier()
	if err != nil {
		t.Fatal(err)
	}
	if n.Enabled() || n.WatchdogSec() != 0 {
		t.Errorf("Enabled() = %v, WatchdogSec() = %v; want false, 0", n.Enabled(), n.WatchdogSec())
	}
	var zero watchdog.Notifier
	for _, n := range []*watchdog.Notifier{n, &zero, nil} {
		for _, err := range []error{n.Ready(), n.Watchdog(), n.Status("x"), n.Stopping()} {
			if err != nil {
				t.Errorf("outside systemd: %v", err)
			}
		}
	}
	if got := sock.sent(); len(got) != 0 {
		t.Errorf("sent %q outside systemd", got)
	}
}

func TestNotifierSocketGone(t *testing.T) {
	noWatchdogEnv(t)
	dir, err := os.MkdirTemp("", "wd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Setenv("NOTIFY_SOCKET", filepath.Join(dir, "gone"))
	n, err := watchdog.NewNotifier()
	if err != nil {
		t.Fatal(err)
	}
	err = n.Watchdog()
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Watchdog() to a missing socket = %v, want a not-exist error", err)
	}
	if want := "watchdog: sd_notify WATCHDOG=1: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
}

func TestNotifierWatchdogSec(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	tests := []struct {
		usec, pid string
		want      time.Duration
		wantErr   bool
	}{
		{"", "", 0, false},
		{"20000000", "", 20 * time.Second, false},
		{"20000000", me, 20 * time.Second, false},
		{"20000000", strconv.Itoa(os.Getpid() + 1), 0, false}, // meant for another process
		{"1500", "", 1500 * time.Microsecond, false},
		{"twenty", "", 0, true},
		{"-5", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.usec+"/"+tt.pid, func(t *testing.T) {
			t.Setenv("NOTIFY_SOCKET", "")
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.pid)
			n, err := watchdog.NewNotifier()
			if tt.wantErr {
				if err == nil {
					t.Fatalf("NewNotifier() = %v, want an error", n.WatchdogSec())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := n.WatchdogSec(); got != tt.want {
				t.Errorf("WatchdogSec() = %v, want %v", got, tt.want)
			}
		})
	}
}
