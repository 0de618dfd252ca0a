package buildroot

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"twincap/firmware/config"
	"twincap/firmware/update"
)

// copyTree copies src into dst as the rootfs overlays are laid: files
// of a later tree replace those of an earlier one.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	out, err := exec.Command("cp", "-a", src+"/.", dst+"/").CombinedOutput()
	if err != nil {
		t.Fatalf("cp %s: %v: %s", src, err, out)
	}
}

func TestRPi4PostBuildMakesAConfigTheBoxLoads(t *testing.T) {
	target := t.TempDir()
	// The defconfig's BR2_ROOTFS_OVERLAY order: the shared tree, then the board's.
	copyTree(t, "../image/rootfs", target)
	copyTree(t, "board/rpi4-64/rootfs-overlay", target)

	key, err := update.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := update.MarshalPublicKey(&key.PublicKey)
	keys := filepath.Join(t.TempDir(), "release.pub")
	if err := os.WriteFile(keys, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("./board/rpi4-64/post-build.sh", target)
	cmd.Env = append(os.Environ(), "TWINCAP_PREFERRED=10.1.0.1:0", "TWINCAP_REDUNDANT=10.1.0.2:0",
		"TWINCAP_UPDATE_SOURCE=https://updates.example/twincap/rpi4-64/", "TWINCAP_UPDATE_KEYS="+keys)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("post-build.sh: %v: %s", err, out)
	}

	c, err := config.Load(filepath.Join(target, "etc/twincap/box.toml"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("the board's box.toml does not load: %v", err)
	}
	if c.Preferred.Addr != "10.1.0.1:0" || c.Camera != "/dev/video0" || c.Update.Board != "rpi4-64" ||
		c.Update.Source != "https://updates.example/twincap/rpi4-64/" || c.Watchdog.Device != "/dev/watchdog" {
		t.Errorf("config %+v", c)
	}
	// The key the box trusts is the one given.
	trust, err := update.LoadTrust(filepath.Join(target, "etc/twincap/update-keys.pem"))
	if err != nil || len(trust.IDs()) != 1 {
		t.Fatalf("installed keys: %v", err)
	}
	// The unit is image/rootfs's, not a copy, and it is enabled.
	shared, _ := os.ReadFile("../image/rootfs/etc/systemd/system/twincap-box.service")
	got, _ := os.ReadFile(filepath.Join(target, "etc/systemd/system/twincap-box.service"))
	if len(shared) == 0 || string(shared) != string(got) {
		t.Error("the board's unit differs from image/rootfs's")
	}
	if _, err := os.Stat(filepath.Join(target, "etc/systemd/system/multi-user.target.wants/twincap-box.service")); err != nil {
		t.Errorf("twincap-box.service not enabled: %v", err)
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
	target := t.TempDir()
	copyTree(t, "../image/rootfs", target)
	cmd := exec.Command("./board/rpi4-64/post-build.sh", target)
	cmd.Env = append(os.Environ(), "TWINCAP_UPDATE_SOURCE=https://updates.example/", "TWINCAP_UPDATE_KEYS=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "TWINCAP_UPDATE_KEYS is not a file") {
		t.Fatalf("post-build.sh with a source and no keys: %v: %s", err, out)
	}
}
