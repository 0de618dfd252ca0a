package policy

import (
	"fmt"
	"testing"
	"time"
)

func TestCanStartEveryCombination(t *testing.T) {
	// Every combination of availability for one and two configured servers,
	// for each fallback. Index 0 is the preferred server.
	cases := []struct {
		able                []bool
		any, preferred, all bool
	}{
		{[]bool{}, false, false, false},
		{[]bool{false}, false, false, false},
		{[]bool{true}, true, true, true},
		{[]bool{false, false}, false, false, false},
		{[]bool{true, false}, true, true, false},
		{[]bool{false, true}, true, false, false},
		{[]bool{true, true}, true, true, true},
	}
	for _, c := range cases {
		for _, f := range []struct {
			f    Fallback
			want bool
		}{{Any, c.any}, {Preferred, c.preferred}, {All, c.all}} {
			t.Run(fmt.Sprintf("%s/%v", f.f, c.able), func(t *testing.T) {
				if got := CanStart(f.f, c.able); got != f.want {
					t.Errorf("CanStart(%s, %v) = %v, want %v", f.f, c.able, got, f.want)
				}
			})
		}
		// Continuing never depends on the fallback.
		wantCont := false
		for _, ok := range c.able {
			wantCont = wantCont || ok
		}
		if got := CanContinue(c.able); got != wantCont {
			t.Errorf("CanContinue(%v) = %v, want %v", c.able, got, wantCont)
		}
	}
}

func TestParseFallback(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Fallback
		ok   bool
	}{
		{"any", Any, true}, {"ANY", Any, true}, {" Preferred ", Preferred, true}, {"all", All, true},
		{"", 0, false}, {"first", 0, false}, {"al", 0, false},
	} {
		got, err := ParseFallback(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("ParseFallback(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
		if c.ok && got.String() != c.want.String() {
			t.Errorf("String round trip %q", c.in)
		}
	}
}

func TestRoomWindow(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	cases := []struct {
		after     time.Duration
		connected []bool
		want      RoomPhase
	}{
		{0, []bool{true, true}, Connected},
		{0, []bool{true}, Connected},
		{0, []bool{true, false}, Connecting},
		{0, []bool{false, true}, Connecting},
		{119 * time.Second, []bool{true, false}, Connecting},
		{120 * time.Second, []bool{true, false}, Degraded},
		{120 * time.Second, []bool{false, true}, Degraded},
		{10 * time.Minute, []bool{false, false}, Connecting},
		{10 * time.Minute, []bool{}, Connecting},
		{10 * time.Minute, []bool{true, true}, Connected},
	}
	for _, c := range cases {
		if got := Room(t0.Add(c.after), t0, c.connected); got != c.want {
			t.Errorf("Room(+%s, %v) = %s, want %s", c.after, c.connected, got, c.want)
		}
	}
}

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	names := []string{"preferred", "redundant"}
	cases := []struct {
		name      string
		f         Fallback
		after     time.Duration
		connected []bool
		able      []bool
		start     bool
		reason    string
	}{
		{"both up any", Any, 0, []bool{true, true}, []bool{true, true}, true, ""},
		{"both up all", All, 0, []bool{true, true}, []bool{true, true}, true, ""},
		{"one up waits in window", Any, 30 * time.Second, []bool{true, false}, []bool{true, false}, false,
			"still connecting to the room: waiting up to 1m30s more for redundant"},
		{"one up after window any", Any, 2 * time.Minute, []bool{true, false}, []bool{true, false}, true, ""},
		{"preferred down after window, preferred policy", Preferred, 3 * time.Minute, []bool{false, true}, []bool{false, true}, false,
			"fallback preferred: preferred cannot start a recording"},
		{"redundant down after window, preferred policy", Preferred, 3 * time.Minute, []bool{true, false}, []bool{true, false}, true, ""},
		{"one down after window, all policy", All, 3 * time.Minute, []bool{true, false}, []bool{true, false}, false,
			"fallback all: redundant cannot start a recording"},
		{"none reachable", Any, 3 * time.Minute, []bool{false, false}, []bool{false, false}, false, "no room server is reachable"},
		{"connected but login refused on one, all", All, 0, []bool{true, true}, []bool{true, false}, false,
			"fallback all: redundant cannot start a recording"},
		{"single-server room", Preferred, 0, []bool{true}, []bool{true}, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(c.f, t0.Add(c.after), t0, c.connected, c.able, names)
			if d.Start != c.start || d.Reason != c.reason {
				t.Errorf("Decide = %+v, want start=%v reason=%q", d, c.start, c.reason)
			}
		})
	}
}
