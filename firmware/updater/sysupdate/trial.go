package sysupdate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf16"
)

// BootCountVar is systemd-boot's LoaderBootCountPath EFI variable (vendor
// GUID of the Boot Loader Interface): set when the booted entry counts its
// tries, to that entry's file on the ESP after the boot loader counted
// this try down (EFI/Linux/twincap_1.4.0+2-1.efi). systemd-bless-boot
// renames that file once the boot is good (twincap_1.4.0.efi), so while it
// is still there the boot is on trial.
const BootCountVar = "/sys/firmware/efi/efivars/LoaderBootCountPath-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"

// OnTrial reports whether this boot is of an entry systemd-boot still
// counts tries of: the file BootCountVar names is still on the ESP
// (Config.ESP), not yet renamed by systemd-bless-boot. With no such
// variable (no boot counting, or not booted by systemd-boot) it is not.
// The agent uses it (updater.Trial) to report an update done only once it
// is marked good: a version whose daemon runs but fails its self-test, or
// hangs and is reset by the watchdog, then counts as rolled back.
func (i *Installer) OnTrial(context.Context) (bool, error) {
	name, err := ReadBootCountPath(i.cfg.bootCountVar())
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, err = os.Stat(filepath.Join(i.cfg.esp(), name))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("sysupdate: the booted entry: %w", err)
}

// ReadBootCountPath reads an efivarfs file holding a path (4 bytes of
// attributes, then UTF-16LE up to a NUL) and returns it relative to the
// ESP, with slashes: `\EFI\Linux\a+2-1.efi` is "EFI/Linux/a+2-1.efi".
func ReadBootCountPath(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	if len(b) < 4 || (len(b)-4)%2 != 0 {
		return "", fmt.Errorf("sysupdate: %s: %d bytes, not an EFI string variable", file, len(b))
	}
	u := make([]uint16, 0, (len(b)-4)/2)
	for k := 4; k+1 < len(b); k += 2 {
		c := binary.LittleEndian.Uint16(b[k:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	p := strings.TrimLeft(strings.ReplaceAll(string(utf16.Decode(u)), `\`, "/"), "/")
	if p == "" || strings.Contains("/"+p+"/", "/../") {
		return "", fmt.Errorf("sysupdate: %s: %q is not a path on the ESP", file, p)
	}
	return p, nil
}

func (c Config) bootCountVar() string {
	if c.BootCountVar != "" {
		return c.BootCountVar
	}
	return BootCountVar
}

func (c Config) esp() string {
	if c.ESP != "" {
		return c.ESP
	}
	return "/efi"
}
