package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"twincap/internal/durable"
)

// The files of a journal folder. Nothing else may live there: Remove
// refuses a folder that holds anything but these.
const (
	metaName   = "meta.json"
	logName    = "segments.log"
	ackName    = "acks.log"
	tmpSuffix  = ".tmp"
	tombSuffix = ".removing" // a folder being deleted by Remove; List skips it
)

func ownFile(name string) bool {
	// A temporary file of internal/durable is named after the file it
	// replaces: TempPrefix + name + "-" + random.
	base := strings.TrimSuffix(name, tmpSuffix)
	if durable.IsTemp(name) {
		base, _, _ = strings.Cut(strings.TrimPrefix(name, durable.TempPrefix), "-")
	}
	switch base {
	case metaName, logName, ackName, edgeName:
		return true
	}
	return false
}

// syncDir makes the entries of dir (creations, renames, removals) durable.
func syncDir(dir string) error { return durable.SyncDir(dir) }

// writeFileDurable replaces dir/name with data so that after a crash the
// file holds either the old or the new bytes, whole.
func writeFileDurable(dir, name string, data []byte) error {
	return durable.WriteFile(filepath.Join(dir, name), data, 0o644)
}

// mkdirDurable creates dir and any missing parents, fsyncing the parent of
// each folder it creates.
func mkdirDurable(dir string) error { return durable.MkdirAll(dir, 0o755) }

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// isJournal reports whether dir holds a journal: its meta or its log.
func isJournal(dir string) (bool, error) {
	for _, name := range []string{metaName, logName} {
		ok, err := exists(filepath.Join(dir, name))
		if ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

// Remove deletes the journal folder dir durably. The folder is first
// renamed aside (and the parent fsynced), so a power cut during the
// deletion leaves either the whole journal or none of it visible to List
// and Open; the renamed folder is then deleted and the parent fsynced again.
// Close the journal first. Removing a folder that does not exist is not an
// error (a removal cut short by a power cut can simply be repeated); a
// folder that holds anything but journal files is refused, so a wrong path
// never costs anyone their data.
func Remove(dir string) error {
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	tomb := dir + tombSuffix
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.RemoveAll(tomb); err != nil {
			return fmt.Errorf("journal: remove: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("journal: remove: %w", err)
	}
	for _, e := range entries {
		if !ownFile(e.Name()) || e.IsDir() {
			return fmt.Errorf("journal: remove %s: it holds %q, which is not a journal file", dir, e.Name())
		}
	}
	if err := os.RemoveAll(tomb); err != nil {
		return fmt.Errorf("journal: remove: stale %s: %w", tomb, err)
	}
	if err := os.Rename(dir, tomb); err != nil {
		return fmt.Errorf("journal: remove: %w", err)
	}
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("journal: remove: sync %s: %w", parent, err)
	}
	if err := os.RemoveAll(tomb); err != nil {
		return fmt.Errorf("journal: remove: %w", err)
	}
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("journal: remove: sync %s: %w", parent, err)
	}
	return nil
}

// List returns the sub-folders of root that hold a journal, as paths
// (root joined with the folder name) ready for Open, in name order. A root
// that does not exist holds no journals.
func List(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: list: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), tombSuffix) {
			continue
		}
		dir := filepath.Join(root, e.Name())
		ok, err := isJournal(dir)
		if err != nil {
			return nil, fmt.Errorf("journal: list: %w", err)
		}
		if ok {
			dirs = append(dirs, dir)
		}
	}
	return dirs, nil
}
