package leds

import (
	"fmt"
	"sync"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3/gpioioctl" // registers the GPIO character device driver
)

var (
	gpioInitOnce sync.Once
	gpioInitErr  error
)

// LookupGPIO returns the LED on the GPIO line called line (its name in the
// device tree, as gpioinfo lists it), driven through /dev/gpiochip*.
func LookupGPIO(name, line string, activeLow bool) (Output, error) {
	// driverreg.Init may run once per process; every LED shares that run.
	gpioInitOnce.Do(func() { _, gpioInitErr = driverreg.Init() })
	if gpioInitErr != nil {
		return nil, fmt.Errorf("leds: gpio %s: init periph: %w", name, gpioInitErr)
	}
	p := gpioreg.ByName(line)
	if p == nil {
		return nil, fmt.Errorf("leds: gpio %s: no GPIO line %q (%d chips found)", name, line, len(gpioioctl.Chips))
	}
	return NewGPIO(name, p, activeLow), nil
}
