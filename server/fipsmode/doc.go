// Package fipsmode gets a process into Go's FIPS 140-3 mode when its
// configuration asks for it. Go enters the mode only at start, from
// GODEBUG, so a process that is asked to and is not in it re-executes
// itself with GODEBUG=fips140=on, once. The room server (settings "fips")
// and the capture box (config "fips") both use it.
package fipsmode
