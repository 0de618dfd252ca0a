package buildroot

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"twincap/firmware/config"
	"twincap/firmware/update"
	"twincap/firmware/updater/tryboot"
)

const defconfig = "configs/twincap_rpi4_64_defconfig"

// copyTree copies src into dst as the rootfs overlays are laid: files
// of a later tree replace those of an earlier one.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	out, err := exec.Command("cp", "-a", src+"/.", dst+"/").CombinedOutput()
	if err != nil {
		t.Fatalf("cp %s: %v: %s", src, err, out)
	}
}

// defconfigValue is a string option of the board's defconfig.
func defconfigValue(t *testing.T, key string) string {
	t.Helper()
	data, err := os.ReadFile(defconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// overlays are the defconfig's BR2_ROOTFS_OVERLAY, in its order, as
// paths from this folder.
func overlays(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, o := range strings.Fields(defconfigValue(t, "BR2_ROOTFS_OVERLAY")) {
		p, ok := strings.CutPrefix(o, "$(BR2_EXTERNAL_TWINCAP_PATH)/")
		if !ok {
			t.Fatalf("overlay %s is not in this tree or the repository", o)
		}
		out = append(out, filepath.Clean(p))
	}
	return out
}

// layTarget is a target folder as buildroot has it before the post-build
// scripts: its os-release, then the defconfig's overlays in order.
func layTarget(t *testing.T) string {
	t.Helper()
	target := t.TempDir()
	if err := os.MkdirAll(filepath.Join(target, "usr/lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	osrel := "NAME=Buildroot\nVERSION=2026.08\nID=buildroot\nVERSION_ID=2026.08\nPRETTY_NAME=\"Buildroot 2026.08\"\n"
	if err := os.WriteFile(filepath.Join(target, "usr/lib/os-release"), []byte(osrel), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, o := range overlays(t) {
		copyTree(t, o, target)
	}
	return target
}

func postBuild(t *testing.T, target string, env ...string) {
	t.Helper()
	cmd := exec.Command("./board/rpi4-64/post-build.sh", target)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("post-build.sh: %v: %s", err, out)
	}
}

func TestRPi4PostBuildMakesAConfigTheBoxLoads(t *testing.T) {
	target := layTarget(t)
	key, err := update.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := update.MarshalPublicKey(&key.PublicKey)
	keys := filepath.Join(t.TempDir(), "release.pub")
	if err := os.WriteFile(keys, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	postBuild(t, target, "TWINCAP_PREFERRED=10.1.0.1:0", "TWINCAP_REDUNDANT=10.1.0.2:0", "TWINCAP_VERSION=1.4.0",
		"TWINCAP_UPDATE_SOURCE=https://updates.example/twincap/rpi4-64/", "TWINCAP_UPDATE_KEYS="+keys)
	// post-build runs again on each make: nothing is added twice.
	postBuild(t, target, "TWINCAP_PREFERRED=10.1.0.1:0", "TWINCAP_REDUNDANT=10.1.0.2:0", "TWINCAP_VERSION=1.4.0",
		"TWINCAP_UPDATE_SOURCE=https://updates.example/twincap/rpi4-64/", "TWINCAP_UPDATE_KEYS="+keys)

	c, err := config.Load(filepath.Join(target, "etc/twincap/box.toml"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("the board's box.toml does not load: %v", err)
	}
	if c.Preferred.Addr != "10.1.0.1:0" || c.Camera != "/dev/video0" || c.Update.Board != "rpi4-64" ||
		c.Update.Source != "https://updates.example/twincap/rpi4-64/" || c.Watchdog.Device != "/dev/watchdog" {
		t.Errorf("config %+v", c)
	}
	if c.Update.Installer != config.InstallerTryboot {
		t.Errorf("update.installer %q: the Pi switches slots with tryboot", c.Update.Installer)
	}
	// The key the box trusts is the one given.
	trust, err := update.LoadTrust(filepath.Join(target, "etc/twincap/update-keys.pem"))
	if err != nil || len(trust.IDs()) != 1 {
		t.Fatalf("installed keys: %v", err)
	}
	// The version sysupdate (ProtectVersion=%A) and the daemon read, once.
	osrel, _ := os.ReadFile(filepath.Join(target, "usr/lib/os-release"))
	if n := strings.Count(string(osrel), "IMAGE_VERSION="); n != 1 || !strings.Contains(string(osrel), "IMAGE_VERSION=1.4.0\n") ||
		!strings.Contains(string(osrel), "IMAGE_ID=twincap\n") {
		t.Errorf("os-release:\n%s", osrel)
	}
	// The unit is image/rootfs's, not a copy, and it is enabled.
	shared, _ := os.ReadFile("../image/rootfs/etc/systemd/system/twincap-box.service")
	got, _ := os.ReadFile(filepath.Join(target, "etc/systemd/system/twincap-box.service"))
	if len(shared) == 0 || string(shared) != string(got) {
		t.Error("the board's unit differs from image/rootfs's")
	}
	for _, l := range []string{
		"multi-user.target.wants/twincap-box.service",
		"multi-user.target.wants/twincap-selftest.service",
		"boot-complete.target.requires/twincap-selftest.service",
		"multi-user.target.wants/twincap-tryboot-bless.service",
		"local-fs.target.wants/var-lib-twincap.mount",
		"local-fs.target.wants/boot-autoboot.mount",
	} {
		if _, err := os.Stat(filepath.Join(target, "etc/systemd/system", l)); err != nil {
			t.Errorf("%s not enabled: %v", l, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(target, "boot/autoboot")); err != nil || !fi.IsDir() {
		t.Errorf("no mount point for the autoboot partition: %v", err)
	}
	// The board's hardware, not QEMU's.
	for _, f := range []string{"etc/modules-load.d/twincap.conf", "etc/modprobe.d/twincap.conf"} {
		data, _ := os.ReadFile(filepath.Join(target, f))
		var active []string
		for _, l := range strings.Split(string(data), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				active = append(active, l)
			}
		}
		if strings.Contains(strings.Join(active, " "), "vivid") {
			t.Errorf("%s loads QEMU's modules: %v", f, active)
		}
		if f == "etc/modules-load.d/twincap.conf" && !strings.Contains(strings.Join(active, " "), "bcm2835_wdt") {
			t.Errorf("%s: no SoC watchdog: %v", f, active)
		}
	}
}

func TestRPi4PostBuildRefusesAnUpdateSourceWithoutKeys(t *testing.T) {
	target := layTarget(t)
	cmd := exec.Command("./board/rpi4-64/post-build.sh", target)
	cmd.Env = append(os.Environ(), "TWINCAP_UPDATE_SOURCE=https://updates.example/", "TWINCAP_UPDATE_KEYS=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "TWINCAP_UPDATE_KEYS is not a file") {
		t.Fatalf("post-build.sh with a source and no keys: %v: %s", err, out)
	}
}

func TestRPi4PostBuildRefusesABadVersion(t *testing.T) {
	target := layTarget(t)
	cmd := exec.Command("./board/rpi4-64/post-build.sh", target)
	cmd.Env = append(os.Environ(), "TWINCAP_VERSION=1.4-rc1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "TWINCAP_VERSION 1.4-rc1: want dotted numbers") {
		t.Fatalf("post-build.sh with version 1.4-rc1: %v: %s", err, out)
	}
}

// The shared trees (image/rootfs: the daemon's unit and config;
// image/ab/rootfs: what every A/B board needs to take updates and be
// marked good) are laid as overlays, from one place: none of their files
// has a copy in this tree, and the board replaces only what its hardware
// changes.
func TestSharedFilesAreLaidNotCopied(t *testing.T) {
	ov := overlays(t)
	want := []string{"../image/rootfs", "../image/ab/rootfs", "board/rpi4-64/rootfs-overlay"}
	if !slices.Equal(ov, want) {
		t.Fatalf("BR2_ROOTFS_OVERLAY %q, want %q (the shared trees first, then the board's)", ov, want)
	}
	// Where the Pi's hardware differs from QEMU's (its drivers).
	replaced := []string{"etc/modules-load.d/twincap.conf", "etc/modprobe.d/twincap.conf"}
	shared := map[string]string{} // content hash -> shared file
	sharedPaths := map[string]string{}
	for _, tree := range []string{"../image/rootfs", "../image/ab/rootfs", "../image/ab/rootfs-uefi"} {
		walkFiles(t, tree, func(rel string, data []byte) {
			shared[fmt.Sprintf("%x", sha256.Sum256(data))] = filepath.Join(tree, rel)
			sharedPaths[rel] = filepath.Join(tree, rel)
		})
	}
	walkFiles(t, ".", func(rel string, data []byte) {
		if from, ok := shared[fmt.Sprintf("%x", sha256.Sum256(data))]; ok && len(bytes.TrimSpace(data)) > 0 {
			t.Errorf("buildroot/%s is a copy of %s: lay the shared tree instead", rel, from)
		}
		inOverlay, ok := strings.CutPrefix(rel, "board/rpi4-64/rootfs-overlay/")
		if !ok {
			return
		}
		if from, ok := sharedPaths[inOverlay]; ok && !slices.Contains(replaced, inOverlay) {
			t.Errorf("the board's overlay replaces %s (%s); only the hardware's files %v may differ", inOverlay, from, replaced)
		}
	})
	// Laid, the target holds the shared A/B files byte for byte, and no
	// UEFI part: sysupdate would look for a UKI on an ESP the Pi has not.
	target := layTarget(t)
	walkFiles(t, "../image/ab/rootfs", func(rel string, data []byte) {
		got, err := os.ReadFile(filepath.Join(target, rel))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("the laid target's %s is not image/ab/rootfs's: %v", rel, err)
		}
	})
	defs, _ := filepath.Glob(filepath.Join(target, "usr/lib/sysupdate.d/*"))
	var names []string
	for _, d := range defs {
		names = append(names, filepath.Base(d))
	}
	// *.conf only: systemd 257 and later ignore *.conf where a *.transfer is.
	if !slices.Equal(names, []string{"40-root.conf", "60-boot.conf"}) {
		t.Errorf("the Pi's transfer definitions: %q, want 40-root.conf (shared) and 60-boot.conf", names)
	}
}

func walkFiles(t *testing.T, root string, f func(rel string, data []byte)) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		f(filepath.ToSlash(rel), data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// transfer is the part of a sysupdate.d definition the card must match.
type transfer struct {
	file                               string
	sourcePattern, targetType          string
	targetPattern, targetPartitionType string
}

func readTransfers(t *testing.T, dir string) []transfer {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.conf"))
	var out []transfer
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tr := transfer{file: filepath.Base(f)}
		section := ""
		for _, l := range strings.Split(string(data), "\n") {
			l = strings.TrimSpace(l)
			if strings.HasPrefix(l, "[") {
				section = l
				continue
			}
			k, v, ok := strings.Cut(l, "=")
			if !ok || strings.HasPrefix(l, "#") {
				continue
			}
			switch section + k {
			case "[Source]MatchPattern":
				tr.sourcePattern = v
			case "[Target]Type":
				tr.targetType = v
			case "[Target]MatchPattern":
				tr.targetPattern = v
			case "[Target]MatchPartitionType":
				tr.targetPartitionType = v
			}
		}
		out = append(out, tr)
	}
	return out
}

// gptPartition is one entry of a GPT.
type gptPartition struct {
	number      int
	typ, label  string
	first, last uint64 // LBAs
}

func guid(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]), b[8:10], b[10:16])
}

func readGPT(t *testing.T, path string) []gptPartition {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hdr := make([]byte, 512)
	if _, err := f.ReadAt(hdr, 512); err != nil || string(hdr[:8]) != "EFI PART" {
		t.Fatalf("%s: no GPT header: %v", path, err)
	}
	at, n, size := binary.LittleEndian.Uint64(hdr[72:]), binary.LittleEndian.Uint32(hdr[80:]), binary.LittleEndian.Uint32(hdr[84:])
	entries := make([]byte, int(n)*int(size))
	if _, err := f.ReadAt(entries, int64(at)*512); err != nil {
		t.Fatal(err)
	}
	var out []gptPartition
	for i := range int(n) {
		e := entries[i*int(size) : (i+1)*int(size)]
		if bytes.Equal(e[:16], make([]byte, 16)) {
			continue
		}
		u := make([]uint16, 36)
		for j := range u {
			u[j] = binary.LittleEndian.Uint16(e[56+2*j:])
		}
		label := string(utf16.Decode(u))
		out = append(out, gptPartition{number: i + 1, typ: guid(e[:16]), label: strings.TrimRight(label, "\x00"),
			first: binary.LittleEndian.Uint64(e[32:]), last: binary.LittleEndian.Uint64(e[40:])})
	}
	return out
}

// The root partition type "root" means on this board (aarch64), from the
// Discoverable Partitions Specification.
const rootArm64 = "b921b045-1df0-41c3-af44-4c6f280d3fae"

// post-image.sh with genimage on stand-in build output: the card it makes
// is what the transfers (the shared 40-root.conf and the board's
// 60-boot.conf) and autoboot.txt expect, and the update payloads it
// leaves are what the installer hands sysupdate.
func TestRPi4CardMatchesTheTransfers(t *testing.T) {
	// mkdosfs, mke2fs and sfdisk are in sbin, which a user's PATH may lack.
	t.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin:/sbin")
	var missing []string
	for _, tool := range []string{"genimage", "mkdosfs", "mcopy", "mtype", "mke2fs", "sfdisk", "gzip"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%v not found (PATH %s): install genimage, dosfstools, mtools, e2fsprogs and fdisk (./scripts/setup)", missing, os.Getenv("PATH"))
	}
	if defconfigValue(t, "BR2_aarch64") != "y" {
		t.Fatal("the defconfig is no longer aarch64: rootArm64 is the wrong root type")
	}
	target := layTarget(t)
	postBuild(t, target, "TWINCAP_VERSION=1.4.0")
	// What buildroot leaves in images/ for this board: the firmware, the
	// DTBs, the kernel, the root file system.
	bin := t.TempDir()
	for name, data := range map[string]string{
		"rpi-firmware/config.txt": "kernel=Image\narm_64bit=1\n", "rpi-firmware/start4.elf": "elf", "rpi-firmware/fixup4.dat": "dat",
		"rpi-firmware/overlays/miniuart-bt.dtbo": "dtbo", "bcm2711-rpi-4-b.dtb": "dtb", "Image": "kernel",
	} {
		p := filepath.Join(bin, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("mke2fs", "-q", "-t", "ext4", "-L", "twincap-root", filepath.Join(bin, "rootfs.ext4"), "8M").CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v: %s", err, out)
	}
	cmd := exec.Command("./board/rpi4-64/post-image.sh", bin)
	cmd.Env = append(os.Environ(), "BINARIES_DIR="+bin, "BUILD_DIR="+t.TempDir(), "TARGET_DIR="+target)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("post-image.sh: %v: %s", err, out)
	}
	card := filepath.Join(bin, "sdcard.img")
	parts := readGPT(t, card)
	byNumber := map[int]gptPartition{}
	for _, p := range parts {
		byNumber[p.number] = p
	}
	const version = "1.4.0"

	// Each partition transfer finds two slots of its type: this version's
	// (the running one, ProtectVersion=%A) and a free one.
	transfers := readTransfers(t, filepath.Join(target, "usr/lib/sysupdate.d"))
	slotsOf := map[string][]gptPartition{}
	for _, tr := range transfers {
		if tr.targetType != "partition" {
			t.Errorf("%s: target type %q: the Pi has only partitions to update", tr.file, tr.targetType)
			continue
		}
		typ := strings.ToLower(tr.targetPartitionType)
		if typ == "root" {
			typ = rootArm64
		}
		var slots []gptPartition
		for _, p := range parts {
			if p.typ == typ && (p.label == "_empty" || matches(tr.targetPattern, p.label)) {
				slots = append(slots, p)
			}
		}
		labels := []string{}
		for _, s := range slots {
			labels = append(labels, s.label)
		}
		if !slices.Equal(labels, []string{strings.ReplaceAll(tr.targetPattern, "@v", version), "_empty"}) {
			t.Errorf("%s (type %s, %s): the card's slots are %q, want this version's then a free one; card %+v", tr.file, typ, tr.targetPattern, labels, parts)
		}
		slotsOf[tr.file] = slots
		// Each payload post-image.sh leaves for a bundle reaches this
		// transfer under the name its source pattern wants.
		found := false
		for payload, name := range tryboot.Names {
			if _, err := os.Stat(filepath.Join(bin, "update", payload)); err == nil && matches(tr.sourcePattern, strings.ReplaceAll(name, "@v", version)) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no payload in images/update/ reaches [Source] MatchPattern=%s (tryboot.Names %v)", tr.file, tr.sourcePattern, tryboot.Names)
		}
	}
	boot, root := slotsOf["60-boot.conf"], slotsOf["40-root.conf"]
	if len(boot) != 2 || len(root) != 2 {
		t.Fatalf("boot slots %+v, root slots %+v", boot, root)
	}
	if boot[0].label != strings.ReplaceAll(tryboot.BootLabel, "@v", version) || root[0].label != strings.ReplaceAll(tryboot.RootLabel, "@v", version) {
		t.Errorf("the installer looks for %s and %s; the card has %s and %s", tryboot.BootLabel, tryboot.RootLabel, boot[0].label, root[0].label)
	}
	// autoboot.txt starts this version's boot slot and tries the free one.
	data, err := os.ReadFile("board/rpi4-64/autoboot.txt")
	if err != nil {
		t.Fatal(err)
	}
	ab, err := tryboot.ParseAutoboot(data)
	if err != nil {
		t.Fatal(err)
	}
	if ab.Default != boot[0].number || ab.Try != boot[1].number {
		t.Errorf("autoboot.txt %+v; the card's boot slots are %d (%s) and %d (%s)", ab, boot[0].number, boot[0].label, boot[1].number, boot[1].label)
	}
	if byNumber[1].label != "autoboot" {
		t.Errorf("partition 1 is %q: the firmware reads autoboot.txt from the first partition", byNumber[1].label)
	}
	// The mounts find their partitions by label.
	for unit, label := range map[string]string{"var-lib-twincap.mount": "", "boot-autoboot.mount": ""} {
		u, _ := os.ReadFile(filepath.Join(target, "etc/systemd/system", unit))
		for _, l := range strings.Split(string(u), "\n") {
			if v, ok := strings.CutPrefix(l, "What=/dev/disk/by-partlabel/"); ok {
				label = v
			}
		}
		if !slices.ContainsFunc(parts, func(p gptPartition) bool { return p.label == label }) {
			t.Errorf("%s mounts the partition labelled %q; the card has none", unit, label)
		}
	}
	// The boot slot's command line finds the root of its own version.
	out, err := exec.Command("mtype", "-i", fmt.Sprintf("%s@@%d", card, boot[0].first*512), "::cmdline.txt").CombinedOutput()
	if err != nil {
		t.Fatalf("mtype cmdline.txt: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "root=PARTLABEL="+root[0].label+" ") {
		t.Errorf("cmdline.txt %q does not name the root %s", out, root[0].label)
	}
	// The payload the bundle carries is the boot slot's image.
	payload, _ := os.ReadFile(filepath.Join(bin, "update/boot.vfat"))
	onCard := make([]byte, len(payload))
	f, _ := os.Open(card)
	defer f.Close()
	if _, err := f.ReadAt(onCard, int64(boot[0].first)*512); err != nil || len(payload) == 0 || !bytes.Equal(onCard, payload) {
		t.Errorf("images/update/boot.vfat (%d bytes) is not slot A's boot partition: %v", len(payload), err)
	}
	if size := (boot[1].last - boot[1].first + 1) * 512; uint64(len(payload)) > size {
		t.Errorf("boot.vfat (%d bytes) does not fit slot B's partition (%d)", len(payload), size)
	}
}

// matches is sysupdate's MatchPattern= for the patterns used here: "@v"
// is a version (dotted numbers), several patterns space-separated.
func matches(patterns, s string) bool {
	for _, p := range strings.Fields(patterns) {
		pre, post, ok := strings.Cut(p, "@v")
		if !ok {
			if p == s {
				return true
			}
			continue
		}
		if v, ok := strings.CutPrefix(s, pre); ok {
			if v, ok = strings.CutSuffix(v, post); ok && update.ValidVersion(v) == nil {
				return true
			}
		}
	}
	return false
}
