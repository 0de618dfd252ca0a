package leds

import (
	"fmt"
	"strings"
)

// LED names the status mapping uses; the box's outputs must carry them.
const (
	LEDPower  = "power"
	LEDStatus = "status"
	LEDFault  = "fault"
)

// ServerLEDName is the LED of the i-th server (0-based): "server1",
// "server2", numbered as on the box's label.
func ServerLEDName(i int) string { return fmt.Sprintf("server%d", i+1) }

// Fault kinds, as BoxState.Fault carries them.
const (
	FaultNone    = ""
	FaultCamera  = "camera"
	FaultAudio   = "audio"
	FaultDisk    = "disk"
	FaultServers = "servers"
)

// Server states, spelled as uplink.State.String() spells them.
const (
	ServerOffline    = "offline"
	ServerConnecting = "connecting"
	ServerOnline     = "online"
	ServerRecording  = "recording"
)

// ServerLED is what the box knows of one server.
type ServerLED struct {
	State   string // one of the Server* constants
	Viewing bool   // the livestream is watched from this server
}

// BoxState is everything the LEDs show. It is plain data so the daemon can
// build it from its own state without this package importing the firmware.
type BoxState struct {
	Power, Booting, Ready, Recording, Updating, ShuttingDown bool
	Fault                                                    string // one of the Fault* constants
	Servers                                                  []ServerLED
	Buffered                                                 bool // the recording mode
}

// Validate rejects fault kinds and server states the mapping does not know;
// Patterns still shows something for them (see there).
func (s BoxState) Validate() error {
	if faultPattern(s.Fault) == FastBlink {
		return fmt.Errorf("leds: box state: unknown fault %q", s.Fault)
	}
	for i, sv := range s.Servers {
		switch sv.State {
		case ServerOffline, ServerConnecting, ServerOnline, ServerRecording:
		default:
			return fmt.Errorf("leds: box state: %s: unknown state %q", ServerLEDName(i), sv.State)
		}
	}
	return nil
}

// Patterns decides every LED for s: power, status, fault and one per
// server. Precedence on the status LED, highest first: shutting down,
// updating, booting, recording, ready. An unknown fault kind flickers the
// fault LED (something is wrong even if we cannot say what); an unknown
// server state shows as offline.
func Patterns(s BoxState) map[string]Pattern {
	m := map[string]Pattern{
		LEDPower:  Off,
		LEDStatus: statusPattern(s),
		LEDFault:  faultPattern(s.Fault),
	}
	if s.Power {
		m[LEDPower] = Solid
	}
	for i, sv := range s.Servers {
		m[ServerLEDName(i)] = serverPattern(sv, s.Buffered)
	}
	return m
}

func statusPattern(s BoxState) Pattern {
	switch {
	case s.ShuttingDown:
		return Blink
	case s.Updating:
		return FastBlink // hurried on purpose: do not pull the plug
	case s.Booting:
		return SlowBlink
	case s.Recording:
		// Pulse rather than Solid, so "recording" and "ready" differ.
		return Pulse
	case s.Ready:
		return Solid
	}
	return Off
}

// faultPattern gives each fault kind its own blink code; a continuous fast
// blink could say "fault" but not which.
func faultPattern(f string) Pattern {
	switch f {
	case FaultNone:
		return Off
	case FaultCamera:
		return Code1
	case FaultAudio:
		return Code2
	case FaultDisk:
		return Code3
	case FaultServers:
		return Code4
	}
	return FastBlink
}

// serverPattern mirrors the box's server icon (firmware/box.Icon): each
// icon has one pattern and no two icons share one. The one addition is
// Connecting, which the icon shows as offline but the LED as a slow blink,
// so a technician can see the box is trying.
func serverPattern(sv ServerLED, buffered bool) Pattern {
	switch sv.State {
	case ServerConnecting:
		return SlowBlink
	case ServerOnline:
		if sv.Viewing && !buffered {
			return Wink // "Server online, viewing from this server"
		}
		return Solid // "Server online"
	case ServerRecording:
		if sv.Viewing || buffered {
			return Blink // "Server recording, viewing from this server"
		}
		return DoubleBlink // "Server online and recording"
	}
	return Off // "Server offline"
}

// legendRow is one line of the technician's legend. The rows are a table,
// not prose, so a test can check that every pattern Patterns can produce
// is explained and every row can occur.
type legendRow struct {
	led     string
	pattern Pattern
	means   string
}

const serverLEDs = "server1, server2"

var legend = []legendRow{
	{LEDPower, Solid, "box is powered and running"},
	{LEDPower, Off, "no power (or the software is not running)"},
	{LEDStatus, SlowBlink, "booting"},
	{LEDStatus, Solid, "ready, not recording"},
	{LEDStatus, Pulse, "recording"},
	{LEDStatus, FastBlink, "updating: do not unplug"},
	{LEDStatus, Blink, "shutting down: wait until it goes off"},
	{LEDStatus, Off, "not running"},
	{LEDFault, Off, "no fault"},
	{LEDFault, Code1, "camera fault"},
	{LEDFault, Code2, "audio (microphone) fault"},
	{LEDFault, Code3, "disk fault"},
	{LEDFault, Code4, "server fault: read the server LEDs"},
	{LEDFault, FastBlink, "fault of a kind this legend does not know: call support"},
	{serverLEDs, Off, "Server offline"},
	{serverLEDs, SlowBlink, "Server offline, connecting"},
	{serverLEDs, Solid, "Server online"},
	{serverLEDs, Wink, "Server online, viewing from this server (unbuffered mode)"},
	{serverLEDs, DoubleBlink, "Server online and recording (unbuffered mode)"},
	{serverLEDs, Blink, "Server recording, viewing from this server (buffered: any recording)"},
}

// Legend is the field technician's key to the LEDs, as a Markdown table.
// README.md carries the same text (a test keeps them equal).
func Legend() string {
	var b strings.Builder
	b.WriteString("| LED | Looks like | Means |\n| --- | --- | --- |\n")
	for _, r := range legend {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.led, r.pattern.Looks(), r.means)
	}
	b.WriteString("\nBoth server LEDs lit (on, winking or blinking; not off, not blinking slowly):\n" +
		"failover is set up and healthy.\n")
	return b.String()
}
