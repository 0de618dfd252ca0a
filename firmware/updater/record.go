package updater

import (
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
	if r.Attempt == "" {
		return nil
	}
	now := a.deps.Now()
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

// attempt records the version the box is about to reboot into ("" for
// none).
func (a *Agent) attempt(version string) error {
	r, err := a.loadRecord()
	if err != nil {
		return err
	}
	r.Attempt, r.AttemptAt = version, a.deps.Now()
	if version == "" {
		r.AttemptAt = time.Time{}
	}
	return a.saveRecord(r)
}
