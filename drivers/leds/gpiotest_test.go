// This test drives the engine through periph's own fake pin (gpiotest).

package leds_test

import (
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"twincap/drivers/leds"
)

func TestGPIOWithGPIOTestPin(t *testing.T) {
	p := &gpiotest.Pin{N: "GPIO17", Num: 17}
	e, err := leds.New(leds.Config{}, leds.NewGPIO("status", p, true))
	if err != nil {
		t.Fatal(err)
	}
	e.Set("status", leds.Pulse)
	tests := []struct {
		at   int // ms after the first step
		want gpio.Level
	}{
		{0, gpio.Low}, // active low: lit
		{75, gpio.Low},
		{100, gpio.High},
		{1975, gpio.High},
		{2000, gpio.Low},
		{2100, gpio.High},
	}
	for _, tt := range tests {
		if err := e.Step(t0.Add(time.Duration(tt.at) * ms)); err != nil {
			t.Fatal(err)
		}
		p.Lock()
		got := p.L
		p.Unlock()
		if got != tt.want {
			t.Errorf("at %d ms: pin %v, want %v", tt.at, got, tt.want)
		}
	}
}
