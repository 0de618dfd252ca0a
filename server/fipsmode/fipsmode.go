package fipsmode

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// ReexecEnv marks the environment of a process that re-executed itself to
// enter FIPS 140-3 mode, so that it never tries twice.
const ReexecEnv = "TWINCAP_FIPS_REEXEC"

// ErrNotEnabled: the process was asked for FIPS 140-3 mode, re-executed
// itself with GODEBUG=fips140=on, and still is not in it.
var ErrNotEnabled = errors.New("fipsmode: Go's FIPS 140-3 mode is not enabled")

// Enter does nothing when want is false or the process is in the mode
// already (enabled is crypto/fips140.Enabled()). Otherwise it calls exec
// with environ plus GODEBUG=fips140=on and ReexecEnv; exec replaces the
// process (Exec) and returns only on failure. A process that was
// re-executed and still is not in the mode gets ErrNotEnabled.
func Enter(want, enabled bool, environ []string, exec func(env []string) error) error {
	if !want || enabled {
		return nil
	}
	for _, kv := range environ {
		if strings.HasPrefix(kv, ReexecEnv+"=") {
			return fmt.Errorf("%w: re-executing with GODEBUG=fips140=on did not enable it (a toolchain without the FIPS module, or GODEBUG overridden?)", ErrNotEnabled)
		}
	}
	if err := exec(Env(environ)); err != nil {
		return fmt.Errorf("fipsmode: re-executing in FIPS 140-3 mode: %w", err)
	}
	return nil
}

// Env is environ with fips140=on in GODEBUG (replacing any other fips140
// value, keeping the other settings) and ReexecEnv set.
func Env(environ []string) []string {
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

// Exec replaces the running program by itself, with the same arguments and
// env; it returns only on failure.
func Exec(env []string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	return syscall.Exec(exe, os.Args, env)
}
