package leds

import (
	"testing"
	"time"
)

const ms = time.Millisecond

func TestLevel(t *testing.T) {
	tests := []struct {
		p    Pattern
		at   time.Duration
		want bool
	}{
		{Off, 0, false},
		{Off, 1234 * ms, false},
		{Solid, 0, true},
		{Solid, time.Hour, true},
		{Blink, 0, true},
		{Blink, 249 * ms, true},
		{Blink, 250 * ms, false},
		{Blink, 499 * ms, false},
		{Blink, 500 * ms, true},
		{SlowBlink, 999 * ms, true},
		{SlowBlink, 1000 * ms, false},
		{SlowBlink, 2000 * ms, true},
		{FastBlink, 62 * ms, true},
		{FastBlink, 63 * ms, false},
		{FastBlink, 125 * ms, true},
		{Pulse, 0, true},
		{Pulse, 99 * ms, true},
		{Pulse, 100 * ms, false},
		{Pulse, 1999 * ms, false},
		{Pulse, 2000 * ms, true},
		{Wink, 0, false},
		{Wink, 249 * ms, false},
		{Wink, 250 * ms, true},
		{Wink, 1999 * ms, true},
		{Wink, 2000 * ms, false},
		{DoubleBlink, 0, true},
		{DoubleBlink, 150 * ms, false},
		{DoubleBlink, 300 * ms, true},
		{DoubleBlink, 450 * ms, false},
		{DoubleBlink, 1999 * ms, false},
		{Code1, 0, true},
		{Code1, 200 * ms, false},
		{Code1, 500 * ms, false}, // no second flash
		{Code2, 500 * ms, true},
		{Code2, 1000 * ms, false},
		{Code4, 1500 * ms, true},
		{Code4, 1700 * ms, false},
		{Code4, 2000 * ms, false},   // pause
		{Code4, 3000 * ms, true},    // next round
		{Blink, -time.Second, true}, // before the origin counts as the origin
		{Pattern(99), 0, false},     // invalid: dark
	}
	for _, tt := range tests {
		if got := Level(tt.p, tt.at); got != tt.want {
			t.Errorf("Level(%v, %v) = %v, want %v", tt.p, tt.at, got, tt.want)
		}
	}
}

// TestLevelShape samples each pattern over one of its periods at the
// default tick and checks what a watcher would count: time lit and
// flashes.
func TestLevelShape(t *testing.T) {
	tests := []struct {
		p       Pattern
		period  time.Duration
		lit     time.Duration
		flashes int // rising edges within the period, counting one at 0
	}{
		{Off, 2 * time.Second, 0, 0},
		{Solid, 2 * time.Second, 2 * time.Second, 1},
		{Blink, 500 * ms, 250 * ms, 1},
		{SlowBlink, 2 * time.Second, time.Second, 1},
		{FastBlink, 2 * time.Second, time.Second, 16},
		{Pulse, 2 * time.Second, 100 * ms, 1},
		{Wink, 2 * time.Second, 1750 * ms, 1},
		{DoubleBlink, 2 * time.Second, 300 * ms, 2},
		{Code1, 3 * time.Second, 200 * ms, 1},
		{Code2, 3 * time.Second, 400 * ms, 2},
		{Code3, 3 * time.Second, 600 * ms, 3},
		{Code4, 3 * time.Second, 800 * ms, 4},
	}
	const step = 12500 * time.Microsecond
	for _, tt := range tests {
		var lit time.Duration
		flashes, prev := 0, false
		for at := time.Duration(0); at < tt.period; at += step {
			on := Level(tt.p, at)
			if on {
				lit += step
			}
			if on && !prev {
				flashes++
			}
			prev = on
		}
		if lit != tt.lit || flashes != tt.flashes {
			t.Errorf("%v over %v: lit %v with %d flashes, want %v with %d", tt.p, tt.period, lit, flashes, tt.lit, tt.flashes)
		}
	}
}

func TestPatternString(t *testing.T) {
	tests := []struct {
		p    Pattern
		want string
	}{
		{Off, "off"}, {Solid, "solid"}, {Blink, "blink"}, {SlowBlink, "slow-blink"},
		{Pulse, "pulse"}, {FastBlink, "fast-blink"}, {Wink, "wink"},
		{DoubleBlink, "double-blink"}, {Code1, "code-1"}, {Code4, "code-4"},
		{Pattern(42), "Pattern(42)"}, {Pattern(-1), "Pattern(-1)"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("Pattern(%d).String() = %q, want %q", int(tt.p), got, tt.want)
		}
		if valid := tt.p.Valid(); valid != (tt.want[0] != 'P') {
			t.Errorf("%v.Valid() = %v", tt.p, valid)
		}
	}
}
