package tryboot

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"twincap/firmware/update"
)

// pi is a Raspberry Pi 4 without hardware: the card's GPT labels (what
// sysupdate writes and udev links), autoboot.txt, and the firmware's
// choice at each reset, as its documentation describes it: with the
// tryboot flag set, [tryboot]'s partition, once (the flag is cleared as
// it is read); else [all]'s.
type pi struct {
	t      *testing.T
	dir    string
	labels map[int]string // partition number -> GPT label
	boot   map[int]string // boot partition -> the version whose files it holds
	flag   bool           // the tryboot flag, set by reboot '0 tryboot'
	// running is the version the box runs: the booted boot partition's.
	running string
	failAt  string // the fake sysupdate fails with this version
	inst    *Installer
	calls   []string
}

// The card of board/rpi4-64: autoboot, boot-a, boot-b, root-a, root-b, data.
func newPi(t *testing.T) *pi {
	t.Helper()
	p := &pi{t: t, dir: t.TempDir(),
		labels: map[int]string{1: "autoboot", 2: "twincap-boot_0.1.0", 3: "_empty", 4: "twincap_0.1.0", 5: "_empty", 6: "data"},
		boot:   map[int]string{2: "0.1.0"},
	}
	for _, d := range []string{"autoboot", "bootloader", "by-partlabel", "block"} {
		if err := os.MkdirAll(filepath.Join(p.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	board, err := os.ReadFile("../../../buildroot/board/rpi4-64/autoboot.txt")
	if err != nil {
		t.Fatal(err)
	}
	p.write("autoboot/autoboot.txt", board)
	p.udev()
	p.reset()
	p.inst, err = New(Config{
		Slots:    p,
		Autoboot: filepath.Join(p.dir, "autoboot/autoboot.txt"), Bootloader: filepath.Join(p.dir, "bootloader"),
		PartLabels: filepath.Join(p.dir, "by-partlabel"), SysBlock: filepath.Join(p.dir, "block"),
		BootLabel: "twincap-boot_@v", RootLabel: "twincap_@v", BootPayload: "boot.vfat",
	})
	if err != nil {
		t.Fatal(err)
	}
	p.inst.Sync = func() { p.calls = append(p.calls, "sync") }
	p.inst.Run = func(_ context.Context, name string, args ...string) ([]byte, error) {
		p.calls = append(p.calls, strings.Join(append([]string{name}, args...), " "))
		if name == "systemctl" && slices.Equal(args, []string{"reboot", "0 tryboot"}) {
			p.flag = true
			p.reset()
			return nil, nil
		}
		return []byte("unknown command"), errors.New("exit status 1")
	}
	return p
}

func (p *pi) write(name string, data []byte) {
	p.t.Helper()
	if err := os.WriteFile(filepath.Join(p.dir, name), data, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// udev makes /dev/disk/by-partlabel and /sys/class/block/*/partition as
// they are for p.labels.
func (p *pi) udev() {
	links := filepath.Join(p.dir, "by-partlabel")
	entries, _ := os.ReadDir(links)
	for _, e := range entries {
		_ = os.Remove(filepath.Join(links, e.Name()))
	}
	for n, l := range p.labels {
		dev := fmt.Sprintf("mmcblk0p%d", n)
		_ = os.MkdirAll(filepath.Join(p.dir, "block", dev), 0o755)
		p.write("block/"+dev+"/partition", fmt.Appendf(nil, "%d\n", n))
		if l != "_empty" { // two of them: udev's link would name one at random
			_ = os.Symlink("../../"+dev, filepath.Join(links, l))
		}
	}
}

// reset is the firmware starting the box: which boot partition, and
// what it tells Linux in the device tree.
func (p *pi) reset() {
	p.t.Helper()
	data, err := os.ReadFile(filepath.Join(p.dir, "autoboot/autoboot.txt"))
	if err != nil {
		p.t.Fatal(err)
	}
	ab, err := ParseAutoboot(data)
	if err != nil {
		p.t.Fatalf("the firmware cannot read autoboot.txt: %v", err)
	}
	part := ab.Default
	if p.flag {
		part = ab.Try
	}
	cell := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	tried := uint32(0)
	if p.flag {
		tried = 1
	}
	p.write("bootloader/partition", cell(uint32(part)))
	p.write("bootloader/tryboot", cell(tried))
	p.flag = false
	p.running = p.boot[part]
	if p.running == "" {
		p.t.Fatalf("the firmware started boot partition %d, which holds no version (labels %v)", part, p.labels)
	}
}

// Install is sysupdate with the board's two transfers: each writes the
// partition of its type that is _empty or holds a version other than the
// running one, and labels it.
func (p *pi) Install(_ context.Context, _ string, m update.Manifest) error {
	p.calls = append(p.calls, "sysupdate update "+m.Version)
	if m.Version == p.failAt {
		return errors.New("sysupdate: update " + m.Version + ": exit status 1: No available partition of a suitable size found.")
	}
	for _, slot := range []struct {
		parts  []int
		prefix string
	}{{[]int{2, 3}, "twincap-boot_"}, {[]int{4, 5}, "twincap_"}} {
		written := false
		for _, n := range slot.parts {
			if p.labels[n] == slot.prefix+p.running {
				continue // ProtectVersion=%A
			}
			p.labels[n] = slot.prefix + m.Version
			if slot.prefix == "twincap-boot_" {
				p.boot[n] = m.Version
			}
			written = true
			break
		}
		if !written {
			p.t.Fatalf("no slot for %s%s: %v", slot.prefix, m.Version, p.labels)
		}
	}
	p.udev()
	return nil
}

func (p *pi) autoboot() Autoboot {
	p.t.Helper()
	data, _ := os.ReadFile(filepath.Join(p.dir, "autoboot/autoboot.txt"))
	ab, err := ParseAutoboot(data)
	if err != nil {
		p.t.Fatal(err)
	}
	return ab
}

func (p *pi) bless() bool {
	p.t.Helper()
	changed, err := Bless(filepath.Join(p.dir, "autoboot/autoboot.txt"), filepath.Join(p.dir, "bootloader"))
	if err != nil {
		p.t.Fatalf("bless: %v", err)
	}
	return changed
}

func bundle(v string) update.Manifest {
	return update.Manifest{Version: v, Payloads: []update.Payload{{Name: "rootfs.img.gz"}, {Name: "boot.vfat"}}}
}

// An update writes the slot that is not running, is tried once, is made
// the default after boot-complete, and the next update goes to the other
// slot again.
func TestAnUpdateIsTriedThenBlessedAndTheNextGoesToTheOtherSlot(t *testing.T) {
	p := newPi(t)
	ctx := context.Background()
	if err := p.inst.Install(ctx, "b.tcb", bundle("0.2.0")); err != nil {
		t.Fatal(err)
	}
	if got := p.autoboot(); got != (Autoboot{Default: 2, Try: 3}) {
		t.Fatalf("after the install autoboot.txt says %+v", got)
	}
	if p.labels[3] != "twincap-boot_0.2.0" || p.labels[5] != "twincap_0.2.0" || p.labels[2] != "twincap-boot_0.1.0" {
		t.Fatalf("labels %v", p.labels)
	}
	if err := p.inst.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	if p.running != "0.2.0" {
		t.Fatalf("after the tryboot reboot the box runs %s", p.running)
	}
	// Before boot-complete the slot is on trial: no install over the old one.
	if err := p.inst.Install(ctx, "b.tcb", bundle("0.3.0")); !errors.Is(err, ErrOnTrial) {
		t.Fatalf("install while on trial: %v", err)
	}
	if on, err := p.inst.OnTrial(ctx); !on || err != nil {
		t.Fatalf("OnTrial before bless: %v, %v", on, err)
	}
	if !p.bless() {
		t.Fatal("bless changed nothing on a tried slot")
	}
	if got := p.autoboot(); got != (Autoboot{Default: 3, Try: 2}) {
		t.Fatalf("after bless autoboot.txt says %+v", got)
	}
	// The firmware's tryboot cell stays 1 for this boot; blessed, the
	// slot is no longer on trial all the same.
	if on, err := p.inst.OnTrial(ctx); on || err != nil {
		t.Fatalf("OnTrial after bless: %v, %v", on, err)
	}
	p.reset() // a power cut, a watchdog reset: the blessed slot stays
	if p.running != "0.2.0" {
		t.Fatalf("a reset after bless runs %s", p.running)
	}
	if p.bless() {
		t.Error("bless of a slot already the default changed autoboot.txt")
	}
	// 0.3.0 goes over 0.1.0's slot, never over the running 0.2.0.
	if err := p.inst.Install(ctx, "b.tcb", bundle("0.3.0")); err != nil {
		t.Fatal(err)
	}
	if p.labels[2] != "twincap-boot_0.3.0" || p.labels[4] != "twincap_0.3.0" || p.labels[5] != "twincap_0.2.0" {
		t.Fatalf("labels %v", p.labels)
	}
	if got := p.autoboot(); got != (Autoboot{Default: 3, Try: 2}) {
		t.Fatalf("after the second install autoboot.txt says %+v", got)
	}
	if err := p.inst.Reboot(ctx); err != nil || p.running != "0.3.0" {
		t.Fatalf("reboot: %v, running %s", err, p.running)
	}
	// The partitions are flushed before autoboot.txt names them, and it
	// before the reboot.
	want := []string{"sysupdate update 0.2.0", "sync", "sync", "systemctl reboot 0 tryboot"}
	if !slices.Equal(p.calls[:4], want) {
		t.Errorf("calls %q, want %q first", p.calls, want)
	}
}

// A tried slot that never reaches boot-complete (its daemon never ready,
// the self-test failing and rebooting, the daemon hung and the hardware
// watchdog resetting the board, a power cut) is never the default: the
// next reset, whatever its cause, starts the old slot.
func TestASlotNeverBlessedIsLeftAtTheNextReset(t *testing.T) {
	p := newPi(t)
	ctx := context.Background()
	if err := p.inst.Install(ctx, "b.tcb", bundle("0.2.0")); err != nil {
		t.Fatal(err)
	}
	if err := p.inst.Reboot(ctx); err != nil || p.running != "0.2.0" {
		t.Fatalf("reboot: %v, running %s", err, p.running)
	}
	p.reset() // no bless: the watchdog's reset
	if p.running != "0.1.0" {
		t.Fatalf("a reset of the unblessed slot runs %s, want 0.1.0", p.running)
	}
	if p.bless() {
		t.Error("bless on the old slot changed autoboot.txt")
	}
	if got := p.autoboot(); got != (Autoboot{Default: 2, Try: 3}) {
		t.Fatalf("after the fallback autoboot.txt says %+v", got)
	}
	p.reset()
	if p.running != "0.1.0" {
		t.Fatalf("a second reset runs %s", p.running)
	}
	// The next version goes over the slot that failed, not the good one.
	if err := p.inst.Install(ctx, "b.tcb", bundle("0.3.0")); err != nil {
		t.Fatal(err)
	}
	if p.labels[3] != "twincap-boot_0.3.0" || p.labels[2] != "twincap-boot_0.1.0" || p.labels[4] != "twincap_0.1.0" {
		t.Fatalf("labels %v", p.labels)
	}
}

// Booted from the other partition without the tryboot flag (a technician's
// `reboot 3`) and not blessed yet: the running slot is not the one the
// box falls back to, so nothing is installed.
func TestNoInstallFromASlotThatIsNotTheDefault(t *testing.T) {
	p := newPi(t)
	p.boot[3] = "0.2.0"
	p.write("autoboot/autoboot.txt", Autoboot{Default: 3, Try: 2}.Marshal())
	p.reset()
	p.write("autoboot/autoboot.txt", Autoboot{Default: 2, Try: 3}.Marshal())
	err := p.inst.Install(context.Background(), "b.tcb", bundle("0.3.0"))
	if !errors.Is(err, ErrOnTrial) || slices.Contains(p.calls, "sysupdate update 0.3.0") {
		t.Fatalf("install from partition 3 with default 2: %v, calls %q", err, p.calls)
	}
	// Nor is such a slot made the default: only a tried one was gated by
	// the self-test on trial.
	if p.bless() {
		t.Error("bless made a slot started without the tryboot flag the default")
	}
}

func TestABundleWithoutABootPartitionIsRefusedFirst(t *testing.T) {
	p := newPi(t)
	m := update.Manifest{Version: "0.2.0", Payloads: []update.Payload{{Name: "rootfs.img.gz"}, {Name: "twincap.efi"}}}
	err := p.inst.Install(context.Background(), "b.tcb", m)
	if !errors.Is(err, ErrNoBootSlot) || len(p.calls) != 0 {
		t.Fatalf("%v, calls %q", err, p.calls)
	}
}

func TestAFailedWriteLeavesAutobootAlone(t *testing.T) {
	p := newPi(t)
	p.failAt = "0.2.0"
	before, _ := os.ReadFile(filepath.Join(p.dir, "autoboot/autoboot.txt"))
	err := p.inst.Install(context.Background(), "b.tcb", bundle("0.2.0"))
	if err == nil || !strings.Contains(err.Error(), "No available partition") {
		t.Fatalf("install: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(p.dir, "autoboot/autoboot.txt"))
	if string(before) != string(after) {
		t.Error("a failed install rewrote autoboot.txt")
	}
}

// The transfers must have labelled the new slot; a boot partition
// labelled on the running one (a broken definition) is not tried.
func TestInstallChecksWhatSysupdateLabelled(t *testing.T) {
	p := newPi(t)
	p.inst.cfg.Slots = slotsFunc(func(m update.Manifest) {
		p.labels[2] = "twincap-boot_" + m.Version // over the running slot
		p.labels[5] = "twincap_" + m.Version
		p.udev()
	})
	err := p.inst.Install(context.Background(), "b.tcb", bundle("0.2.0"))
	if err == nil || !strings.Contains(err.Error(), "running boot partition 2") {
		t.Fatalf("boot label on the running partition: %v", err)
	}
	p.inst.cfg.Slots = slotsFunc(func(update.Manifest) {})
	err = p.inst.Install(context.Background(), "b.tcb", bundle("0.4.0"))
	if err == nil || !strings.Contains(err.Error(), "no partition labelled twincap-boot_0.4.0") {
		t.Fatalf("nothing labelled: %v", err)
	}
	if got := p.autoboot(); got != (Autoboot{Default: 2, Try: 3}) {
		t.Errorf("autoboot.txt %+v", got)
	}
}

type slotsFunc func(update.Manifest)

func (f slotsFunc) Install(_ context.Context, _ string, m update.Manifest) error { f(m); return nil }

func TestReboot(t *testing.T) {
	p := newPi(t)
	// Nothing installed: the board's [tryboot] is partition 3, not running.
	// After a bless on 3, [tryboot] is 2; a reboot from 3 then tries 2.
	p.write("autoboot/autoboot.txt", Autoboot{Default: 2, Try: 2}.Marshal())
	if err := p.inst.Reboot(context.Background()); err == nil || !strings.Contains(err.Error(), "nothing installed to try") {
		t.Fatalf("reboot with [tryboot] the running partition: %v", err)
	}
	p.write("autoboot/autoboot.txt", Autoboot{Default: 2, Try: 3}.Marshal())
	// systemctl killed by the shutdown it asked for: the reboot began.
	for _, sig := range []string{"TERM", "KILL"} {
		err := exec.Command("sh", "-c", "kill -"+sig+" $$").Run()
		p.inst.Run = func(context.Context, string, ...string) ([]byte, error) { return nil, err }
		if err := p.inst.Reboot(context.Background()); err != nil {
			t.Errorf("systemctl killed by SIG%s: %v", sig, err)
		}
	}
	p.inst.Run = func(context.Context, string, ...string) ([]byte, error) {
		return []byte("Failed to reboot: Access denied"), errors.New("exit status 1")
	}
	if err := p.inst.Reboot(context.Background()); err == nil || !strings.Contains(err.Error(), "Access denied") {
		t.Errorf("a failed reboot: %v", err)
	}
}

func TestParseAutoboot(t *testing.T) {
	board, err := os.ReadFile("../../../buildroot/board/rpi4-64/autoboot.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, text string
		want       Autoboot
		err        string
	}{
		{"the board's factory file", string(board), Autoboot{Default: 2, Try: 3}, ""},
		{"written by Marshal", string(Autoboot{Default: 3, Try: 2}.Marshal()), Autoboot{Default: 3, Try: 2}, ""},
		{"no tryboot_a_b", "[all]\nboot_partition=2\n[tryboot]\nboot_partition=3\n", Autoboot{}, "no tryboot_a_b=1"},
		{"tryboot_a_b only under [tryboot]", "[all]\nboot_partition=2\n[tryboot]\ntryboot_a_b=1\nboot_partition=3\n", Autoboot{}, "no tryboot_a_b=1"},
		{"no [tryboot]", "[all]\ntryboot_a_b=1\nboot_partition=2\n", Autoboot{}, "both [all] and [tryboot]"},
		{"another section", "[pi4]\nboot_partition=2\n", Autoboot{}, "section [pi4]"},
		{"not a number", "[all]\ntryboot_a_b=1\nboot_partition=two\n", Autoboot{}, `boot_partition "two"`},
		{"partition 0", "[all]\ntryboot_a_b=1\nboot_partition=0\n", Autoboot{}, `boot_partition "0"`},
		{"before a section", "boot_partition=2\n", Autoboot{}, "want key=value under"},
		{"another setting", "[all]\ntryboot_a_b=1\nboot_partition=2\nfoo=1\n", Autoboot{}, `unknown setting "foo"`},
	} {
		got, err := ParseAutoboot([]byte(c.text))
		if c.err == "" && (err != nil || got != c.want) {
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
		}
		if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: %v; want an error with %q", c.name, err, c.err)
		}
	}
}

func TestReadBoot(t *testing.T) {
	dir := t.TempDir()
	put := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put("partition", []byte{0, 0, 0, 3})
	put("tryboot", []byte{0, 0, 0, 1})
	if b, err := ReadBoot(dir); err != nil || b != (Boot{Partition: 3, Tryboot: true}) {
		t.Fatalf("%+v, %v", b, err)
	}
	put("tryboot", []byte{0, 0, 0, 0})
	if b, err := ReadBoot(dir); err != nil || b != (Boot{Partition: 3}) {
		t.Fatalf("%+v, %v", b, err)
	}
	put("partition", []byte{0, 0, 0, 0}) // a boot from partition 0 is no slot
	if _, err := ReadBoot(dir); err == nil {
		t.Error("partition 0 accepted")
	}
	put("partition", []byte("3\n"))
	if _, err := ReadBoot(dir); err == nil || !strings.Contains(err.Error(), "one 32-bit cell") {
		t.Errorf("text in a cell: %v", err)
	}
	if _, err := ReadBoot(t.TempDir()); err == nil {
		t.Error("no device tree accepted (not a Pi)")
	}
}

func TestNewChecksConfig(t *testing.T) {
	ok := Config{Slots: slotsFunc(func(update.Manifest) {}), Autoboot: "a", Bootloader: "b", PartLabels: "c", SysBlock: "d",
		BootLabel: "twincap-boot_@v", RootLabel: "twincap_@v", BootPayload: "boot.vfat"}
	if _, err := New(ok); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.Slots = nil },
		func(c *Config) { c.Autoboot = "" },
		func(c *Config) { c.BootLabel = "twincap-boot" },
		func(c *Config) { c.BootPayload = "" },
	} {
		c := ok
		bad(&c)
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}
