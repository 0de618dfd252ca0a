package evidence

import (
	"context"
	"time"

	"twincap/server/settings"
)

// PeerUpload is the other server's state for one recording ID, as its peer
// API reports it.
type PeerUpload = settings.PeerUpload

// Peer asks the other server of the room about a recording. An error is
// treated as "nothing known" (a zero PeerUpload): a peer that cannot be
// asked is exactly the case the takeover rules are for.
type Peer interface {
	PeerState(ctx context.Context, recordingID string) (PeerUpload, error)
}

// Situation is everything the decision needs about one recording.
type Situation struct {
	Self        string        // this server's ID
	Role        settings.Role // this server's role in the room
	Alone       bool          // the room has one server
	FinalizedAt time.Time     // when this server finalized the recording
	Bytes       int64         // how much of the recording this server holds
	// Resume is true when this server already started uploading the
	// recording (its own state says so).
	Resume bool
	Peer   PeerUpload // from the peer API; zero when it could not be asked
	Store  Found      // what the evidence store holds
}

// Action is what Decide tells the queue to do.
type Action int

// Actions.
const (
	ActWait    Action = iota // look again at RecheckAt (or at the next poll)
	ActUpload                // upload from this server now
	ActDone                  // this server's upload is already complete in the store
	ActCovered               // the other server's complete upload stands
)

var actionNames = [...]string{"wait", "upload", "done", "covered"}

func (a Action) String() string {
	if a < 0 || int(a) >= len(actionNames) {
		return "Action(?)"
	}
	return actionNames[a]
}

// Decision is Decide's answer with the reason for the log and the state.
type Decision struct {
	Action    Action
	Reason    string
	RecheckAt time.Time // for ActWait: when the answer changes by itself; zero: not by itself
}

// PeerView merges what the peer API says with what the store shows. The
// store is the truth about completion: only the other server's marker
// makes its upload finished (a partial upload is never taken for a whole
// one), and its size is what that upload holds. A claim by the other
// server shows that it started, even when it cannot be asked.
func PeerView(self string, api PeerUpload, store Found) PeerUpload {
	p := PeerUpload{Bytes: api.Bytes, Started: api.Started}
	if c := store.Claim; c != nil && c.ServerID != self && (p.Started.IsZero() || c.StartedAt.Before(p.Started)) {
		p.Started = c.StartedAt
	}
	var theirs []Marker
	for _, m := range store.Markers {
		if m.ServerID != self {
			theirs = append(theirs, m)
		}
	}
	if m, ok := ChooseEvidence(theirs); ok {
		p.Bytes, p.Finished = m.MediaBytes(), m.CompletedAt
		if p.Started.IsZero() || m.StartedAt.Before(p.Started) {
			p.Started = m.StartedAt
		}
	}
	return p
}

// Decide applies the upload preferences (settings.Evidence.Decide: the
// preferred server at once, the redundant one after TakeoverAfter, either
// after the other stalled for StalledAfter, a second upload by the server
// that holds more than SecondUploadMargin bytes more) to what this server,
// its peer and the store know about one recording.
func Decide(prefs settings.Evidence, s Situation, now time.Time) Decision {
	if _, ok := s.Store.By(s.Self); ok {
		return Decision{Action: ActDone, Reason: "this server's upload is complete in the store"}
	}
	if s.Resume || (s.Store.Claim != nil && s.Store.Claim.ServerID == s.Self) {
		return Decision{Action: ActUpload, Reason: "resuming this server's upload"}
	}
	peer := PeerView(s.Self, s.Peer, s.Store)
	d := prefs.Decide(settings.UploadState{
		Role:        s.Role,
		Alone:       s.Alone,
		FinalizedAt: s.FinalizedAt,
		Bytes:       s.Bytes,
		Peer:        peer,
	}, now)
	switch {
	case d.Upload:
		return Decision{Action: ActUpload, Reason: d.Reason}
	case !peer.Finished.IsZero():
		return Decision{Action: ActCovered, Reason: d.Reason}
	}
	return Decision{Action: ActWait, Reason: d.Reason, RecheckAt: d.RecheckAt}
}
