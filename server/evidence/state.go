package evidence

import "fmt"

// State is where one recording's upload stands on this server.
type State int

// States. Done, Covered and Conflict are final; GivenUp waits for Retry.
const (
	Waiting   State = iota // queued, or waiting for the other server's upload
	Uploading              // an attempt is under way (after a crash: resume it)
	Backoff                // an attempt failed; the next one is due at NextAt
	Done                   // this server's upload is complete and verified
	Covered                // the other server's complete upload stands; none needed from here
	GivenUp                // RetryAttempts attempts failed; Retry starts again
	Conflict               // the store holds other bytes under this upload's keys
)

var stateNames = [...]string{"waiting", "uploading", "backoff", "done", "covered", "given_up", "conflict"}

func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("State(%d)", int(s))
	}
	return stateNames[s]
}

// MarshalText writes the state's name.
func (s State) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(stateNames) {
		return nil, fmt.Errorf("evidence: unknown state %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText rejects unknown names.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n == string(b) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("evidence: unknown state %q", b)
}

// Final reports whether nothing more happens to the recording by itself.
func (s State) Final() bool { return s == Done || s == Covered || s == Conflict || s == GivenUp }

// Event is what happened to a recording's upload.
type Event int

// Events.
const (
	EvUpload    Event = iota // the decision: upload from this server now
	EvWait                   // the decision: not yet
	EvCovered                // the decision: the other server's upload stands
	EvDone                   // this server's upload is complete
	EvFailed                 // an attempt failed and attempts remain
	EvExhausted              // an attempt failed and none remain
	EvConflict               // the store holds other bytes under our keys
	EvRetry                  // an operator asks to try again
)

var eventNames = [...]string{"upload", "wait", "covered", "done", "failed", "exhausted", "conflict", "retry"}

func (e Event) String() string {
	if e < 0 || int(e) >= len(eventNames) {
		return fmt.Sprintf("Event(%d)", int(e))
	}
	return eventNames[e]
}

// Transition is the one place that says how an event moves a state. ok is
// false when the event cannot happen in s (s is then returned unchanged).
func Transition(s State, e Event) (next State, ok bool) {
	switch s {
	case Waiting, Uploading, Backoff:
		switch e {
		case EvUpload:
			return Uploading, true
		case EvWait:
			return Waiting, true
		case EvCovered:
			return Covered, true
		case EvDone:
			return Done, true
		case EvFailed:
			return Backoff, true
		case EvExhausted:
			return GivenUp, true
		case EvConflict:
			return Conflict, true
		}
	case GivenUp:
		if e == EvRetry {
			return Waiting, true
		}
	}
	return s, false
}
