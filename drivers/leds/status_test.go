package leds_test

import (
	"strings"
	"testing"

	"twincap/drivers/leds"
	"twincap/firmware/box"
	"twincap/firmware/uplink"
	"twincap/server/wire"
)

func TestPatternsStatus(t *testing.T) {
	tests := []struct {
		name   string
		s      leds.BoxState
		power  leds.Pattern
		status leds.Pattern
	}{
		{"unpowered", leds.BoxState{}, leds.Off, leds.Off},
		{"powered, nothing yet", leds.BoxState{Power: true}, leds.Solid, leds.Off},
		{"booting", leds.BoxState{Power: true, Booting: true}, leds.Solid, leds.SlowBlink},
		{"ready", leds.BoxState{Power: true, Ready: true}, leds.Solid, leds.Solid},
		{"recording", leds.BoxState{Power: true, Ready: true, Recording: true}, leds.Solid, leds.Pulse},
		{"updating", leds.BoxState{Power: true, Ready: true, Updating: true}, leds.Solid, leds.FastBlink},
		{"updating beats booting", leds.BoxState{Power: true, Booting: true, Updating: true}, leds.Solid, leds.FastBlink},
		{"booting beats ready", leds.BoxState{Power: true, Booting: true, Ready: true}, leds.Solid, leds.SlowBlink},
		{"shutting down", leds.BoxState{Power: true, ShuttingDown: true}, leds.Solid, leds.Blink},
		{"shutting down beats all", leds.BoxState{Power: true, Booting: true, Ready: true, Recording: true, Updating: true, ShuttingDown: true}, leds.Solid, leds.Blink},
	}
	for _, tt := range tests {
		got := leds.Patterns(tt.s)
		if got[leds.LEDPower] != tt.power || got[leds.LEDStatus] != tt.status || got[leds.LEDFault] != leds.Off {
			t.Errorf("%s: power %v status %v fault %v, want %v %v off", tt.name,
				got[leds.LEDPower], got[leds.LEDStatus], got[leds.LEDFault], tt.power, tt.status)
		}
		if len(got) != 3 {
			t.Errorf("%s: %d LEDs without servers, want 3: %v", tt.name, len(got), got)
		}
	}
}

func TestPatternsFault(t *testing.T) {
	tests := []struct {
		fault string
		want  leds.Pattern
		valid bool
	}{
		{leds.FaultNone, leds.Off, true},
		{leds.FaultCamera, leds.Code1, true},
		{leds.FaultAudio, leds.Code2, true},
		{leds.FaultDisk, leds.Code3, true},
		{leds.FaultServers, leds.Code4, true},
		{"smoke", leds.FastBlink, false},
	}
	for _, tt := range tests {
		s := leds.BoxState{Power: true, Ready: true, Fault: tt.fault}
		got := leds.Patterns(s)
		if got[leds.LEDFault] != tt.want {
			t.Errorf("fault %q: %v, want %v", tt.fault, got[leds.LEDFault], tt.want)
		}
		if got[leds.LEDStatus] != leds.Solid {
			t.Errorf("fault %q changed the status LED to %v", tt.fault, got[leds.LEDStatus])
		}
		if err := s.Validate(); (err == nil) != tt.valid {
			t.Errorf("fault %q: Validate = %v", tt.fault, err)
		}
	}
}

func TestPatternsServers(t *testing.T) {
	tests := []struct {
		buffered bool
		state    string
		viewing  bool
		want     leds.Pattern
	}{
		{true, leds.ServerOffline, false, leds.Off},
		{true, leds.ServerOffline, true, leds.Off},
		{true, leds.ServerConnecting, false, leds.SlowBlink},
		{true, leds.ServerConnecting, true, leds.SlowBlink},
		{true, leds.ServerOnline, false, leds.Solid},
		{true, leds.ServerOnline, true, leds.Solid}, // buffered has no "online, viewing" icon
		{true, leds.ServerRecording, false, leds.Blink},
		{true, leds.ServerRecording, true, leds.Blink},
		{false, leds.ServerOffline, false, leds.Off},
		{false, leds.ServerOffline, true, leds.Off},
		{false, leds.ServerConnecting, false, leds.SlowBlink},
		{false, leds.ServerConnecting, true, leds.SlowBlink},
		{false, leds.ServerOnline, false, leds.Solid},
		{false, leds.ServerOnline, true, leds.Wink},
		{false, leds.ServerRecording, false, leds.DoubleBlink},
		{false, leds.ServerRecording, true, leds.Blink},
		{false, "bogus", false, leds.Off},
	}
	for _, tt := range tests {
		s := leds.BoxState{Buffered: tt.buffered, Servers: []leds.ServerLED{
			{State: leds.ServerOnline},
			{State: tt.state, Viewing: tt.viewing},
		}}
		got := leds.Patterns(s)
		if got["server2"] != tt.want || got["server1"] != leds.Solid {
			t.Errorf("buffered=%v %s viewing=%v: server2 %v server1 %v, want %v solid",
				tt.buffered, tt.state, tt.viewing, got["server2"], got["server1"], tt.want)
		}
		err := s.Validate()
		if bogus := tt.state == "bogus"; (err != nil) != bogus || (bogus && !strings.Contains(err.Error(), "server2")) {
			t.Errorf("%s: Validate = %v", tt.state, err)
		}
	}
}

// TestServerLEDsMirrorIcons checks the server LEDs against the box's icons
// themselves: each icon has exactly one pattern and no two icons share one.
// Connecting is the exception on purpose: its icon reads offline, its LED
// blinks slowly.
func TestServerLEDsMirrorIcons(t *testing.T) {
	byIcon := map[string]leds.Pattern{}
	byPattern := map[leds.Pattern]string{}
	for _, mode := range []wire.Mode{wire.Buffered, wire.Unbuffered} {
		for _, st := range []uplink.State{uplink.Offline, uplink.Connecting, uplink.Online, uplink.Recording} {
			for _, viewing := range []bool{false, true} {
				s := leds.BoxState{Buffered: mode == wire.Buffered, Servers: []leds.ServerLED{{State: st.String(), Viewing: viewing}}}
				if err := s.Validate(); err != nil {
					t.Fatalf("uplink state %v: %v", st, err)
				}
				p := leds.Patterns(s)[leds.ServerLEDName(0)]
				if st == uplink.Connecting {
					if p != leds.SlowBlink {
						t.Errorf("%s connecting: %v", mode, p)
					}
					continue
				}
				icon := box.Icon(mode, st, viewing)
				if q, ok := byIcon[icon]; ok && q != p {
					t.Errorf("icon %q shows as both %v and %v", icon, q, p)
				}
				if other, ok := byPattern[p]; ok && other != icon {
					t.Errorf("%v shows both %q and %q", p, other, icon)
				}
				byIcon[icon], byPattern[p] = p, icon
			}
		}
	}
	if len(byIcon) != 5 {
		t.Errorf("saw %d icons, want the seed's 5: %v", len(byIcon), byIcon)
	}
}
