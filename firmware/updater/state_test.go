package updater

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStateStrings(t *testing.T) {
	for s := Idle; s <= Failed; s++ {
		if strings.HasPrefix(s.String(), "State(") {
			t.Errorf("state %d has no name", int(s))
		}
	}
}

func TestMachineNext(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 2, 30, 0, 0, time.UTC)
	free := Facts{Now: t0, InWindow: true}
	interview := Facts{Now: t0, InWindow: true, Interview: true}
	outside := Facts{Now: t0}
	unknown := Facts{Now: t0, WindowErr: "no server's settings could be read"}
	owed := Facts{Now: t0, InWindow: true, Owed: 2}
	owedOne := Facts{Now: t0, InWindow: true, Owed: 1}
	later := Machine{State: Idle, NextCheck: t0.Add(time.Minute)}
	failed := Machine{State: Failed, Reason: "bad signature", NextCheck: t0}
	wait := func(p Step) Machine { return Machine{State: Waiting, Pending: p, Reason: "x"} }
	tick := Event{Kind: Tick}

	cases := []struct {
		name   string
		m      Machine
		ev     Event
		f      Facts
		state  State
		action Action
		reason string
	}{
		{"idle, due, free: check", Machine{}, tick, free, Checking, Check, ""},
		{"idle, not due", later, tick, free, Idle, None, ""},
		{"idle, due, interview: no check", Machine{}, tick, interview, Waiting, None, "an interview is running"},
		{"idle, due, outside the window: no check", Machine{}, tick, outside, Waiting, None, "outside the room's maintenance window"},
		{"idle, due, window unknown: no check", Machine{}, tick, unknown, Waiting, None, "not known: no server's settings"},
		{"idle, due, owed: a check is harmless", Machine{}, tick, owed, Checking, Check, ""},
		{"failed, due, held: the failure stays shown", failed, tick, outside, Failed, None, "bad signature"},
		{"failed, due, free: check again", failed, tick, free, Checking, Check, ""},
		{"nothing newer: idle", Machine{State: Checking}, Event{Kind: NoUpdate}, free, Idle, None, ""},
		{"offered, free: download", Machine{State: Checking}, Event{Kind: Offered}, free, Downloading, Download, ""},
		{"offered, owed: download anyway", Machine{State: Checking}, Event{Kind: Offered}, owed, Downloading, Download, ""},
		{"offered during an interview: wait", Machine{State: Checking}, Event{Kind: Offered}, interview, Waiting, None, "an interview is running"},
		{"downloaded: verify", Machine{State: Downloading}, Event{Kind: Downloaded}, interview, Verifying, Verify, ""},
		{"verified, free: install", Machine{State: Verifying}, Event{Kind: Verified}, free, Installing, Install, ""},
		{"verified, owed: wait", Machine{State: Verifying}, Event{Kind: Verified}, owed, Waiting, None, "2 recordings are not yet held whole"},
		{"verified, one owed: wait", Machine{State: Verifying}, Event{Kind: Verified}, owedOne, Waiting, None, "1 recording is not yet held whole"},
		{"verified, interview started meanwhile: wait", Machine{State: Verifying}, Event{Kind: Verified}, interview, Waiting, None, "an interview is running"},
		{"verified, window closed meanwhile: wait", Machine{State: Verifying}, Event{Kind: Verified}, outside, Waiting, None, "outside"},
		{"installed, free: reboot", Machine{State: Installing}, Event{Kind: Installed}, free, Rebooting, Reboot, ""},
		{"installed, interview: wait to reboot", Machine{State: Installing}, Event{Kind: Installed}, interview, Waiting, None, "an interview is running"},
		{"waiting to download, still held", wait(StepDownload), tick, interview, Waiting, None, "an interview is running"},
		{"waiting to download, free", wait(StepDownload), tick, owed, Downloading, Download, ""},
		{"waiting to install, owed", wait(StepInstall), tick, owed, Waiting, None, "2 recordings"},
		{"waiting to install, free", wait(StepInstall), tick, free, Installing, Install, ""},
		{"waiting to reboot, free", wait(StepReboot), tick, free, Rebooting, Reboot, ""},
		{"waiting to check, free", wait(StepCheck), tick, free, Checking, Check, ""},
		{"an action under way ignores ticks", Machine{State: Installing}, tick, interview, Installing, None, ""},
		{"rebooting stays", Machine{State: Rebooting}, tick, free, Rebooting, None, ""},
		{"error: failed, says why", Machine{State: Verifying}, Event{Kind: Error, Err: errors.New("update: bad signature")}, free, Failed, None, "bad signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, a := c.m.Next(c.ev, c.f, time.Hour)
			if m.State != c.state || a != c.action {
				t.Fatalf("-> %s, %s; want %s, %s", m.State, a, c.state, c.action)
			}
			if !strings.Contains(m.Reason, c.reason) || (c.reason == "" && m.Reason != "") {
				t.Errorf("reason %q, want %q", m.Reason, c.reason)
			}
		})
	}
}

func TestNextCheckAfterNothingOrFailure(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 2, 30, 0, 0, time.UTC)
	f := Facts{Now: t0, InWindow: true}
	for _, ev := range []Event{{Kind: NoUpdate}, {Kind: Error, Err: errors.New("x")}} {
		m, _ := Machine{State: Checking}.Next(ev, f, time.Hour)
		if !m.NextCheck.Equal(t0.Add(time.Hour)) {
			t.Errorf("%v: next check %s", ev.Kind, m.NextCheck)
		}
		f2 := f
		f2.Now = t0.Add(59 * time.Minute)
		if _, a := m.Next(Event{Kind: Tick}, f2, time.Hour); a != None {
			t.Errorf("%v: checks again before the interval: %s", ev.Kind, a)
		}
		f2.Now = t0.Add(time.Hour)
		if _, a := m.Next(Event{Kind: Tick}, f2, time.Hour); a != Check {
			t.Errorf("%v: does not check after the interval: %s", ev.Kind, a)
		}
	}
}
