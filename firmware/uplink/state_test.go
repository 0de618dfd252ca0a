package uplink

import "testing"

func TestTransitionTable(t *testing.T) {
	states := []State{Offline, Connecting, Online, Recording}
	events := []Event{EvDial, EvDialOK, EvFailed, EvBegin, EvIdle}
	// want[state][event]
	want := map[State]map[Event]State{
		Offline:    {EvDial: Connecting, EvDialOK: Offline, EvFailed: Offline, EvBegin: Offline, EvIdle: Offline},
		Connecting: {EvDial: Connecting, EvDialOK: Online, EvFailed: Offline, EvBegin: Connecting, EvIdle: Connecting},
		Online:     {EvDial: Online, EvDialOK: Online, EvFailed: Offline, EvBegin: Recording, EvIdle: Online},
		Recording:  {EvDial: Recording, EvDialOK: Recording, EvFailed: Offline, EvBegin: Recording, EvIdle: Online},
	}
	for _, s := range states {
		for _, e := range events {
			if got := Transition(s, e); got != want[s][e] {
				t.Errorf("Transition(%s, %s) = %s, want %s", s, e, got, want[s][e])
			}
		}
	}
	for _, s := range states {
		if s.String() == "" || s.String()[0] == 'S' {
			t.Errorf("state %d has no name", int(s))
		}
	}
}
