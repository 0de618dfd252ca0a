package main

import (
	"os"
	"path/filepath"
	"testing"
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
