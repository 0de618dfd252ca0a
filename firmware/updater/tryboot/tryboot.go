package tryboot

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"twincap/firmware/update"
	"twincap/firmware/updater/sysupdate"
	"twincap/internal/durable"
)

// Sentinel errors a caller acts on.
var (
	// ErrOnTrial: this boot is a tried slot not marked good yet; nothing
	// is installed over the slot the box would fall back to.
	ErrOnTrial = errors.New("tryboot: this boot is on trial (not marked good yet)")
	// ErrNoBootSlot: the bundle has no boot partition payload.
	ErrNoBootSlot = errors.New("tryboot: the bundle has no boot partition")
)

// Autoboot is what autoboot.txt says: the boot partition that starts by
// default, and the one a reboot with the tryboot flag starts once.
type Autoboot struct {
	Default, Try int
}

// ParseAutoboot reads an autoboot.txt: [all] must have tryboot_a_b=1 (the
// firmware then switches partitions, not config files) and
// boot_partition, [tryboot] its own boot_partition. Other sections, and
// other settings, are refused: the file is this package's to rewrite.
func ParseAutoboot(data []byte) (Autoboot, error) {
	var a Autoboot
	section, ab := "", false
	s := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			if section != "all" && section != "tryboot" {
				return Autoboot{}, fmt.Errorf("tryboot: autoboot.txt line %d: section [%s]: want [all] or [tryboot]", n, section)
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			return Autoboot{}, fmt.Errorf("tryboot: autoboot.txt line %d: %q: want key=value under [all] or [tryboot]", n, line)
		}
		switch key {
		case "tryboot_a_b":
			ab = section == "all" && value == "1"
		case "boot_partition":
			p, err := strconv.Atoi(value)
			if err != nil || p < 1 || p > 127 {
				return Autoboot{}, fmt.Errorf("tryboot: autoboot.txt line %d: boot_partition %q: want a partition number", n, value)
			}
			if section == "all" {
				a.Default = p
			} else {
				a.Try = p
			}
		default:
			return Autoboot{}, fmt.Errorf("tryboot: autoboot.txt line %d: unknown setting %q", n, key)
		}
	}
	switch {
	case !ab:
		return Autoboot{}, errors.New("tryboot: autoboot.txt: no tryboot_a_b=1 under [all]")
	case a.Default == 0 || a.Try == 0:
		return Autoboot{}, errors.New("tryboot: autoboot.txt: want boot_partition under both [all] and [tryboot]")
	}
	return a, nil
}

// Marshal is the autoboot.txt that says a.
func (a Autoboot) Marshal() []byte {
	return fmt.Appendf(nil, `# Written by the twincap update agent (package tryboot): the boot
# partition that starts by default, and under [tryboot] the one a reboot
# with the tryboot flag (reboot '0 tryboot') starts once.
[all]
tryboot_a_b=1
boot_partition=%d
[tryboot]
boot_partition=%d
`, a.Default, a.Try)
}

// Boot is what the firmware says of this boot, in the device tree's
// chosen/bootloader node.
type Boot struct {
	// Partition is the boot partition this boot started from.
	Partition int
	// Tryboot: the tryboot flag was set for this boot.
	Tryboot bool
}

// ReadBoot reads the firmware's device-tree properties in dir
// (/proc/device-tree/chosen/bootloader): partition and tryboot, each one
// big-endian 32-bit cell.
func ReadBoot(dir string) (Boot, error) {
	cell := func(name string) (uint32, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return 0, fmt.Errorf("tryboot: the firmware's %s: %w", name, err)
		}
		if len(b) != 4 {
			return 0, fmt.Errorf("tryboot: the firmware's %s: %d bytes, want one 32-bit cell", name, len(b))
		}
		return binary.BigEndian.Uint32(b), nil
	}
	p, err := cell("partition")
	if err != nil {
		return Boot{}, err
	}
	if p == 0 || p > 127 {
		return Boot{}, fmt.Errorf("tryboot: the firmware booted partition %d: not a boot slot", p)
	}
	t, err := cell("tryboot")
	if err != nil {
		return Boot{}, err
	}
	return Boot{Partition: int(p), Tryboot: t != 0}, nil
}

// The Pi's names, shared by the daemon (firmware/cmd/twincap-box) and the
// board's test against its transfer definitions.
const (
	// BootLabel and RootLabel are the GPT labels of a version's slot
	// (60-boot.conf's and 40-root.conf's MatchPattern= of [Target]).
	BootLabel = "twincap-boot_@v"
	RootLabel = "twincap_@v"
	// BootPayload is the bundle's boot partition image.
	BootPayload = "boot.vfat"
)

// Names maps each payload of a Pi bundle to the file name the transfers'
// [Source] MatchPattern= wants (package sysupdate's Config.Names).
var Names = map[string]string{
	"rootfs.img":    "twincap_@v.root.img",
	"rootfs.img.gz": "twincap_@v.root.img.gz", // gzipped; systemd-import inflates it
	BootPayload:     "twincap_@v.boot.vfat",
}

// Slots writes a bundle to the slots that are not running: the shared
// systemd-sysupdate installer (package sysupdate) with the board's
// transfer definitions.
type Slots interface {
	Install(ctx context.Context, path string, m update.Manifest) error
}

// Config says where the board keeps each part of its A/B switch.
type Config struct {
	// Slots writes the other slot's root and boot partitions.
	Slots Slots
	// Autoboot is autoboot.txt on the first partition, mounted
	// (/boot/autoboot/autoboot.txt).
	Autoboot string
	// Bootloader is the firmware's device-tree node
	// (/proc/device-tree/chosen/bootloader).
	Bootloader string
	// PartLabels is udev's folder of links by GPT label
	// (/dev/disk/by-partlabel); SysBlock is /sys/class/block, where a
	// partition's number is.
	PartLabels, SysBlock string
	// BootLabel and RootLabel are the GPT labels sysupdate gives a
	// version's boot and root partitions, "@v" for the version (the
	// transfers' MatchPattern=: "twincap-boot_@v", "twincap_@v").
	BootLabel, RootLabel string
	// BootPayload is the bundle's boot partition image ("boot.vfat"); a
	// bundle without it is refused before anything is written.
	BootPayload string
}

// Installer switches slots with the Pi firmware's tryboot.
type Installer struct {
	cfg Config
	// Run runs a command and returns its combined output; tests replace
	// it.
	Run func(ctx context.Context, name string, args ...string) ([]byte, error)
	// Sync flushes every file system (sysupdate's partition writes, the
	// new autoboot.txt) before the reboot; tests replace it.
	Sync func()
}

// New checks cfg.
func New(cfg Config) (*Installer, error) {
	switch {
	case cfg.Slots == nil:
		return nil, errors.New("tryboot: no slot writer")
	case cfg.Autoboot == "" || cfg.Bootloader == "" || cfg.PartLabels == "" || cfg.SysBlock == "":
		return nil, errors.New("tryboot: Autoboot, Bootloader, PartLabels and SysBlock are required")
	case !strings.Contains(cfg.BootLabel, "@v") || !strings.Contains(cfg.RootLabel, "@v"):
		return nil, fmt.Errorf("tryboot: labels %q, %q: want each with @v", cfg.BootLabel, cfg.RootLabel)
	case cfg.BootPayload == "":
		return nil, errors.New("tryboot: no boot payload name")
	}
	return &Installer{cfg: cfg, Run: run, Sync: syscall.Sync}, nil
}

func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// Install writes the bundle at path to the slot that is not running and
// makes that slot's boot partition the one the next tryboot reboot
// starts. The running slot stays the default.
func (i *Installer) Install(ctx context.Context, path string, m update.Manifest) error {
	boot, ab, err := i.running()
	if err != nil {
		return err
	}
	if boot.Partition != ab.Default {
		// Bless has not made this slot the default: installing over the
		// other slot would leave nothing good to fall back to.
		return fmt.Errorf("%w: booted from partition %d, autoboot.txt's default is %d", ErrOnTrial, boot.Partition, ab.Default)
	}
	if !slices.ContainsFunc(m.Payloads, func(p update.Payload) bool { return p.Name == i.cfg.BootPayload }) {
		return fmt.Errorf("%w (%s): a bundle for another kind of board?", ErrNoBootSlot, i.cfg.BootPayload)
	}
	if err := i.cfg.Slots.Install(ctx, path, m); err != nil {
		return err
	}
	next, err := i.partition(i.label(i.cfg.BootLabel, m.Version))
	if err != nil {
		return fmt.Errorf("tryboot: after the install of %s: %w", m.Version, err)
	}
	if _, err := i.partition(i.label(i.cfg.RootLabel, m.Version)); err != nil {
		return fmt.Errorf("tryboot: after the install of %s: %w", m.Version, err)
	}
	if next == boot.Partition {
		return fmt.Errorf("tryboot: %s landed on the running boot partition %d", m.Version, next)
	}
	i.Sync() // the slot's partitions are on the card before autoboot.txt names them
	if err := i.write(Autoboot{Default: boot.Partition, Try: next}); err != nil {
		return err
	}
	i.Sync()
	return nil
}

// Reboot restarts the box with the tryboot flag, into autoboot.txt's
// [tryboot] partition, once.
func (i *Installer) Reboot(ctx context.Context) error {
	boot, ab, err := i.running()
	if err != nil {
		return err
	}
	if ab.Try == boot.Partition {
		return fmt.Errorf("tryboot: autoboot.txt's [tryboot] partition %d is the running one: nothing installed to try", ab.Try)
	}
	out, err := i.Run(ctx, "systemctl", "reboot", "0 tryboot")
	if err != nil && sysupdate.GoingDown(ctx, err) {
		return nil // the reboot began and took the daemon down with it
	}
	if err != nil {
		return fmt.Errorf("tryboot: systemctl reboot '0 tryboot': %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Bless makes the running slot the default if the firmware started it
// with the tryboot flag: it runs once boot-complete.target is reached, so
// a tried slot becomes the one every later reset starts, and the old slot
// the one the next update writes and tries. A slot started without the
// flag (a technician's `reboot 3`) is never made the default: only a
// tried one passed the self-test that gates boot-complete.target on
// trial. It reports whether it changed autoboot.txt.
func Bless(autoboot, bootloader string) (bool, error) {
	boot, err := ReadBoot(bootloader)
	if err != nil {
		return false, err
	}
	ab, err := readAutoboot(autoboot)
	if err != nil {
		return false, err
	}
	if boot.Partition == ab.Default || !boot.Tryboot {
		return false, nil
	}
	if err := writeAutoboot(autoboot, Autoboot{Default: boot.Partition, Try: ab.Default}); err != nil {
		return false, err
	}
	syscall.Sync()
	return true, nil
}

// OnTrial reports whether the running slot is not autoboot.txt's default
// (updater.Trial): a tried slot before Bless, which a reset leaves. The
// firmware's tryboot cell stays 1 for the whole boot, Bless or not, so
// autoboot.txt is what tells.
func (i *Installer) OnTrial(context.Context) (bool, error) {
	boot, ab, err := i.running()
	if err != nil {
		return false, err
	}
	return boot.Partition != ab.Default, nil
}

func (i *Installer) running() (Boot, Autoboot, error) {
	boot, err := ReadBoot(i.cfg.Bootloader)
	if err != nil {
		return Boot{}, Autoboot{}, err
	}
	ab, err := readAutoboot(i.cfg.Autoboot)
	return boot, ab, err
}

func (i *Installer) label(pattern, version string) string {
	return strings.ReplaceAll(pattern, "@v", version)
}

// partition finds the number of the partition labelled label:
// /dev/disk/by-partlabel/<label> links to the block device, whose
// /sys/class/block/<dev>/partition holds the number.
func (i *Installer) partition(label string) (int, error) {
	dev, err := os.Readlink(filepath.Join(i.cfg.PartLabels, label))
	if err != nil {
		return 0, fmt.Errorf("no partition labelled %s: %w", label, err)
	}
	b, err := os.ReadFile(filepath.Join(i.cfg.SysBlock, filepath.Base(dev), "partition"))
	if err != nil {
		return 0, fmt.Errorf("partition %s (%s): %w", label, filepath.Base(dev), err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("partition %s: number %q: %w", label, b, err)
	}
	return n, nil
}

func (i *Installer) write(a Autoboot) error { return writeAutoboot(i.cfg.Autoboot, a) }

func readAutoboot(path string) (Autoboot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Autoboot{}, fmt.Errorf("tryboot: %w", err)
	}
	return ParseAutoboot(data)
}

// writeAutoboot replaces autoboot.txt whole (a temporary file, fsync,
// rename, fsync of the folder): a power cut leaves the old file or the
// new one, which the firmware reads alike.
func writeAutoboot(path string, a Autoboot) error {
	if err := durable.WriteFile(path, a.Marshal(), 0o644); err != nil {
		return fmt.Errorf("tryboot: write autoboot.txt: %w", err)
	}
	return nil
}
