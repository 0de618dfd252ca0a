package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"twincap/firmware/box"
	"twincap/firmware/config"
	"twincap/firmware/policy"
	"twincap/firmware/update"
	"twincap/firmware/updater"
	"twincap/firmware/updater/sysupdate"
	"twincap/firmware/updater/tryboot"
)

// Where an A/B image keeps systemd-sysupdate's side (image/ab/rootfs, laid
// on every A/B board): a wrapper that runs sysupdate outside the daemon's
// sandbox, the folder its transfer definitions (/usr/lib/sysupdate.d) read,
// and the names they match; and, on the Raspberry Pi
// (buildroot/board/rpi4-64), where its firmware's tryboot is.
type boardPaths struct {
	Sysupdate, SysupdateSource string
	// The Pi: autoboot.txt (its partition mounted by boot-autoboot.mount),
	// the firmware's device-tree node, udev's links by GPT label, sysfs.
	Autoboot, Bootloader, PartLabels, SysBlock string
}

var defaultPaths = boardPaths{
	Sysupdate:       "/usr/lib/twincap/sysupdate",
	SysupdateSource: "/var/lib/twincap/sysupdate-source",
	Autoboot:        "/boot/autoboot/autoboot.txt",
	Bootloader:      "/proc/device-tree/chosen/bootloader",
	PartLabels:      "/dev/disk/by-partlabel",
	SysBlock:        "/sys/class/block",
}

const osRelease = "/etc/os-release"

// The payload names the UEFI board's transfer definitions match: the root
// (40-root.conf, shared) and the UKI (image/ab/rootfs-uefi's 60-uki.conf).
// The Pi's are tryboot.Names.
var uefiNames = map[string]string{
	"rootfs.img":    "twincap_@v.root.img",
	"rootfs.img.gz": "twincap_@v.root.img.gz", // gzipped; systemd-import inflates it
	"twincap.efi":   "twincap_@v.efi",
}

// newInstaller builds the installer update.installer names.
func newInstaller(u config.Update, trust *update.Trust, paths boardPaths) (updater.Installer, error) {
	verifier := update.Verifier{Trust: trust, Board: u.Board}
	if u.Installer != config.InstallerSysupdate && u.Installer != config.InstallerTryboot {
		return nil, fmt.Errorf("update: update.installer %q: this daemon knows %q and %q", u.Installer, config.InstallerSysupdate, config.InstallerTryboot)
	}
	if _, err := os.Stat(paths.Sysupdate); err != nil {
		return nil, fmt.Errorf("update: this image has no systemd-sysupdate (%w): only an A/B image can install updates", err)
	}
	names := uefiNames
	if u.Installer == config.InstallerTryboot {
		names = tryboot.Names
	}
	slots, err := sysupdate.New(sysupdate.Config{
		Binary: paths.Sysupdate, SourceDir: paths.SysupdateSource, Names: names, Verifier: verifier,
	})
	if err != nil || u.Installer == config.InstallerSysupdate {
		return slots, err
	}
	for _, p := range []string{paths.Bootloader, paths.Autoboot} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("update: update.installer %q, but this board has no Raspberry Pi tryboot (%w)", u.Installer, err)
		}
	}
	return tryboot.New(tryboot.Config{
		Slots: slots, Autoboot: paths.Autoboot, Bootloader: paths.Bootloader,
		PartLabels: paths.PartLabels, SysBlock: paths.SysBlock,
		BootLabel: tryboot.BootLabel, RootLabel: tryboot.RootLabel, BootPayload: tryboot.BootPayload,
	})
}

// newAgent makes the update agent with the installer the config names:
// the box's running version is IMAGE_VERSION in os-release, the window
// and what is owed come from the box itself.
func newAgent(cfg config.Config, b *box.Box, log *slog.Logger) (*updater.Agent, error) {
	u := cfg.Update
	current, err := imageVersion(osRelease)
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	trust, err := update.LoadTrust(u.PublicKeys...)
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	inst, err := newInstaller(u, trust, defaultPaths)
	if err != nil {
		return nil, err
	}
	client, err := updater.NewHTTPClient(u.CAFile)
	if err != nil {
		return nil, err
	}
	return updater.New(updater.Config{
		Source: u.Source, Board: u.Board, Current: current, Interval: u.CheckInterval.Duration,
		StageDir: u.StageDir, Trust: trust,
	}, updater.Deps{
		Window:    b.InMaintenance,
		Hold:      func() updater.Hold { return box.UpdateHold(b.Status()) },
		Installer: inst,
		HTTP:      client,
		Log:       log,
		Report:    b.ReportUpdate, // each step goes to both servers' audit trails
	})
}

// imageVersion reads IMAGE_VERSION from an os-release file.
func imageVersion(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "IMAGE_VERSION="); ok {
			v = strings.Trim(v, `"'`)
			if v == "" {
				break
			}
			return v, nil
		}
	}
	if err := s.Err(); err != nil {
		return "", err
	}
	return "", errors.New(path + " has no IMAGE_VERSION: the image does not say which version it is")
}

// runAgent runs the update agent once the box has restored its operator
// session and joined the room (every server answered), or after the
// room's connect window (2 minutes) at the latest: the agent's first
// check, at its start, then finds the maintenance window readable instead
// of waiting a poll (30 s) for it. Seen in the A/B VM: a check made before
// the session was restored cost every boot with an update pending 30 s.
func runAgent(ctx context.Context, agent *updater.Agent, b *box.Box) error {
	select {
	case <-b.Ready():
	case <-ctx.Done():
		return nil
	}
	window := time.After(2 * time.Minute)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for b.Status().Room == policy.Connecting.String() {
		select {
		case <-ctx.Done():
			return nil
		case <-window:
			return agent.Run(ctx)
		case <-tick.C:
		}
	}
	return agent.Run(ctx)
}
