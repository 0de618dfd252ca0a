// Package pair compares a room server's settings with its paired server's.
//
// A Checker finds the paired server in the settings (paired.preferred or
// paired.redundant, whichever this server is not; port 0 is the standard
// port), reads its settings over TLS checked against the room CA, with a
// peer token made from the room key (server/auth), and compares them with
// settings.Compare (this server first). It checks at start, every
// Interval, when nudged (after a settings change) and when asked (Check),
// and logs the blocking and non-blocking differences whenever the outcome
// changes. Last is the latest Report.
package pair
