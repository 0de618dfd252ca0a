package sysupdate

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"twincap/firmware/update"
)

type rig struct {
	inst   *Installer
	src    string
	bundle string
	root   []byte
	calls  [][]string
	seen   map[string][]byte // the source folder as sysupdate saw it
	fail   error
}

func newRig(t *testing.T) *rig {
	t.Helper()
	key, err := update.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	trust, _ := update.NewTrust(&key.PublicKey)
	dir := t.TempDir()
	r := &rig{src: filepath.Join(dir, "source"), root: bytes.Repeat([]byte("ext4 "), 20000)}
	rootPath := filepath.Join(dir, "rootfs.img")
	ukiPath := filepath.Join(dir, "twincap.efi")
	_ = os.WriteFile(rootPath, r.root, 0o644)
	_ = os.WriteFile(ukiPath, []byte("MZ kernel"), 0o644)
	r.bundle = filepath.Join(dir, "b.tcb")
	f, _ := os.Create(r.bundle)
	if _, err := update.Build(f, key, update.Manifest{Version: "1.4.0", Compatible: "qemu-x86_64"},
		[]update.File{{Name: "rootfs.img", Path: rootPath}, {Name: "twincap.efi", Path: ukiPath}}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r.inst, err = New(Config{
		Binary: "/lib/systemd/systemd-sysupdate", Definitions: "/usr/lib/twincap/sysupdate.d", SourceDir: r.src,
		Names:    map[string]string{"rootfs.img": "twincap_@v.root.img", "twincap.efi": "twincap_@v.efi"},
		Verifier: update.Verifier{Trust: trust, Board: "qemu-x86_64"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.inst.Run = func(_ context.Context, name string, args ...string) ([]byte, error) {
		r.calls = append(r.calls, append([]string{name}, args...))
		r.seen = map[string][]byte{}
		entries, _ := os.ReadDir(r.src)
		for _, e := range entries {
			r.seen[e.Name()], _ = os.ReadFile(filepath.Join(r.src, e.Name()))
		}
		if r.fail != nil {
			return []byte("Selected update '1.4.0' for install.\nNo available partition of a suitable size found."), r.fail
		}
		return []byte("✨ Successfully installed update '1.4.0'."), nil
	}
	return r
}

func TestInstallUnpacksUnderVersionedNamesThenRunsSysupdate(t *testing.T) {
	r := newRig(t)
	// Left from an earlier attempt: removed first.
	_ = os.MkdirAll(r.src, 0o700)
	_ = os.WriteFile(filepath.Join(r.src, "twincap_1.3.9.root.img"), []byte("old"), 0o600)
	if err := r.inst.Install(context.Background(), r.bundle, update.Manifest{Version: "1.4.0"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"/lib/systemd/systemd-sysupdate", "--no-pager", "--definitions=/usr/lib/twincap/sysupdate.d", "update", "1.4.0"}
	if len(r.calls) != 1 || !slices.Equal(r.calls[0], want) {
		t.Fatalf("calls %q", r.calls)
	}
	if !bytes.Equal(r.seen["twincap_1.4.0.root.img"], r.root) || string(r.seen["twincap_1.4.0.efi"]) != "MZ kernel" {
		t.Errorf("sysupdate saw %d files: %v", len(r.seen), keys(r.seen))
	}
	if _, old := r.seen["twincap_1.3.9.root.img"]; old {
		t.Error("an earlier attempt's file was left for sysupdate")
	}
	if left, _ := os.ReadDir(r.src); len(left) != 0 {
		t.Errorf("source folder not emptied after the install: %d entries", len(left))
	}
	if err := r.inst.Reboot(context.Background()); err != nil || r.calls[1][len(r.calls[1])-1] != "reboot" {
		t.Fatalf("reboot: %v %q", err, r.calls)
	}
}

func TestABadBundleNeverReachesSysupdate(t *testing.T) {
	r := newRig(t)
	data, _ := os.ReadFile(r.bundle)
	i := bytes.Index(data, r.root[:100])
	data[i+5000] ^= 1
	_ = os.WriteFile(r.bundle, data, 0o644)
	err := r.inst.Install(context.Background(), r.bundle, update.Manifest{Version: "1.4.0"})
	if !errors.Is(err, update.ErrPayload) || len(r.calls) != 0 {
		t.Fatalf("altered bundle: %v, calls %q", err, r.calls)
	}
	if left, _ := os.ReadDir(r.src); len(left) != 0 {
		t.Errorf("an altered bundle left %d files in the source folder", len(left))
	}
}

func TestAPayloadWithoutASlotIsRefused(t *testing.T) {
	r := newRig(t)
	delete(r.inst.cfg.Names, "twincap.efi")
	err := r.inst.Install(context.Background(), r.bundle, update.Manifest{Version: "1.4.0"})
	if err == nil || !strings.Contains(err.Error(), `no slot for payload "twincap.efi"`) || len(r.calls) != 0 {
		t.Fatalf("%v, calls %q", err, r.calls)
	}
}

func TestSysupdateFailureSaysWhy(t *testing.T) {
	r := newRig(t)
	r.fail = errors.New("exit status 1")
	err := r.inst.Install(context.Background(), r.bundle, update.Manifest{Version: "1.4.0"})
	if err == nil || !strings.Contains(err.Error(), "No available partition of a suitable size found") {
		t.Fatalf("%v", err)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// The reboot sysupdate asks for stops the daemon, and with it sysupdate's
// client, before that client returns: that is the reboot working, not a
// failure (the agent would otherwise forget the version it rebooted into).
func TestARebootThatTakesTheBoxDownIsNoFailure(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	r.inst.Run = func(context.Context, string, ...string) ([]byte, error) {
		cancel() // systemd stops the daemon
		return nil, errors.New("signal: killed")
	}
	if err := r.inst.Reboot(ctx); err != nil {
		t.Fatalf("reboot while the box goes down: %v", err)
	}
	for _, sig := range []string{"TERM", "KILL"} {
		cmd := exec.Command("sh", "-c", "kill -"+sig+" $$")
		err := cmd.Run()
		r.inst.Run = func(context.Context, string, ...string) ([]byte, error) { return nil, err }
		if err := r.inst.Reboot(context.Background()); err != nil {
			t.Errorf("sysupdate's client killed by SIG%s: %v", sig, err)
		}
	}
	r.inst.Run = func(context.Context, string, ...string) ([]byte, error) {
		return []byte("No newer version installed."), errors.New("exit status 1")
	}
	if err := r.inst.Reboot(context.Background()); err == nil {
		t.Error("a sysupdate that failed by itself was taken for a reboot")
	}
}
