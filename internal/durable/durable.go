package durable

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TempPrefix starts the name of every temporary file this package makes.
const TempPrefix = ".tmp-"

// IsTemp reports whether name (a base name) is one of our temporary files.
func IsTemp(name string) bool { return strings.HasPrefix(name, TempPrefix) }

// WriteFile writes data to path durably.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return WriteFrom(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFileIf writes data to path durably, but puts it in place only if
// check returns nil; otherwise the temporary file is removed, nothing
// appears at path, and check's error is returned. check runs while the
// bytes are written and synced, so a checksum of data costs no extra time.
// check must not modify data.
func WriteFileIf(path string, data []byte, perm fs.FileMode, check func() error) error {
	verdict := make(chan error, 1)
	go func() { verdict <- check() }()
	return writeFrom(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}, func() error { return <-verdict })
}

// WriteFrom writes what fill produces to path durably. Nothing appears at
// path unless fill returns nil and every sync succeeds.
func WriteFrom(path string, perm fs.FileMode, fill func(w io.Writer) error) error {
	return writeFrom(path, perm, fill, nil)
}

// writeFrom is WriteFrom with a last check between the fsync of the
// temporary file and its rename.
func writeFrom(path string, perm fs.FileMode, fill func(w io.Writer) error, before func() error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, TempPrefix+base+"-"+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("durable: create: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = fill(f); err != nil {
		return fmt.Errorf("durable: write %s: %w", base, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("durable: fsync %s: %w", base, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("durable: close %s: %w", base, err)
	}
	if before != nil {
		if err = before(); err != nil {
			return err
		}
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("durable: rename %s: %w", base, err)
	}
	if err = SyncDir(dir); err != nil {
		// The file is in place; only the folder entry may not be durable yet.
		return err
	}
	return nil
}

// SyncDir fsyncs a folder so that renames and removals inside it persist.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("durable: open dir: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("durable: fsync dir %s: %w", dir, err)
	}
	return nil
}

// MkdirAll creates dir and any missing parents, fsyncing each parent whose
// entries changed.
func MkdirAll(dir string, perm fs.FileMode) error {
	dir = filepath.Clean(dir)
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("durable: %s is not a folder", dir)
		}
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("durable: %w", err)
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, perm); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("durable: %w", err)
	}
	return SyncDir(parent)
}

// RemoveAll removes path and everything below it, then fsyncs its parent.
// To make the removal atomic, callers rename path first (see store.Delete).
func RemoveAll(path string) error {
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("durable: %w", err)
	}
	return SyncDir(filepath.Dir(path))
}
