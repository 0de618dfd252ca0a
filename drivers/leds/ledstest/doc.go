// Package ledstest has fakes for testing code that drives LEDs: an LED that
// records every write with the time it happened, and a ticker ticked by
// hand.
package ledstest
