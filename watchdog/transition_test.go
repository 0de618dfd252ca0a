package watchdog

import "testing"

func TestTransition(t *testing.T) {
	tests := []struct {
		from State
		ev   event
		to   State
		act  actions
	}{
		{Starting, evHealthy, Petting, actions{pet: true}},
		{Starting, evStale, Withholding, actions{status: true}},
		{Starting, evStop, Stopped, actions{disarm: true}},
		{Petting, evHealthy, Petting, actions{pet: true}},
		{Petting, evStale, Withholding, actions{status: true}},
		{Petting, evStop, Stopped, actions{disarm: true}},
		{Withholding, evHealthy, Petting, actions{pet: true, status: true}},
		{Withholding, evStale, Withholding, actions{status: true}},
		{Withholding, evStop, Stopped, actions{disarm: true}},
		// Stopped is final: the device is closed, nothing may touch it.
		{Stopped, evHealthy, Stopped, actions{}},
		{Stopped, evStale, Stopped, actions{}},
		{Stopped, evStop, Stopped, actions{}},
	}
	for _, tt := range tests {
		to, act := transition(tt.from, tt.ev)
		if to != tt.to || act != tt.act {
			t.Errorf("%v + %v = %v %+v, want %v %+v", tt.from, tt.ev, to, act, tt.to, tt.act)
		}
	}
}

func TestStateString(t *testing.T) {
	tests := []struct {
		s    State
		want string
	}{
		{Starting, "starting"},
		{Petting, "petting"},
		{Withholding, "withholding"},
		{Stopped, "stopped"},
		{State(9), "State(9)"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("State(%d).String() = %q, want %q", int(tt.s), got, tt.want)
		}
	}
}
