package server

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"twincap/server/settings"
)

// ReexecEnv marks the environment of a server that re-executed itself to
// enter FIPS 140-3 mode, so that it never tries twice.
const ReexecEnv = "TWINCAP_FIPS_REEXEC"

// EnterFIPS gets a server whose settings (the file at settingsPath)
// require FIPS 140-3 mode into it. Go enters the mode only at start, from
// GODEBUG, so when the settings say fips and the process is not in the
// mode (enabled is crypto/fips140.Enabled()), EnterFIPS calls exec with
// the environment plus GODEBUG=fips140=on (and ReexecEnv): exec replaces
// the process (syscall.Exec of os.Executable) and returns only on failure.
// A process that was re-executed and still is not in the mode gets an
// error saying so. A missing settings file means no FIPS; an unreadable
// one is an error, as it would be for New.
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
	for _, kv := range environ {
		if strings.HasPrefix(kv, ReexecEnv+"=") {
			return fmt.Errorf("server: %w: the settings (fips: true) require Go's FIPS 140-3 mode, and re-executing "+
				"with GODEBUG=fips140=on did not enable it (a toolchain without the FIPS module, or GODEBUG overridden?)", settings.ErrFIPS)
		}
	}
	if err := exec(fipsEnv(environ)); err != nil {
		return fmt.Errorf("server: re-executing in FIPS 140-3 mode: %w", err)
	}
	return nil
}

// fipsEnv is environ with fips140=on in GODEBUG (replacing any other
// fips140 value) and ReexecEnv set.
func fipsEnv(environ []string) []string {
	var out []string
	debug := []string{"fips140=on"}
	for _, kv := range environ {
		v, ok := strings.CutPrefix(kv, "GODEBUG=")
		if !ok {
			out = append(out, kv)
			continue
		}
		for _, part := range strings.Split(v, ",") {
			if part != "" && !strings.HasPrefix(part, "fips140=") {
				debug = append(debug, part)
			}
		}
	}
	return append(out, "GODEBUG="+strings.Join(debug, ","), ReexecEnv+"=1")
}
