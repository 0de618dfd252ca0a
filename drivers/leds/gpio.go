package leds

import (
	"fmt"

	"periph.io/x/conn/v3/gpio"
)

// GPIO is an LED on a GPIO line.
type GPIO struct {
	name      string
	pin       gpio.PinOut
	activeLow bool
}

// NewGPIO returns an LED on pin. activeLow is for LEDs wired between the
// supply and the pin, which light when the pin is driven low.
func NewGPIO(name string, pin gpio.PinOut, activeLow bool) Output {
	return &GPIO{name: name, pin: pin, activeLow: activeLow}
}

// Name is the LED's name, not the pin's.
func (g *GPIO) Name() string { return g.name }

// Set drives the pin; the first Set also makes it an output.
func (g *GPIO) Set(on bool) error {
	l := gpio.Level(on != g.activeLow)
	if err := g.pin.Out(l); err != nil {
		return fmt.Errorf("leds: gpio %s (pin %s): set %v: %w", g.name, g.pin.Name(), l, err)
	}
	return nil
}
