package buffer

import "sync"

// Edge holds the CMAF chunks of the segment the encoder is cutting now,
// so that an uplink at the live edge can stream them to its server before
// the segment is whole (and journaled). It is not durable and never
// replaces the journal or the window: a server acknowledges a segment
// only once its uplink has read it back from there. Add is called from
// the encoder's goroutine, Parts and Changed from the uplinks'.
type Edge struct {
	mu    sync.Mutex
	seq   uint64
	parts [][]byte
	last  bool
	sig   signal
}

// NewEdge makes an empty edge.
func NewEdge() *Edge { return &Edge{} }

// Add takes chunk part of segment seq. Part 0 starts a new segment and
// drops the previous one's chunks; a chunk out of order (one was lost)
// drops the segment's chunks, so that no uplink streams it.
func (e *Edge) Add(seq uint64, part int, data []byte, last bool) {
	e.mu.Lock()
	switch {
	case part == 0:
		e.seq, e.parts, e.last = seq, [][]byte{data}, last
	case seq == e.seq && part == len(e.parts) && !e.last:
		e.parts = append(e.parts, data)
		e.last = last
	default:
		e.seq, e.parts, e.last = seq, nil, false
	}
	e.mu.Unlock()
	e.sig.fire()
}

// Parts returns segment seq's chunks from index from on, and whether the
// last of them is the segment's last. ok is false when the edge does not
// hold seq from its first chunk (not cut yet, or already replaced).
func (e *Edge) Parts(seq uint64, from int) (parts [][]byte, last, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seq != seq || len(e.parts) == 0 {
		return nil, false, false
	}
	if from < len(e.parts) {
		parts = e.parts[from:len(e.parts):len(e.parts)]
	}
	return parts, e.last, true
}

// Changed returns a channel closed at the next Add.
func (e *Edge) Changed() <-chan struct{} { return e.sig.changed() }
