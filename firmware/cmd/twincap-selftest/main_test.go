package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"twincap/firmware/box"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		st   box.Status
		pass bool
	}{
		{box.Status{Room: "connected"}, true},
		{box.Status{Room: "degraded"}, true},
		{box.Status{Room: "connecting"}, false},
		{box.Status{}, false},
		{box.Status{Room: "connected", Fault: "camera", Message: "camera lost"}, false},
		{box.Status{Room: "degraded", Fault: "disk"}, false},
	} {
		// Through JSON, as the control API sends it.
		b, err := json.Marshal(tc.st)
		if err != nil {
			t.Fatal(err)
		}
		var st status
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		if st.Room != tc.st.Room || st.Fault != tc.st.Fault || st.Message != tc.st.Message {
			t.Fatalf("%s read as %+v", b, st)
		}
		if err := Check(st); (err == nil) != tc.pass {
			t.Errorf("%+v: %v, want pass %v", tc.st, err, tc.pass)
		}
	}
}

func TestPathStatus(t *testing.T) {
	if pathStatus != box.PathStatus {
		t.Fatalf("pathStatus %q, box.PathStatus %q", pathStatus, box.PathStatus)
	}
}

func TestOnTrial(t *testing.T) {
	dir := t.TempDir()
	efi := filepath.Join(dir, "LoaderBootCountPath")
	pi := filepath.Join(dir, "bootloader")
	if err := os.MkdirAll(pi, 0o755); err != nil {
		t.Fatal(err)
	}
	put := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if trial, _ := onTrial(efi, pi); trial {
		t.Error("neither boot loader says trial, yet on trial")
	}
	put(filepath.Join(pi, "partition"), []byte{0, 0, 0, 3})
	put(filepath.Join(pi, "tryboot"), []byte{0, 0, 0, 0})
	if trial, _ := onTrial(efi, pi); trial {
		t.Error("a Pi booted without the tryboot flag is on trial")
	}
	put(filepath.Join(pi, "tryboot"), []byte{0, 0, 0, 1})
	if trial, how := onTrial(efi, pi); !trial || !strings.Contains(how, "tryboot") {
		t.Errorf("a tried Pi slot: %v %q", trial, how)
	}
	put(efi, []byte("x"))
	if trial, how := onTrial(efi, filepath.Join(dir, "none")); !trial || !strings.Contains(how, "systemd-boot") {
		t.Errorf("a counted UKI: %v %q", trial, how)
	}
}
