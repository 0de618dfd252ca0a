package settings

import (
	"fmt"
	"slices"
	"time"
)

// Evidence is the evidence-upload settings: where finished recordings go
// (an S3-compatible store) and the seed's upload preferences for a room
// with two servers.
type Evidence struct {
	// Endpoint is the store's URL (https; http only without FIPS). Empty:
	// this server does not upload.
	Endpoint string `json:"endpoint" label:"Evidence endpoint"`
	Region   string `json:"region" label:"Evidence region"`
	Bucket   string `json:"bucket" label:"Evidence bucket"`
	// CredentialsRef names the file, in the server's credentials folder,
	// that holds the access key. The secret never appears in settings:
	// settings are shown to the box and written to logs.
	CredentialsRef string `json:"credentials_ref" label:"Evidence credentials"`
	// ObjectLockRetention keeps each uploaded object from being deleted or
	// overwritten for this long after its upload (S3 Object Lock); 0
	// uploads without a retention period.
	ObjectLockRetention Duration `json:"object_lock_retention" label:"Object Lock retention period"`
	// Order is the order in which waiting recordings are uploaded.
	Order UploadOrder `json:"upload_order" label:"Upload order"`
	// RetryAttempts is how many times one upload is attempted in all
	// before the server stops trying it (1: no retry).
	RetryAttempts int `json:"retry_attempts" label:"Retry attempts"`
	// TakeoverAfter: "upload from the other server if the existing upload
	// is not completed in". The redundant server uploads a recording when
	// the preferred one has not completed an upload of the same recording
	// ID this long after the redundant server finalized it. 0: never.
	TakeoverAfter Duration `json:"takeover_after" label:"Upload from the other server if existing upload is not completed in"`
	// StalledAfter: "check if a second upload is needed from the other
	// server after". When one server started uploading a recording and
	// has not finished this long after it started, the other server
	// uploads it. 0: never.
	StalledAfter Duration `json:"stalled_after" label:"Check if second upload is needed from the other server after"`
	// SecondUploadIfMore enables a second upload by the server that holds
	// more of a recording than the server that uploaded it, when it holds
	// more by over SecondUploadMargin bytes.
	SecondUploadIfMore bool  `json:"second_upload_if_more" label:"Enable second upload if the other server stores more evidence"`
	SecondUploadMargin int64 `json:"second_upload_margin_bytes" label:"Second upload margin (bytes)"`
}

// UploadOrder is the order of uploads.
type UploadOrder string

// Upload orders.
const (
	// OrderDefault lets twincap decide: oldest first, so that recordings
	// leave the room in the order they were made.
	OrderDefault UploadOrder = "default"
	// OrderStandard uploads in the order the recordings were read (as
	// listed by the store).
	OrderStandard    UploadOrder = "standard"
	OrderRandom      UploadOrder = "random"
	OrderNewestFirst UploadOrder = "newest_first"
	OrderOldestFirst UploadOrder = "oldest_first"
)

// ParseOrder rejects unknown orders.
func ParseOrder(s string) (UploadOrder, error) {
	switch o := UploadOrder(s); o {
	case OrderDefault, OrderStandard, OrderRandom, OrderNewestFirst, OrderOldestFirst:
		return o, nil
	}
	return "", fmt.Errorf("unknown upload order %q (want default, standard, random, newest_first or oldest_first)", s)
}

// UnmarshalText rejects unknown orders wherever an UploadOrder is decoded.
func (o *UploadOrder) UnmarshalText(b []byte) error {
	v, err := ParseOrder(string(b))
	if err != nil {
		return err
	}
	*o = v
	return nil
}

// Arrange puts items, as read, into the upload order o. finished gives an
// item's time (when the recording was finalized); shuffle is
// math/rand/v2.Shuffle or a seeded one in tests. Items with equal times
// keep their read order.
func Arrange[T any](o UploadOrder, items []T, finished func(T) time.Time, shuffle func(n int, swap func(i, j int))) {
	byTime := func(a, b T) int { return finished(a).Compare(finished(b)) }
	switch o {
	case OrderStandard:
	case OrderRandom:
		shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	case OrderNewestFirst:
		slices.SortStableFunc(items, func(a, b T) int { return -byTime(a, b) })
	default: // OrderDefault, OrderOldestFirst
		slices.SortStableFunc(items, byTime)
	}
}

// UploadState is what one server knows, at one moment, about a finalized
// recording it holds and about the same recording ID on the other server.
type UploadState struct {
	Role Role // this server's role (Paired.Role)
	// Alone is true in a room with one server.
	Alone       bool
	FinalizedAt time.Time // when this server finalized the recording
	Bytes       int64     // how much of the recording this server holds
	Uploaded    bool      // this server already uploaded it
	Peer        PeerUpload
}

// PeerUpload is the other server's state for the same recording ID, as last
// heard. A peer that could not be asked is a zero PeerUpload: it has not
// (as far as we know) started or finished an upload.
type PeerUpload struct {
	Bytes    int64     // how much of the recording it holds
	Started  time.Time // its upload began; zero: not started
	Finished time.Time // its upload completed; zero: not completed
}

// UploadDecision is the answer to "should this server upload now?".
type UploadDecision struct {
	Upload bool
	// Reason says why, or why not, for the log.
	Reason string
	// RecheckAt is when the answer changes if nothing is heard from the
	// other server meanwhile; zero when waiting alone changes nothing.
	RecheckAt time.Time
}

// Decide applies the upload preferences to one recording:
//
//   - the preferred server (or the only one) uploads at once, unless the
//     other server has already started or finished;
//   - the redundant server uploads once TakeoverAfter has passed since it
//     finalized the recording without the preferred server completing it;
//   - either server uploads when the other started StalledAfter ago and
//     has not finished;
//   - when the other server finished, this one uploads a second time only
//     if SecondUploadIfMore is on and it holds more than
//     SecondUploadMargin bytes more.
func (e Evidence) Decide(s UploadState, now time.Time) UploadDecision {
	switch {
	case e.Endpoint == "":
		return UploadDecision{Reason: "evidence upload is not configured"}
	case s.Uploaded:
		return UploadDecision{Reason: "already uploaded from this server"}
	case s.Alone:
		return UploadDecision{Upload: true, Reason: "only server of the room"}
	}
	p := s.Peer
	if !p.Finished.IsZero() {
		more := s.Bytes - p.Bytes
		if e.SecondUploadIfMore && more > e.SecondUploadMargin {
			return UploadDecision{Upload: true, Reason: fmt.Sprintf(
				"second upload: the other server uploaded %d bytes, this server holds %d more (margin %d)", p.Bytes, more, e.SecondUploadMargin)}
		}
		return UploadDecision{Reason: "the other server uploaded it"}
	}
	var due []time.Time
	if !p.Started.IsZero() && e.StalledAfter > 0 {
		at := p.Started.Add(time.Duration(e.StalledAfter))
		if !now.Before(at) {
			return UploadDecision{Upload: true, Reason: fmt.Sprintf(
				"the other server started uploading at %s and has not finished within %v", p.Started.UTC().Format(time.RFC3339), time.Duration(e.StalledAfter))}
		}
		due = append(due, at)
	}
	if s.Role == Redundant && e.TakeoverAfter > 0 {
		at := s.FinalizedAt.Add(time.Duration(e.TakeoverAfter))
		if !now.Before(at) {
			return UploadDecision{Upload: true, Reason: fmt.Sprintf(
				"the preferred server has not completed the upload within %v", time.Duration(e.TakeoverAfter))}
		}
		due = append(due, at)
	}
	if s.Role == Preferred && p.Started.IsZero() {
		return UploadDecision{Upload: true, Reason: "preferred server"}
	}
	d := UploadDecision{Reason: "waiting for the other server's upload"}
	if len(due) > 0 {
		d.RecheckAt = slices.MinFunc(due, time.Time.Compare)
	}
	return d
}
