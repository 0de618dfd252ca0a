// Package leds drives the capture box's status LEDs, the only display a
// field technician has.
//
// Patterns decides what each LED shows for the box's state (Legend is the
// printed key, also in README.md); Level turns a Pattern into on/off as a pure
// function of time, so blinking is testable without waiting; an Engine owns
// the LEDs and writes their levels at each tick.
//
// Outputs: a GPIO line through periph (NewGPIO, LookupGPIO), a kernel LED
// class device (NewClass), and the recording fake in ledstest.
package leds
