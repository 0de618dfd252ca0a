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
