package sysupdate

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf16"
)

// efiString is an efivarfs file holding s: attributes, UTF-16LE, NUL.
func efiString(s string) []byte {
	b := []byte{7, 0, 0, 0}
	for _, c := range append(utf16.Encode([]rune(s)), 0) {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}

func TestOnTrial(t *testing.T) {
	dir := t.TempDir()
	esp := filepath.Join(dir, "efi")
	if err := os.MkdirAll(filepath.Join(esp, "EFI", "Linux"), 0o755); err != nil {
		t.Fatal(err)
	}
	v := filepath.Join(dir, "LoaderBootCountPath")
	i := &Installer{cfg: Config{ESP: esp, BootCountVar: v}}
	check := func(what string, want bool) {
		t.Helper()
		got, err := i.OnTrial(context.Background())
		if err != nil || got != want {
			t.Fatalf("%s: OnTrial = %v, %v; want %v", what, got, err, want)
		}
	}
	check("no boot counting", false)
	if err := os.WriteFile(v, efiString(`\EFI\Linux\twincap_0.3.0+2-1.efi`), 0o644); err != nil {
		t.Fatal(err)
	}
	tried := filepath.Join(esp, "EFI", "Linux", "twincap_0.3.0+2-1.efi")
	if err := os.WriteFile(tried, []byte("uki"), 0o644); err != nil {
		t.Fatal(err)
	}
	check("the counted entry still there", true)
	// systemd-bless-boot renames it once the boot is good.
	if err := os.Rename(tried, filepath.Join(esp, "EFI", "Linux", "twincap_0.3.0.efi")); err != nil {
		t.Fatal(err)
	}
	check("blessed", false)
	for _, bad := range [][]byte{{1, 2}, efiString(""), efiString(`\..\..\etc\passwd`), append(efiString("x"), 9)} {
		if err := os.WriteFile(v, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := i.OnTrial(context.Background()); err == nil {
			t.Errorf("OnTrial took the variable % x", bad)
		}
	}
}

func TestReadBootCountPath(t *testing.T) {
	f := filepath.Join(t.TempDir(), "var")
	if err := os.WriteFile(f, efiString(`\EFI\Linux\twincap_1.4.0+3-0.efi`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadBootCountPath(f); err != nil || got != "EFI/Linux/twincap_1.4.0+3-0.efi" {
		t.Fatalf("ReadBootCountPath = %q, %v", got, err)
	}
}
