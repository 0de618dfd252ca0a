package fipsmode

import (
	"errors"
	"slices"
	"testing"
)

func TestEnter(t *testing.T) {
	for _, tc := range []struct {
		name          string
		want, enabled bool
		env           []string
		execd         bool
		err           error
		godebug       string
	}{
		{name: "not asked", env: []string{"HOME=/h"}},
		{name: "asked, already on", want: true, enabled: true},
		{name: "asked, not on", want: true, env: []string{"HOME=/h", "GODEBUG=http2debug=1,fips140=off"}, execd: true, godebug: "GODEBUG=fips140=on,http2debug=1"},
		{name: "asked, no GODEBUG", want: true, env: []string{"HOME=/h"}, execd: true, godebug: "GODEBUG=fips140=on"},
		{name: "re-executed and still not on", want: true, env: []string{ReexecEnv + "=1"}, err: ErrNotEnabled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var execs [][]string
			err := Enter(tc.want, tc.enabled, tc.env, func(env []string) error { execs = append(execs, env); return nil })
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("Enter = %v, want %v", err, tc.err)
			}
			if (len(execs) == 1) != tc.execd {
				t.Fatalf("exec'd %d times", len(execs))
			}
			if tc.execd {
				env := execs[0]
				if !slices.Contains(env, tc.godebug) || !slices.Contains(env, ReexecEnv+"=1") || !slices.Contains(env, "HOME=/h") {
					t.Fatalf("env %q", env)
				}
			}
		})
	}
	if err := Enter(true, false, nil, func([]string) error { return errors.New("no exec") }); err == nil {
		t.Fatal("a failed exec went unsaid")
	}
}
