package server

import (
	"errors"
	"fmt"
	"io/fs"

	"twincap/server/fipsmode"
	"twincap/server/settings"
)

// ReexecEnv marks the environment of a server that re-executed itself to
// enter FIPS 140-3 mode, so that it never tries twice.
const ReexecEnv = fipsmode.ReexecEnv

// EnterFIPS gets a server whose settings (the file at settingsPath)
// require FIPS 140-3 mode into it. Go enters the mode only at start, from
// GODEBUG, so when the settings say fips and the process is not in the
// mode (enabled is crypto/fips140.Enabled()), EnterFIPS calls exec with
// the environment plus GODEBUG=fips140=on (and ReexecEnv): exec replaces
// the process (fipsmode.Exec) and returns only on failure. A process that
// was re-executed and still is not in the mode gets an error saying so. A
// missing settings file means no FIPS; an unreadable one is an error, as
// it would be for New.
func EnterFIPS(settingsPath string, enabled bool, environ []string, exec func(env []string) error) error {
	s, err := settings.Load(settingsPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if s.CheckFIPS(enabled) == nil {
		return nil
	}
	err = fipsmode.Enter(true, enabled, environ, exec)
	if errors.Is(err, fipsmode.ErrNotEnabled) {
		return fmt.Errorf("server: %w: the settings (fips: true) require Go's FIPS 140-3 mode: %w", settings.ErrFIPS, err)
	}
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}
