// Package buffer holds the segments of one interview on the box until every
// server has them: Journaled keeps them in the durable journal (buffered
// mode), Window keeps only the last few in memory (unbuffered mode). Both
// wake the uplinks when a segment arrives. Edge holds the chunks of the
// segment being cut, so the uplinks can stream it before it is whole.
package buffer
