package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"twincap/firmware/update"
)

func TestKeygenCreateVerify(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	key := filepath.Join(dir, "keys", "release")
	if err := run([]string{"keygen", "-out", key}, &out); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(key + ".key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v %v", fi, err)
	}
	if err := run([]string{"keygen", "-out", key}, &out); err == nil {
		t.Error("keygen overwrote a key")
	}
	payload := filepath.Join(dir, "rootfs.img")
	_ = os.WriteFile(payload, bytes.Repeat([]byte("root"), 5000), 0o644)
	bundle := filepath.Join(dir, "src", "twincap-1.2.0.tcb")
	_ = os.MkdirAll(filepath.Dir(bundle), 0o755)
	if err := run([]string{"create", "-key", key + ".key", "-version", "1.2.0", "-board", "qemu-x86_64", "-out", bundle, "rootfs.img=" + payload}, &out); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "src", update.IndexName))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := update.ParseIndex(data)
	if err != nil || ix.Bundle != "twincap-1.2.0.tcb" || ix.Version != "1.2.0" {
		t.Fatalf("index %+v %v", ix, err)
	}
	out.Reset()
	if err := run([]string{"verify", "-keys", key + ".pub", "-board", "qemu-x86_64", bundle}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "good: twincap 1.2.0") {
		t.Errorf("verify said %q", out.String())
	}
	err = run([]string{"verify", "-keys", key + ".pub", "-board", "rpi4-64", bundle}, &out)
	if err == nil || !strings.Contains(err.Error(), "another board") {
		t.Errorf("verify for another board: %v", err)
	}
}
