package update

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"twincap/internal/durable"
)

// DirTarget writes a bundle's payloads as files into a folder: a staging
// folder that an installer (systemd-sysupdate's local source, or a copy
// onto a slot) takes them from. Each payload goes to a temporary name
// and is fsynced; Commit renames them into place, writes manifest.json
// last (its presence means the folder is whole) and fsyncs the folder.
type DirTarget struct {
	Dir     string
	written []string
}

func (d *DirTarget) tmp(name string) string { return filepath.Join(d.Dir, durable.TempPrefix+name) }

// Write stores one payload under a temporary name.
func (d *DirTarget) Write(p Payload, r io.Reader) error {
	if err := durable.MkdirAll(d.Dir, 0o700); err != nil {
		return err
	}
	// A folder that held an earlier bundle is no longer whole.
	if err := os.Remove(filepath.Join(d.Dir, ManifestName)); err != nil && !os.IsNotExist(err) {
		return err
	}
	f, err := os.OpenFile(d.tmp(p.Name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	d.written = append(d.written, p.Name)
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Commit puts the payloads in place and writes the manifest.
func (d *DirTarget) Commit(m Manifest) error {
	for _, name := range d.written {
		if err := os.Rename(d.tmp(name), filepath.Join(d.Dir, name)); err != nil {
			return err
		}
	}
	if err := durable.SyncDir(d.Dir); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	d.written = nil
	return durable.WriteFile(filepath.Join(d.Dir, ManifestName), append(raw, '\n'), 0o600)
}

// Abort removes what Write left.
func (d *DirTarget) Abort() {
	for _, name := range d.written {
		_ = os.Remove(d.tmp(name))
	}
	d.written = nil
}
