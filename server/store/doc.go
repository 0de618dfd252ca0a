// Package store is the room server's durable segment store.
//
// Layout under the data folder:
//
//	recordings/<id>/recording.json   durable state: room, box, mode, start, gaps, finalized
//	recordings/<id>/segments/<segment.Name(seq)>
//	recordings/<id>/media.mp4        the segments concatenated in order (after Stop)
//	recordings/<id>/metadata.json    wire.Metadata (after Stop)
//	recordings/<id>/audit.json       the recording's audit trail (WriteAudit, after Stop)
//
// Every write is durable (write a temporary file, fsync, rename, fsync the
// folder) before the call returns, so a returned ack survives a power cut.
// What lives in memory (which segments are held, NextSeq) is rebuilt from
// the files on disk by New; temporary files left by a crash are removed.
//
// Each recording has its own small lock: requests for one recording are
// serialized, requests for different recordings run in parallel.
package store
