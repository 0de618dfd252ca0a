package updater

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"twincap/internal/durable"
	"twincap/server/wire"
)

// recordName is the agent's durable record in the stage folder: the
// version it rebooted into, and the versions that did not come up.
const recordName = "record.json"

type record struct {
	// Attempt is the version the box rebooted into, and when.
	Attempt   string    `json:"attempt,omitempty"`
	AttemptAt time.Time `json:"attempt_at,omitzero"`
	// Installing is the version being written to the other slot, from
	// just before the installer starts until it fails or the reboot is
	// recorded: found at a start, the box lost power (or was reset)
	// during the install or between it and the reboot.
	Installing   string    `json:"installing,omitempty"`
	InstallingAt time.Time `json:"installing_at,omitzero"`
	// Bad lists versions that were installed and rebooted into but did
	// not stay (the boot loader went back to the old slot): they are not
	// installed again, or the box would reboot into them at every check.
	Bad []string `json:"bad,omitempty"`
}

func (a *Agent) recordPath() string { return filepath.Join(a.cfg.StageDir, recordName) }

func (a *Agent) loadRecord() (record, error) {
	var r record
	data, err := os.ReadFile(a.recordPath())
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("updater: %w", err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("updater: %s: %w", recordName, err)
	}
	return r, nil
}

func (a *Agent) saveRecord(r record) error {
	if err := durable.MkdirAll(a.cfg.StageDir, 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(a.recordPath(), append(data, '\n'), 0o600)
}

// afterBoot reads what the last run attempted: the box either runs the
// version it rebooted into (the update took), or it does not (the boot
// loader went back: a rollback), and then that version is bad.
func (a *Agent) afterBoot() error {
	r, err := a.loadRecord()
	if err != nil {
		return err
	}
	a.bad = r.Bad
	if r.Attempt == "" && r.Installing != "" {
		return a.afterCutInstall(r)
	}
	if r.Attempt == "" {
		return nil
	}
	now := a.deps.Now()
	if r.Attempt == a.cfg.Current && a.triedNotGood(context.Background()) {
		a.onTrial = true
		a.note = fmt.Sprintf("running %s on trial: it is marked good once its self-test passes", r.Attempt)
		a.deps.Log.Info("updater: running the update on trial", "version", r.Attempt, "since_reboot", now.Sub(r.AttemptAt).Round(time.Second))
		return nil // the attempt stays on record until the mark
	}
	if r.Attempt == a.cfg.Current {
		a.deps.Log.Info("updater: running the update", "version", r.Attempt, "since_reboot", now.Sub(r.AttemptAt).Round(time.Second))
		a.m = Machine{State: Idle, Reason: ""}
		a.note = fmt.Sprintf("updated to %s", r.Attempt)
		a.report(wire.UpdateDone, r.Attempt, fmt.Sprintf("%s after the reboot", now.Sub(r.AttemptAt).Round(time.Second)))
	} else {
		if !slices.Contains(r.Bad, r.Attempt) {
			r.Bad = append(r.Bad, r.Attempt)
		}
		why := fmt.Sprintf("%s did not come up; the box went back to %s (%s after the reboot into it)",
			r.Attempt, a.cfg.Current, now.Sub(r.AttemptAt).Round(time.Second))
		a.deps.Log.Error("updater: rolled back", "version", r.Attempt, "running", a.cfg.Current, "after", now.Sub(r.AttemptAt).Round(time.Second))
		a.m = Machine{State: Failed, Reason: why, NextCheck: now.Add(a.cfg.Interval)}
		a.report(wire.UpdateRolledBack, r.Attempt, why)
	}
	r.Attempt, r.AttemptAt = "", time.Time{}
	a.bad = r.Bad
	return a.saveRecord(r)
}

// triedNotGood asks a Trial installer whether the running slot is still
// on trial. An installer that cannot tell (an error) is taken at its
// word that the box came up: the agent must not stop for good on it.
func (a *Agent) triedNotGood(ctx context.Context) bool {
	t, ok := a.deps.Installer.(Trial)
	if !ok {
		return false
	}
	on, err := t.OnTrial(ctx)
	if err != nil {
		a.deps.Log.Warn("updater: cannot tell whether this slot is marked good; taking it as good", "err", err)
		return false
	}
	return on
}

// stillOnTrial reports whether the running version is still on trial;
// once it is not, the update is reported done and the attempt forgotten.
func (a *Agent) stillOnTrial(ctx context.Context) bool {
	if a.triedNotGood(ctx) {
		return true
	}
	a.onTrial = false
	r, err := a.loadRecord()
	if err == nil && r.Attempt == a.cfg.Current {
		since := a.deps.Now().Sub(r.AttemptAt).Round(time.Second)
		a.deps.Log.Info("updater: the update is marked good", "version", r.Attempt, "since_reboot", since)
		a.note = fmt.Sprintf("updated to %s", r.Attempt)
		a.report(wire.UpdateDone, r.Attempt, fmt.Sprintf("%s after the reboot, marked good", since))
		r.Attempt, r.AttemptAt = "", time.Time{}
		err = a.saveRecord(r)
	}
	if err != nil {
		a.deps.Log.Warn("updater: record the update marked good", "err", err)
	}
	a.publish()
	return false
}

// afterCutInstall is afterBoot when the last run was installing r's
// version and never got to record its reboot: the power went during the
// install, or between its end and the reboot. If the box runs that
// version, the install had finished and the boot loader took its new
// entry (on trial, as after a reboot): the update took. Otherwise the
// other slot holds an unfinished write that systemd-sysupdate never
// labelled, the version has not been tried, and the next check installs
// it again.
func (a *Agent) afterCutInstall(r record) error {
	now := a.deps.Now()
	since := now.Sub(r.InstallingAt).Round(time.Second)
	if r.Installing == a.cfg.Current {
		a.deps.Log.Info("updater: running the update; the box restarted before its own reboot", "version", r.Installing, "since_install", since)
		a.note = fmt.Sprintf("updated to %s", r.Installing)
		a.report(wire.UpdateDone, r.Installing, fmt.Sprintf("the box restarted between the install and the reboot; running it %s after the install began", since))
	} else {
		why := fmt.Sprintf("the install of %s was cut short: the box restarted during it (%s after it began); it will be installed again", r.Installing, since)
		a.deps.Log.Warn("updater: "+why, "version", r.Installing, "running", a.cfg.Current)
		a.note = why
		a.report(wire.UpdateFailed, r.Installing, why)
	}
	a.m = Machine{State: Idle}
	r.Installing, r.InstallingAt = "", time.Time{}
	return a.saveRecord(r)
}

// attempt records the version the box is about to reboot into ("" for
// none); the install it follows is over.
func (a *Agent) attempt(version string) error {
	r, err := a.loadRecord()
	if err != nil {
		return err
	}
	r.Attempt, r.AttemptAt = version, a.deps.Now()
	if version == "" {
		r.AttemptAt = time.Time{}
	}
	r.Installing, r.InstallingAt = "", time.Time{}
	return a.saveRecord(r)
}

// installing records that version is about to be written to the other
// slot ("" once the installer has failed: nothing was left to boot).
func (a *Agent) installing(version string) error {
	r, err := a.loadRecord()
	if err != nil {
		return err
	}
	r.Installing, r.InstallingAt = version, a.deps.Now()
	if version == "" {
		r.InstallingAt = time.Time{}
	}
	return a.saveRecord(r)
}

// removePartial removes what a download or a hand-brought upload cut
// short by a power cut left in the stage folder: durable's temporary
// files, never renamed to a bundle (each may be as large as one).
func (a *Agent) removePartial() error {
	entries, err := os.ReadDir(a.cfg.StageDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("updater: %w", err)
	}
	for _, e := range entries {
		if !durable.IsTemp(e.Name()) {
			continue
		}
		if err := os.Remove(filepath.Join(a.cfg.StageDir, e.Name())); err != nil {
			return fmt.Errorf("updater: remove a partial download: %w", err)
		}
		a.deps.Log.Info("updater: removed a partial download", "file", e.Name())
	}
	return nil
}
