// Package updatertest has fake Installers for the update agent's tests:
// they record what they were asked to install and whether they were asked
// to reboot, and fail when told to; TrialInstaller also says whether the
// running slot is on trial.
package updatertest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"

	"twincap/firmware/update"
)

// Installer is a fake updater.Installer.
type Installer struct {
	mu sync.Mutex
	// Installed lists the versions installed, in order.
	Installed []string
	// BundleSHA256 is the SHA-256 of each bundle as Install read it.
	BundleSHA256 []string
	// Reboots counts the calls to Reboot.
	Reboots int
	// FailInstall and FailReboot, when set, are returned by the calls.
	FailInstall, FailReboot error
}

// Install reads the bundle whole (as a real installer would) and records
// its version.
func (i *Installer) Install(_ context.Context, path string, m update.Manifest) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.FailInstall != nil {
		return i.FailInstall
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("updatertest: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("updatertest: %w", err)
	}
	i.Installed = append(i.Installed, m.Version)
	i.BundleSHA256 = append(i.BundleSHA256, hex.EncodeToString(h.Sum(nil)))
	return nil
}

// Reboot records the call.
func (i *Installer) Reboot(context.Context) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.FailReboot != nil {
		return i.FailReboot
	}
	i.Reboots++
	return nil
}

// Calls returns the versions installed and the reboots so far.
func (i *Installer) Calls() ([]string, int) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]string(nil), i.Installed...), i.Reboots
}

// TrialInstaller is Installer with updater.Trial: its slot is on trial
// until SetTrial(false), as a Raspberry Pi's tried slot is until it is
// blessed.
type TrialInstaller struct {
	Installer
	tmu   sync.Mutex
	trial bool
	err   error
}

// SetTrial sets what OnTrial answers.
func (i *TrialInstaller) SetTrial(on bool, err error) {
	i.tmu.Lock()
	defer i.tmu.Unlock()
	i.trial, i.err = on, err
}

// OnTrial reports what SetTrial set.
func (i *TrialInstaller) OnTrial(context.Context) (bool, error) {
	i.tmu.Lock()
	defer i.tmu.Unlock()
	return i.trial, i.err
}
