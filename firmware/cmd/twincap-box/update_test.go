package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"twincap/firmware/config"
	"twincap/firmware/update"
	"twincap/firmware/updater"
)

func TestImageVersion(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		text, want string
		ok         bool
	}{
		{"ID=debian\nIMAGE_ID=twincap\nIMAGE_VERSION=0.2.0\n", "0.2.0", true},
		{"IMAGE_VERSION=\"1.4.0\"\n", "1.4.0", true},
		{"ID=debian\nVERSION_ID=\"12\"\n", "", false},
		{"IMAGE_VERSION=\n", "", false},
	} {
		p := filepath.Join(dir, "os-release")
		if err := os.WriteFile(p, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := imageVersion(p)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%q: %q, %v; want %q", c.text, got, err, c.want)
		}
	}
}

// update.installer decides the installer; each needs its board's parts.
func TestNewInstaller(t *testing.T) {
	key, err := update.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	trust, _ := update.NewTrust(&key.PublicKey)
	dir := t.TempDir()
	touch := func(p string) string {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	uefi := boardPaths{Sysupdate: touch("uefi/sysupdate"), SysupdateSource: filepath.Join(dir, "src")}
	pi := uefi
	pi.Autoboot, pi.Bootloader = touch("pi/autoboot.txt"), filepath.Dir(touch("pi/bootloader/partition"))
	pi.PartLabels, pi.SysBlock = filepath.Join(dir, "by-partlabel"), filepath.Join(dir, "block")
	u := config.Update{Board: "rpi4-64"}
	for _, c := range []struct {
		installer config.Installer
		paths     boardPaths
		want      string // the installer's type, or the error
	}{
		{config.InstallerSysupdate, uefi, "*sysupdate.Installer"},
		{config.InstallerTryboot, pi, "*tryboot.Installer"},
		{config.InstallerTryboot, uefi, `update.installer "tryboot", but this board has no Raspberry Pi tryboot`},
		{config.InstallerSysupdate, boardPaths{Sysupdate: filepath.Join(dir, "none")}, "this image has no systemd-sysupdate"},
		{"rauc", pi, `update.installer "rauc": this daemon knows "sysupdate" and "tryboot"`},
	} {
		u.Installer = c.installer
		inst, err := newInstaller(u, trust, c.paths)
		got := fmt.Sprintf("%T", inst)
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, c.want) {
			t.Errorf("%s: %s; want %s", c.installer, got, c.want)
		}
		// Both wait for the slot to be marked good before they report an
		// update done.
		if _, trial := inst.(updater.Trial); err == nil && !trial {
			t.Errorf("%s: not an updater.Trial", c.installer)
		}
	}
}
