package durable

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a", "b", "f.json")
	if err := MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != "two" {
		t.Fatalf("read = %q, %v", got, err)
	}
	// A failing fill leaves neither the file nor a temporary behind.
	q := filepath.Join(dir, "a", "b", "g")
	boom := errors.New("boom")
	if err := WriteFrom(q, 0o600, func(io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("WriteFrom err = %v", err)
	}
	ents, _ := os.ReadDir(filepath.Dir(q))
	for _, e := range ents {
		if e.Name() != "f.json" {
			t.Errorf("leftover %s", e.Name())
		}
	}
}

func TestWriteFileIf(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seg.m4s")
	refused := errors.New("checksum mismatch")
	if err := WriteFileIf(path, []byte("bad"), 0o644, func() error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("WriteFileIf with a failing check = %v, want its error", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a refused write left %d entries", len(entries))
	}
	if err := WriteFileIf(path, []byte("good"), 0o644, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "good" {
		t.Fatalf("read back %q, %v", b, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("%d entries after one write, want 1", len(entries))
	}
}
