// Package journal is the box's durable store of one interview (buffered
// mode): every segment is appended and fsynced before it is sent, each
// server's acknowledged position is kept, a server that comes back is
// backfilled from it, and after a power cut it is recovered with a torn tail
// cut, never trusted.
//
// A journal is a folder with four files: meta.json (the interview, replaced
// whole: tmp + fsync + rename + fsync of the folder), segments.log (a file
// header, then one checksummed record per segment; see record.go), acks.log
// (append-only, checksummed, compacted; see acks.go) and edge.log (the
// chunks of the segment being cut, each durable as it is cut, so that a
// power cut costs a chunk rather than a segment; see edge.go).
//
// Open's recovery rule, in short: damage at the end of the segment log is a
// torn write and is cut; damage followed by an intact record is not, and
// Open refuses it with ErrCorrupt rather than throw away segments that are
// durable and may still be owed to a server (see Open).
//
// One process owns a journal at a time; within it, one goroutine appends
// while others read and record acks.
package journal
