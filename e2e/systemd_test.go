package e2e

import (
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The box daemon speaks systemd's notify protocol as a Type=notify unit
// with WatchdogSec= needs: READY=1 once it takes requests, WATCHDOG=1 at
// least twice per WatchdogSec while healthy, STOPPING=1 on SIGTERM. A real
// datagram socket stands in for systemd.
func TestBoxNotifiesSystemd(t *testing.T) {
	r := newRoom(t, roomOptions{})
	r.box.kill()

	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				close(msgs)
				return
			}
			for _, line := range strings.Split(strings.TrimSpace(string(buf[:n])), "\n") {
				msgs <- line
			}
		}
	}()
	const watchdogSec = 2 * time.Second
	r.box = startEnv(t, r.dir, "box-systemd", []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=2000000"},
		filepath.Join(r.bin, "twincap-box"), "-config", r.boxCfg)

	next := func(want string, within time.Duration) time.Time {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("notify socket closed before %s", want)
				}
				if m == want {
					return time.Now()
				}
			case <-deadline:
				t.Fatalf("no %s from the box within %v; its log:\n%s", want, within, r.box.tail())
			}
		}
	}
	next("READY=1", 20*time.Second)
	// The daemon pets at a quarter of WatchdogSec; systemd acts only when
	// a whole WatchdogSec passes without one, which is what is checked
	// (a loaded test machine may delay a pet, not skip three).
	last := next("WATCHDOG=1", watchdogSec)
	for range 4 {
		at := next("WATCHDOG=1", watchdogSec)
		if d := at.Sub(last); d > watchdogSec {
			t.Errorf("WATCHDOG=1 %v after the previous one; WatchdogSec is %v", d, watchdogSec)
		}
		last = at
	}
	if err := r.box.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	next("STOPPING=1", 10*time.Second)
	select {
	case <-r.box.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the box did not exit within 10 s of SIGTERM")
	}
}
