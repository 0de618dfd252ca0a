//go:build linux

package vmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// AppendResult adds one line to the results file that make vm-test
// prints at the end: the time, the scenario and its figures.
func AppendResult(path, scenario, figures string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%s  %-28s %s\n", time.Now().UTC().Format(time.RFC3339), scenario, figures)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
