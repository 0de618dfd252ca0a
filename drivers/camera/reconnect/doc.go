// Package reconnect keeps video flowing while the real camera is away: it
// wraps a function that opens the camera, and when the camera fails (it
// is unplugged, its driver resets, it stops sending frames) it delivers a
// "camera lost" card at the configured rate, so that the interview and
// its audio go on, tries to open the camera again every Retry, and goes
// back to real video when the camera returns.
//
// Each outage is recorded (when video stopped, when it came back, why) so
// that the box can write the gap into the recording's metadata, and it is
// reported to a callback as it starts and ends, for the fault LED.
package reconnect
