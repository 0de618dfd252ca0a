package leds

import (
	"fmt"
	"time"
)

// Pattern is how an LED lights over time.
type Pattern int

const (
	Off         Pattern = iota
	Solid               // steady on
	Blink               // 2 Hz, 50 %
	SlowBlink           // 0.5 Hz, 50 %
	Pulse               // a short flash every 2 s
	FastBlink           // 8 Hz, 50 %
	Wink                // on, with a short dark gap every 2 s
	DoubleBlink         // two quick flashes every 2 s
	Code1               // blink codes: n flashes, then a pause (fault kinds)
	Code2
	Code3
	Code4
)

func (p Pattern) String() string {
	switch p {
	case Off:
		return "off"
	case Solid:
		return "solid"
	case Blink:
		return "blink"
	case SlowBlink:
		return "slow-blink"
	case Pulse:
		return "pulse"
	case FastBlink:
		return "fast-blink"
	case Wink:
		return "wink"
	case DoubleBlink:
		return "double-blink"
	case Code1, Code2, Code3, Code4:
		return fmt.Sprintf("code-%d", p.flashes())
	}
	return fmt.Sprintf("Pattern(%d)", int(p))
}

// Valid reports whether p is one of the patterns above.
func (p Pattern) Valid() bool { return p >= Off && p <= Code4 }

// Looks is how the pattern appears to someone watching the LED, in the
// words of the legend.
func (p Pattern) Looks() string {
	switch p {
	case Off:
		return "off"
	case Solid:
		return "on"
	case Blink:
		return "blinks twice a second"
	case SlowBlink:
		return "blinks slowly (1 s on, 1 s off)"
	case Pulse:
		return "short flash every 2 s"
	case FastBlink:
		return "flickers fast (8 times a second)"
	case Wink:
		return "on, goes dark briefly every 2 s"
	case DoubleBlink:
		return "two quick flashes every 2 s"
	case Code1:
		return "1 flash, pause"
	case Code2, Code3, Code4:
		return fmt.Sprintf("%d flashes, pause", p.flashes())
	}
	return p.String()
}

func (p Pattern) flashes() int { return int(p-Code1) + 1 }

// Timings. Every edge is a multiple of 12.5 ms, so with the default 25 ms
// tick no on or off phase is shorter than two ticks except FastBlink's,
// whose 62.5 ms phases still alternate at every two or three ticks.
const (
	blinkPeriod     = 500 * time.Millisecond
	slowBlinkPeriod = 2 * time.Second
	fastBlinkPeriod = 125 * time.Millisecond
	// Pulse, Wink and DoubleBlink share a 2 s beat so LEDs showing them
	// flash together, which is easier to read than drifting flashes.
	beat       = 2 * time.Second
	flashOn    = 100 * time.Millisecond // Pulse's flash
	winkOff    = 250 * time.Millisecond // long enough not to be missed
	doubleOn   = 150 * time.Millisecond
	doubleGap  = 150 * time.Millisecond
	codeOn     = 200 * time.Millisecond // slow enough to count
	codeOff    = 300 * time.Millisecond
	codePeriod = 3 * time.Second // 4 flashes take 2 s: a 1 s pause remains
)

// Level reports whether an LED showing p is lit t after the pattern's time
// origin. It is a pure function so that tests (and the engine) never need a
// real clock. Negative t counts as 0; an invalid pattern is dark.
func Level(p Pattern, t time.Duration) bool {
	if t < 0 {
		t = 0
	}
	switch p {
	case Solid:
		return true
	case Blink:
		return t%blinkPeriod < blinkPeriod/2
	case SlowBlink:
		return t%slowBlinkPeriod < slowBlinkPeriod/2
	case FastBlink:
		return t%fastBlinkPeriod < fastBlinkPeriod/2
	case Pulse:
		return t%beat < flashOn
	case Wink:
		return t%beat >= winkOff
	case DoubleBlink:
		ph := t % beat
		return ph < doubleOn || (ph >= doubleOn+doubleGap && ph < 2*doubleOn+doubleGap)
	case Code1, Code2, Code3, Code4:
		ph := t % codePeriod
		step := codeOn + codeOff
		return ph < time.Duration(p.flashes())*step && ph%step < codeOn
	}
	return false
}
