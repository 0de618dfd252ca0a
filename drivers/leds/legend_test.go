package leds

import (
	"os"
	"strings"
	"testing"
)

// allStates enumerates every BoxState the legend must explain: each flag
// combination, each fault, and each server state, viewed or not, in both
// modes.
func allStates() []BoxState {
	var out []BoxState
	faults := []string{FaultNone, FaultCamera, FaultAudio, FaultDisk, FaultServers, "unknown"}
	var servers []ServerLED
	for _, st := range []string{ServerOffline, ServerConnecting, ServerOnline, ServerRecording} {
		servers = append(servers, ServerLED{st, false}, ServerLED{st, true})
	}
	for flags := range 1 << 6 {
		for _, f := range faults {
			for _, sv := range servers {
				for _, buffered := range []bool{false, true} {
					out = append(out, BoxState{
						Power: flags&1 != 0, Booting: flags&2 != 0, Ready: flags&4 != 0,
						Recording: flags&8 != 0, Updating: flags&16 != 0, ShuttingDown: flags&32 != 0,
						Fault: f, Servers: []ServerLED{sv, sv}, Buffered: buffered,
					})
				}
			}
		}
	}
	return out
}

func TestLegendExplainsEveryPattern(t *testing.T) {
	type key struct {
		led string
		p   Pattern
	}
	rows := map[key]bool{}
	for _, r := range legend {
		k := key{r.led, r.pattern}
		if rows[k] {
			t.Errorf("legend has %s %v twice", r.led, r.pattern)
		}
		rows[k] = true
	}
	seen := map[key]bool{}
	for _, s := range allStates() {
		for led, p := range Patterns(s) {
			if strings.HasPrefix(led, "server") {
				led = serverLEDs
			}
			k := key{led, p}
			if !rows[k] {
				t.Fatalf("%s shows %v for %+v; the legend does not say what that means", led, p, s)
			}
			seen[k] = true
		}
	}
	for k := range rows {
		if !seen[k] {
			t.Errorf("legend row %s %v can never be shown", k.led, k.p)
		}
	}
	// Patterns alike to the eye must not share an LED: the technician
	// tells them apart by how they look.
	looks := map[string]string{}
	for _, r := range legend {
		k := r.led + "|" + r.pattern.Looks()
		if prev, ok := looks[k]; ok && prev != r.means {
			t.Errorf("%s: %q means both %q and %q", r.led, r.pattern.Looks(), prev, r.means)
		}
		looks[k] = r.means
	}
}

func TestReadmeHasLegend(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), Legend()) {
		t.Errorf("README.md does not contain Legend(); paste this in:\n%s", Legend())
	}
}
