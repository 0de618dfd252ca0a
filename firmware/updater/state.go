package updater

import (
	"fmt"
	"time"
)

// State is where the agent is.
type State int

const (
	Idle        State = iota // nothing to do until the next check
	Checking                 // asking the source for its index
	Downloading              // fetching the offered bundle
	Verifying                // checking its signature, board and payloads
	Waiting                  // something must change first; Reason says what
	Installing               // writing the other slot
	Rebooting                // the box restarts into the new slot
	Failed                   // the last attempt failed; Reason says why
)

func (s State) String() string {
	switch s {
	case Idle:
		return "idle"
	case Checking:
		return "checking"
	case Downloading:
		return "downloading"
	case Verifying:
		return "verifying"
	case Waiting:
		return "waiting"
	case Installing:
		return "installing"
	case Rebooting:
		return "rebooting"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Step is what a waiting update will do next.
type Step int

const (
	StepCheck Step = iota
	StepDownload
	StepInstall
	StepReboot
)

func (s Step) String() string {
	return [...]string{"check", "download", "install", "reboot"}[s]
}

// Action is what the agent does after a transition.
type Action int

const (
	None Action = iota
	Check
	Download
	Verify
	Install
	Reboot
)

func (a Action) String() string {
	return [...]string{"none", "check", "download", "verify", "install", "reboot"}[a]
}

// EventKind is what happened.
type EventKind int

const (
	Tick       EventKind = iota // time passed; the facts may have changed
	NoUpdate                    // the source offers nothing newer
	Offered                     // the source offers a newer bundle
	Downloaded                  // the bundle is on the box
	Verified                    // the bundle verified
	Installed                   // the other slot holds the new version
	Error                       // the action failed; Err says why
)

// Event is one input to the machine.
type Event struct {
	Kind EventKind
	Err  error
}

// Facts are the box's circumstances at the moment of a transition.
type Facts struct {
	Now       time.Time
	InWindow  bool   // inside the room's maintenance window
	WindowErr string // why the window is not known (then InWindow is false)
	Interview bool   // an interview is running
	Owed      int    // stopped recordings not yet held whole by every server
}

// hold says why step may not happen now ("" if it may). Checking and
// downloading need the maintenance window and no interview; installing
// and rebooting also need nothing owed to a server: a reboot would
// delay it, and the new slot might not come up.
func hold(step Step, f Facts) string {
	switch {
	case f.Interview:
		return "an interview is running"
	case !f.InWindow && f.WindowErr != "":
		return "the maintenance window is not known: " + f.WindowErr
	case !f.InWindow:
		return "outside the room's maintenance window"
	case step >= StepInstall && f.Owed == 1:
		return "1 recording is not yet held whole by every server"
	case step >= StepInstall && f.Owed > 1:
		return fmt.Sprintf("%d recordings are not yet held whole by every server", f.Owed)
	}
	return ""
}

// Machine is the agent's state; Next is its only transition function.
type Machine struct {
	State State
	// Pending is the step a Waiting machine will take.
	Pending Step
	// Reason says why the machine waits or failed.
	Reason string
	// NextCheck is when the source is asked again after nothing was
	// offered or an attempt failed (zero: at once).
	NextCheck time.Time
}

// begin is the state and action that carry out step.
func begin(step Step) (State, Action) {
	switch step {
	case StepCheck:
		return Checking, Check
	case StepDownload:
		return Downloading, Download
	case StepInstall:
		return Installing, Install
	}
	return Rebooting, Reboot
}

// gate goes on to step if nothing holds it, or waits for it.
func (m Machine) gate(step Step, f Facts) (Machine, Action) {
	if why := hold(step, f); why != "" {
		m.State, m.Pending, m.Reason = Waiting, step, why
		return m, None
	}
	var a Action
	m.State, a = begin(step)
	m.Reason = ""
	return m, a
}

// Next is the transition function: the machine after ev given the facts,
// and the action to carry out. interval is the time between checks.
func (m Machine) Next(ev Event, f Facts, interval time.Duration) (Machine, Action) {
	switch ev.Kind {
	case Tick:
		switch m.State {
		case Idle, Failed:
			if f.Now.Before(m.NextCheck) {
				return m, None
			}
			if m.State == Failed && hold(StepCheck, f) != "" {
				return m, None // the failure stays shown until a check can begin
			}
			return m.gate(StepCheck, f)
		case Waiting:
			return m.gate(m.Pending, f)
		}
		return m, None // an action is under way
	case NoUpdate:
		return Machine{State: Idle, NextCheck: f.Now.Add(interval)}, None
	case Offered:
		return m.gate(StepDownload, f)
	case Downloaded:
		m.State, m.Reason = Verifying, ""
		return m, Verify
	case Verified:
		return m.gate(StepInstall, f)
	case Installed:
		return m.gate(StepReboot, f)
	case Error:
		why := "unknown error"
		if ev.Err != nil {
			why = ev.Err.Error()
		}
		return Machine{State: Failed, Reason: why, NextCheck: f.Now.Add(interval)}, None
	}
	return m, None
}
