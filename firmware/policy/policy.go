package policy

import (
	"fmt"
	"strings"
	"time"
)

// Fallback is the server-failure fallback setting.
type Fallback int

const (
	// Any: start if either configured server can start a recording.
	Any Fallback = iota
	// Preferred: start only if the preferred server can.
	Preferred
	// All: start only if every configured server can.
	All
)

func (f Fallback) String() string {
	switch f {
	case Any:
		return "any"
	case Preferred:
		return "preferred"
	case All:
		return "all"
	}
	return fmt.Sprintf("Fallback(%d)", int(f))
}

// ParseFallback accepts any, preferred, all (any case) and rejects the rest.
func ParseFallback(s string) (Fallback, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "any":
		return Any, nil
	case "preferred":
		return Preferred, nil
	case "all":
		return All, nil
	}
	return 0, fmt.Errorf("policy: unknown fallback %q (want any, preferred or all)", s)
}

// MarshalText and UnmarshalText let a Fallback sit in a TOML or JSON config.
func (f Fallback) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

func (f *Fallback) UnmarshalText(b []byte) error {
	v, err := ParseFallback(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// CanStart reports whether an interview may start. able[i] says whether
// configured server i can start a recording; index 0 is the preferred
// server. A room with no configured server can never start.
func CanStart(f Fallback, able []bool) bool {
	if len(able) == 0 {
		return false
	}
	switch f {
	case Any:
		return CanContinue(able)
	case Preferred:
		return able[0]
	case All:
		for _, ok := range able {
			if !ok {
				return false
			}
		}
		return true
	}
	return false
}

// CanContinue reports whether a running interview goes on: whatever the
// fallback, as long as at least one server is available.
func CanContinue(available []bool) bool {
	for _, ok := range available {
		if ok {
			return true
		}
	}
	return false
}

// ConnectWindow is how long the box keeps trying the second server of a room
// when only one answered, before it proceeds with the one it has.
const ConnectWindow = 2 * time.Minute

// RoomPhase is where the box is in connecting to its room.
type RoomPhase int

const (
	// Connecting: not every configured server answered yet, and the
	// window is still open (or none answered at all).
	Connecting RoomPhase = iota
	// Connected: every configured server answered.
	Connected
	// Degraded: the window has passed and the box goes on with the
	// servers that answered.
	Degraded
)

func (p RoomPhase) String() string {
	switch p {
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	case Degraded:
		return "degraded"
	}
	return fmt.Sprintf("RoomPhase(%d)", int(p))
}

// Room decides the phase of connecting to a room that began at since, with
// connected[i] saying whether server i has answered. With no server
// answering the box stays Connecting for ever: there is nothing to proceed
// with.
func Room(now, since time.Time, connected []bool) RoomPhase {
	n := 0
	for _, ok := range connected {
		if ok {
			n++
		}
	}
	switch {
	case len(connected) > 0 && n == len(connected):
		return Connected
	case n > 0 && now.Sub(since) >= ConnectWindow:
		return Degraded
	}
	return Connecting
}

// Decision is the answer to "may an interview start now?".
type Decision struct {
	Start  bool
	Reason string // why not, for the operator; empty when Start
}

// Decide combines the connect window and the fallback: while the room is
// still connecting (one server answered, the other has time left) the box
// waits; afterwards the fallback decides on the servers that can start.
func Decide(f Fallback, now, since time.Time, connected, able []bool, names []string) Decision {
	phase := Room(now, since, connected)
	if phase == Connecting {
		if !CanContinue(connected) {
			return Decision{Reason: "no room server is reachable"}
		}
		left := ConnectWindow - now.Sub(since)
		return Decision{Reason: fmt.Sprintf("still connecting to the room: waiting up to %s more for %s",
			left.Round(time.Second), strings.Join(missing(connected, names), " and "))}
	}
	if CanStart(f, able) {
		return Decision{Start: true}
	}
	return Decision{Reason: fmt.Sprintf("fallback %s: %s cannot start a recording", f,
		strings.Join(missing(able, names), " and "))}
}

func missing(ok []bool, names []string) []string {
	var out []string
	for i, v := range ok {
		if v {
			continue
		}
		name := fmt.Sprintf("server %d", i+1)
		if i < len(names) {
			name = names[i]
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		out = []string{"no server"}
	}
	return out
}
