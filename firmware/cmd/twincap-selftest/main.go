// Command twincap-selftest decides whether this boot of the capture box is
// good: the daemon's unit is active (it sent READY=1), its control API
// answers, no part is at fault (camera, audio, disk) and the room's policy
// is satisfied (both servers connected, or one after the connect window:
// the status's room is not "connecting"). The A/B image runs it before
// boot-complete.target (twincap-selftest.service), so systemd-bless-boot
// marks a new version good only once it passes.
//
// When the deadline passes without that, it exits 1 if this boot is on
// trial — on the UEFI image systemd-boot counts its tries (the
// LoaderBootCountPath EFI variable is set); on the Raspberry Pi the
// firmware started this slot with the tryboot flag — and the unit's
// FailureAction=reboot makes the boot loader try again or go back to the
// other slot (the Pi's firmware goes back at once: the flag is cleared). A boot of a version
// already marked good is never rebooted for a failed self-test (the box
// would reboot for ever in a room whose servers are down); it exits 0 and
// says why on its standard error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"time"

	"twincap/firmware/updater/sysupdate"
	"twincap/firmware/updater/tryboot"
)

// pathStatus is the control API's status route (box.PathStatus; the test
// keeps the two equal). The self-test does not import package box, so it
// builds without cgo and stays small.
const pathStatus = "/api/status"

// status is the part of box.Status the verdict reads.
type status struct {
	Room    string `json:"room"`
	Fault   string `json:"fault,omitempty"`
	Message string `json:"message,omitempty"`
}

// bootCountVar is systemd-boot's LoaderBootCountPath: set only when the
// booted entry counts its tries.
const bootCountVar = sysupdate.BootCountVar

// piBootloader is the Raspberry Pi firmware's device-tree node; its
// tryboot cell is 1 when the firmware started this slot on trial.
const piBootloader = "/proc/device-tree/chosen/bootloader"

// onTrial reports whether this boot is of a slot not marked good yet, and
// which boot loader says so.
func onTrial(efiBootCount, piNode string) (bool, string) {
	if _, err := os.Stat(efiBootCount); err == nil {
		return true, "systemd-boot counts its tries"
	}
	if b, err := tryboot.ReadBoot(piNode); err == nil && b.Tryboot {
		return true, "the Raspberry Pi firmware started it with the tryboot flag"
	}
	return false, ""
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "the box's control API")
	unit := flag.String("unit", "twincap-box.service", "the daemon's systemd unit")
	timeout := flag.Duration("timeout", 60*time.Second, "how long the box has to pass")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	start := time.Now()
	err := wait(ctx, *addr, *unit)
	if err == nil {
		fmt.Printf("twincap-selftest: passed after %.1f s\n", time.Since(start).Seconds())
		return
	}
	trial, how := onTrial(bootCountVar, piBootloader)
	fmt.Fprintf(os.Stderr, "twincap-selftest: failed after %.1f s: %v\n", time.Since(start).Seconds(), err)
	if trial {
		fmt.Fprintf(os.Stderr, "twincap-selftest: this boot is on trial (%s): not marking it good\n", how)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "twincap-selftest: this version is already marked good: not rebooting for it")
}

// wait polls until the box passes or ctx ends; it returns the last reason
// it did not pass.
func wait(ctx context.Context, addr, unit string) error {
	client := &http.Client{Timeout: 3 * time.Second}
	last := errors.New("not checked yet")
	for {
		if err := once(ctx, client, addr, unit); err == nil {
			return nil
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(time.Second):
		}
	}
}

func once(ctx context.Context, client *http.Client, addr, unit string) error {
	if out, err := exec.CommandContext(ctx, "systemctl", "is-active", unit).Output(); err != nil {
		return fmt.Errorf("%s is not active (%s)", unit, trim(out))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+pathStatus, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("control API: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("control API: HTTP %d", resp.StatusCode)
	}
	var st status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return fmt.Errorf("control API: %w", err)
	}
	return Check(st)
}

// Check is the verdict on one status: nil when the box is good.
func Check(st status) error {
	switch {
	case st.Fault != "":
		return fmt.Errorf("fault: %s (%s)", st.Fault, st.Message)
	case st.Room == "" || st.Room == "connecting":
		return fmt.Errorf("room %q: the fallback policy is not satisfied yet", st.Room)
	}
	return nil
}

func trim(b []byte) string {
	s := string(b)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	return s
}
