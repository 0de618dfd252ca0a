package uplink

import "fmt"

// State is the connection state of one server, as the box sees it.
type State int

const (
	Offline    State = iota // not reachable; retrying
	Connecting              // a dial (health check) is under way
	Online                  // reachable, no recording open on it
	Recording               // reachable, a recording is open on it
)

func (s State) String() string {
	switch s {
	case Offline:
		return "offline"
	case Connecting:
		return "connecting"
	case Online:
		return "online"
	case Recording:
		return "recording"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Event is what happened to a server connection.
type Event int

const (
	EvDial   Event = iota // time to try the server
	EvDialOK              // it answered its health check
	EvFailed              // any request failed or timed out
	EvBegin               // a recording was created (or resumed) on it
	EvIdle                // no open recording left on it
)

func (e Event) String() string {
	switch e {
	case EvDial:
		return "dial"
	case EvDialOK:
		return "dial-ok"
	case EvFailed:
		return "failed"
	case EvBegin:
		return "begin"
	case EvIdle:
		return "idle"
	}
	return fmt.Sprintf("Event(%d)", int(e))
}

// Transition is the whole state machine: every (state, event) pair not
// listed leaves the state as it is.
func Transition(s State, e Event) State {
	switch {
	case e == EvFailed:
		return Offline
	case s == Offline && e == EvDial:
		return Connecting
	case s == Connecting && e == EvDialOK:
		return Online
	case s == Online && e == EvBegin:
		return Recording
	case s == Recording && e == EvIdle:
		return Online
	}
	return s
}
