// Package watchdogtest has fakes for testing code that pets watchdogs: a
// watchdog device that records every call and expires on an injected clock
// when it is not petted in time, a clock moved by hand, and a ticker ticked
// by hand.
package watchdogtest
