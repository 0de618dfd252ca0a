package watchdog_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"twincap/watchdog"
)

// These never open a real watchdog: opening one arms it, and this machine
// would reset. The real device is exercised by the image's QEMU tests.
func TestOpenNotAWatchdog(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "watchdog")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		is   []error
	}{
		{"regular file", regular, []error{watchdog.ErrNotWatchdog, unix.ENOTTY}},
		{"character device that is not a watchdog", os.DevNull, []error{watchdog.ErrNotWatchdog, unix.ENOTTY}},
		{"missing", filepath.Join(dir, "missing"), []error{fs.ErrNotExist}},
		{"directory", dir, []error{unix.EISDIR}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := watchdog.Open(tt.path)
			if err == nil {
				h.Close(false)
				t.Fatalf("Open(%s) succeeded", tt.path)
			}
			t.Logf("Open(%s): %v", tt.path, err)
			if !strings.Contains(err.Error(), tt.path) || !strings.HasPrefix(err.Error(), "watchdog: ") {
				t.Errorf("error %q does not start with watchdog: and name %s", err, tt.path)
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("error %q is not %v", err, target)
				}
			}
			if tt.is[0] != watchdog.ErrNotWatchdog && errors.Is(err, watchdog.ErrNotWatchdog) {
				t.Errorf("error %q claims the file is not a watchdog; it was never opened", err)
			}
		})
	}
}
