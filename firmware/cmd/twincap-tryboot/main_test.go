package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"twincap/firmware/updater/tryboot"
)

func TestBlessAndStatus(t *testing.T) {
	dir := t.TempDir()
	dt := filepath.Join(dir, "bootloader")
	ab := filepath.Join(dir, "autoboot.txt")
	if err := os.MkdirAll(dt, 0o755); err != nil {
		t.Fatal(err)
	}
	put := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put(ab, tryboot.Autoboot{Default: 2, Try: 3}.Marshal())
	put(filepath.Join(dt, "partition"), []byte{0, 0, 0, 3})
	put(filepath.Join(dt, "tryboot"), []byte{0, 0, 0, 1})
	flags := []string{"-autoboot", ab, "-bootloader", dt}
	for _, c := range []struct {
		cmd, want string
	}{
		{"status", "running: boot partition 3, started with the tryboot flag (on trial)\nautoboot.txt: default 2, tryboot 3\n"},
		{"bless", "boot partition 3, tried, is now the default\n"},
		{"status", "autoboot.txt: default 3, tryboot 2\n"},
		{"bless", "boot partition 3 is already the default\n"},
	} {
		var out strings.Builder
		if err := run(append(flags, c.cmd), &out); err != nil || !strings.Contains(out.String(), c.want) {
			t.Fatalf("%s: %q, %v; want %q", c.cmd, out.String(), err, c.want)
		}
	}
	if err := run(append(flags, "commit"), &strings.Builder{}); err == nil || !strings.Contains(err.Error(), `unknown command "commit"`) {
		t.Errorf("unknown command: %v", err)
	}
}
