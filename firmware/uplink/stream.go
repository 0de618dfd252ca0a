package uplink

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"twincap/encoder/segment"
	"twincap/firmware/roomclient"
	"twincap/server/wire"
)

// Edge is where the CMAF chunks of the segment being cut wait
// (buffer.Edge): at the live edge the uplink streams them to its server
// as they come instead of waiting for the whole segment.
type Edge interface {
	// Parts is segment seq's chunks from index from on, and whether the
	// last one ends the segment; ok is false when seq is not held from
	// its first chunk.
	Parts(seq uint64, from int) (parts [][]byte, last, ok bool)
	Changed() <-chan struct{} // closed at the next chunk
}

// Reasons a stream is given up for the ordinary path (the whole segment
// from the journal or window); none of them says the server is away.
var (
	errEdgeMoved     = errors.New("uplink: stream: the encoder moved on without the rest of the segment")
	errEdgeStalled   = errors.New("uplink: stream: no chunk and no segment in time")
	errEdgeDiffers   = errors.New("uplink: stream: the chunks sent are not the journaled segment")
	errStreamAborted = errors.New("uplink: stream: aborted")
)

// canStream reports whether j's next segment can go out as a stream: the
// live interview, nothing owed, and the encoder cutting that segment.
func (r *runner) canStream(j *job) bool {
	if j.Edge == nil || j.count != nil || j != r.live() || j.cursor < j.streamFrom || j.cursor != j.Src.Next() {
		return false
	}
	_, _, ok := j.Edge.Parts(j.cursor, 0)
	return ok
}

// stream sends segment j.cursor chunk by chunk while the encoder cuts it,
// the checksum in a trailer. The body ends, and the server may store and
// acknowledge it, only once the segment is in the journal (or window) and
// its checksum matches what was streamed: an ack still means the box held
// the segment durably first. Anything going wrong that does not mean the
// server is away leaves this segment to the ordinary path.
func (r *runner) stream(ctx context.Context, j *job) error {
	seq := j.cursor
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	trailer := roomclient.StreamTrailer()
	type result struct {
		ack wire.SegmentAck
		err error
	}
	res := make(chan result, 1)
	client := r.client
	go func() {
		ack, err := client.PutStream(sctx, j.Create.ID, seq, pr, trailer)
		pr.CloseWithError(errStreamAborted) // a request that ended early must not leave the writer blocked
		res <- result{ack, err}
	}()
	giveUp := func(why error) error {
		pw.CloseWithError(why)
		cancel()
		<-res
		r.log.Info("uplink: stream given up; the segment goes whole", "recording", j.Create.ID, "seq", seq, "why", why)
		j.streamFrom = seq + 1
		return nil
	}
	ended := func(rr result) error {
		// The server answered before the body ended: it refused the
		// stream or went away.
		if rr.err == nil {
			rr.err = fmt.Errorf("uplink: segment %d: answered before the stream ended", seq)
		}
		if roomclient.Transport(rr.err) {
			return rr.err
		}
		return giveUp(rr.err)
	}

	h := sha256.New()
	sent := 0
	stall := time.NewTimer(r.cfg.PutTimeout)
	defer stall.Stop()
	for {
		changed := j.Edge.Changed()
		parts, last, ok := j.Edge.Parts(seq, sent)
		if !ok {
			return giveUp(errEdgeMoved)
		}
		for _, p := range parts {
			if _, err := pw.Write(p); err != nil {
				return ended(<-res)
			}
			h.Write(p)
			sent++
		}
		if len(parts) > 0 {
			stall.Reset(r.cfg.PutTimeout)
		}
		if last {
			break
		}
		r.beat()
		select {
		case <-changed:
		case <-stall.C:
			return giveUp(errEdgeStalled)
		case rr := <-res:
			return ended(rr)
		case <-ctx.Done():
			return giveUp(ctx.Err())
		}
	}
	// The whole segment is sent; its end waits for the journal.
	for {
		changed := j.Src.Changed()
		if j.Src.Next() > seq {
			break
		}
		r.beat()
		select {
		case <-changed:
		case <-stall.C:
			return giveUp(errEdgeStalled)
		case rr := <-res:
			return ended(rr)
		case <-ctx.Done():
			return giveUp(ctx.Err())
		}
	}
	s, err := j.Src.Read(seq)
	if err != nil {
		return giveUp(err)
	}
	if segment.Checksum(h.Sum(nil)) != s.Sum {
		return giveUp(errEdgeDiffers)
	}
	trailer.Set(wire.HeaderChecksum, s.Sum.String())
	pw.Close()
	var rr result
	select {
	case rr = <-res:
	case <-time.After(r.cfg.PutTimeout):
		cancel()
		rr = <-res
	}
	if rr.err != nil {
		if roomclient.Transport(rr.err) {
			return rr.err
		}
		return giveUp(rr.err)
	}
	j.cursor = max(seq+1, rr.ack.NextSeq)
	r.viewers = rr.ack.Viewers
	if err := j.Src.Ack(r.cfg.Name, j.cursor); err != nil {
		r.log.Error("uplink: record ack", "err", err)
	}
	return nil
}
