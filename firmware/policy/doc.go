// Package policy decides, from which servers are available, whether the box
// may proceed: the seed's server-failure fallback (ANY, PREFERRED, ALL) for
// starting an interview, "go on while at least one server is available" for
// continuing one, and the two-minute window in which the box keeps trying the
// second server of a room before it proceeds with the one it has.
//
// Everything here is a pure function of its inputs (the clock is a
// parameter), so it is tested as tables.
package policy
