package evidence

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"twincap/internal/durable"
	"twincap/server/settings"
)

// ErrNotFound: the queue has no recording with that ID.
var ErrNotFound = errors.New("evidence: recording not in the upload queue")

// Queue defaults.
const (
	DefaultBackoffBase = 30 * time.Second
	DefaultBackoffMax  = time.Hour
	DefaultPoll        = 10 * time.Minute
)

const (
	statusSuffix = ".json"
	auditSuffix  = ".audit"
	statusPerm   = 0o640
	dirPerm      = 0o750
)

// Clock is the queue's time: the real one in production, a fake in tests.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// QueueConfig configures a Queue.
type QueueConfig struct {
	// Dir holds one status file per recording (and copies of audit trails
	// given as bytes).
	Dir   string
	Role  settings.Role
	Alone bool // the room has one server: no waiting for a peer
	// Preferences are the seed's upload settings: Order, RetryAttempts,
	// TakeoverAfter, StalledAfter, SecondUploadIfMore, SecondUploadMargin.
	// Where to upload comes from the Uploader's Config instead.
	Preferences settings.Evidence
	// The n-th failed attempt waits BackoffBase·2^(n-1), at most
	// BackoffMax, before the next. 0: the defaults.
	BackoffBase, BackoffMax time.Duration
	// Poll is how often a recording that waits for the other server is
	// looked at again when no rule makes it due sooner. 0: DefaultPoll.
	Poll time.Duration
	// Clock nil: the real clock. Shuffle (for the random order) nil:
	// math/rand/v2.Shuffle.
	Clock   Clock
	Shuffle func(n int, swap func(i, j int))
	// Settled, when not nil, is called (from Run's goroutine) once a
	// recording's status has durably reached a final state (Done, Covered,
	// GivenUp, Conflict): the server audits it. It must not call back into
	// the queue's Run.
	Settled func(Status)
}

// Status is one recording's upload, as kept in its status file.
type Status struct {
	Version   int       `json:"version"`
	Recording Recording `json:"recording"`
	// Seq is the order in which recordings were added (the "standard"
	// upload order).
	Seq   uint64 `json:"seq"`
	Bytes int64  `json:"bytes"` // size of media.mp4 when added
	State State  `json:"state"`
	// Attempts counts failed attempts since the last success or Retry.
	Attempts   int       `json:"attempts"`
	NextAt     time.Time `json:"next_at,omitzero"` // zero: due now
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Reason     string    `json:"reason,omitempty"` // the last decision's
	LastError  string    `json:"last_error,omitempty"`
	// Marker is this server's upload when Done, the one that stands when
	// Covered.
	Marker *Marker `json:"marker,omitempty"`
}

// Queue uploads this server's finished recordings one at a time. Add, the
// getters and Retry may be called from any goroutine; Step is called by
// Run only (or by a test instead of Run).
type Queue struct {
	cfg   QueueConfig
	prefs settings.Evidence
	up    *Uploader
	peer  Peer
	log   *slog.Logger
	wake  chan struct{}

	mu    sync.Mutex // guards items, seq and rechecks (the maps, not the files)
	items map[string]Status
	seq   uint64
	// rechecks holds the recordings Recheck asked about since their last
	// look began: a look that decides to wait looks again at once.
	rechecks map[string]bool
}

// NewQueue loads the queue's state from cfg.Dir (creating it if needed).
// peer may be nil in a room with one server.
func NewQueue(cfg QueueConfig, up *Uploader, peer Peer, log *slog.Logger) (*Queue, error) {
	if cfg.Dir == "" || up == nil {
		return nil, fmt.Errorf("%w: queue needs a folder and an uploader", ErrInvalid)
	}
	if cfg.Preferences.RetryAttempts < 1 {
		return nil, fmt.Errorf("%w: retry attempts %d: want at least 1", ErrInvalid, cfg.Preferences.RetryAttempts)
	}
	if cfg.Preferences.Order == "" {
		cfg.Preferences.Order = settings.OrderDefault
	}
	if _, err := settings.ParseOrder(string(cfg.Preferences.Order)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if !cfg.Alone {
		if _, err := settings.ParseRole(string(cfg.Role)); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	cfg.BackoffBase = cmp.Or(cfg.BackoffBase, DefaultBackoffBase)
	cfg.BackoffMax = cmp.Or(cfg.BackoffMax, DefaultBackoffMax)
	cfg.Poll = cmp.Or(cfg.Poll, DefaultPoll)
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Shuffle == nil {
		cfg.Shuffle = rand.Shuffle
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	prefs := cfg.Preferences
	// A queue exists only where uploading is configured; settings.Decide
	// reads an empty endpoint as "not configured".
	prefs.Endpoint = cmp.Or(prefs.Endpoint, up.cfg.Endpoint)
	q := &Queue{cfg: cfg, prefs: prefs, up: up, peer: peer, log: log, wake: make(chan struct{}, 1), items: map[string]Status{}, rechecks: map[string]bool{}}
	if err := durable.MkdirAll(cfg.Dir, dirPerm); err != nil {
		return nil, fmt.Errorf("evidence: queue: %w", err)
	}
	if err := q.load(); err != nil {
		return nil, err
	}
	return q, nil
}

func (q *Queue) load() error {
	ents, err := os.ReadDir(q.cfg.Dir)
	if err != nil {
		return fmt.Errorf("evidence: queue: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if durable.IsTemp(name) {
			if err := os.Remove(filepath.Join(q.cfg.Dir, name)); err != nil {
				return fmt.Errorf("evidence: queue: %w", err)
			}
			continue
		}
		if !strings.HasSuffix(name, statusSuffix) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(q.cfg.Dir, name))
		if err != nil {
			return fmt.Errorf("evidence: queue: %w", err)
		}
		var st Status
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("evidence: queue: %s: %w", name, err)
		}
		if st.Version != formatVersion || st.Recording.ID+statusSuffix != name {
			return fmt.Errorf("evidence: queue: %s: version %d for recording %q not understood", name, st.Version, st.Recording.ID)
		}
		q.items[st.Recording.ID] = st
		q.seq = max(q.seq, st.Seq)
	}
	return nil
}

// save writes st durably, then makes it the item's state.
func (q *Queue) save(st Status) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("evidence: queue: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(q.cfg.Dir, st.Recording.ID+statusSuffix), append(b, '\n'), statusPerm); err != nil {
		return fmt.Errorf("evidence: queue: save %s: %w", st.Recording.ID, err)
	}
	q.mu.Lock()
	prev := q.items[st.Recording.ID].State
	q.items[st.Recording.ID] = st
	q.mu.Unlock()
	if q.cfg.Settled != nil && st.State.Final() && st.State != prev {
		q.cfg.Settled(st)
	}
	return nil
}

// Add queues a finalized recording. It returns once the recording's
// status (and a copy of rec.Audit, if given as bytes) is durable. Adding
// a recording that is already queued does nothing.
func (q *Queue) Add(rec Recording) error {
	if err := rec.validate(); err != nil {
		return err
	}
	if rec.FinalizedAt.IsZero() {
		return fmt.Errorf("%w: recording %s: no finalization time", ErrInvalid, rec.ID)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.items[rec.ID]; ok {
		return nil
	}
	fi, err := os.Stat(rec.MediaPath)
	if err != nil {
		return fmt.Errorf("evidence: add %s: %w", rec.ID, err)
	}
	if rec.Audit != nil {
		p := filepath.Join(q.cfg.Dir, rec.ID+auditSuffix)
		if err := durable.WriteFile(p, rec.Audit, statusPerm); err != nil {
			return fmt.Errorf("evidence: add %s: audit trail: %w", rec.ID, err)
		}
		rec.AuditPath, rec.Audit = p, nil
	}
	st := Status{Version: formatVersion, Recording: rec, Seq: q.seq + 1, Bytes: fi.Size(), State: Waiting}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("evidence: queue: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(q.cfg.Dir, rec.ID+statusSuffix), append(b, '\n'), statusPerm); err != nil {
		return fmt.Errorf("evidence: add %s: %w", rec.ID, err)
	}
	q.items[rec.ID] = st
	q.seq++
	q.log.Info("evidence: queued", "recording", rec.ID, "bytes", st.Bytes)
	q.poke()
	return nil
}

func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Status returns one recording's upload status.
func (q *Queue) Status(id string) (Status, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	st, ok := q.items[id]
	if !ok {
		return Status{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return st, nil
}

// List returns every recording's status in the order they were added.
func (q *Queue) List() []Status {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]Status, 0, len(q.items))
	for _, st := range q.items {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// Retry starts a recording that was given up again, with a fresh count
// of attempts.
func (q *Queue) Retry(id string) error {
	st, err := q.Status(id)
	if err != nil {
		return err
	}
	next, ok := Transition(st.State, EvRetry)
	if !ok {
		return fmt.Errorf("%w: %s is %s, only a given-up upload is retried", ErrInvalid, id, st.State)
	}
	st.State, st.Attempts, st.NextAt, st.LastError = next, 0, time.Time{}, ""
	if err := q.save(st); err != nil {
		return err
	}
	q.log.Info("evidence: retry", "recording", id)
	q.poke()
	return nil
}

// Recheck makes a recording that waits for the other server due now: the
// other server says it finished (or started) its upload, and this one
// need not wait for the next poll to see it in the store.
func (q *Queue) Recheck(id string) error {
	q.mu.Lock()
	st, ok := q.items[id]
	if !ok {
		q.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if st.State == Waiting {
		st.NextAt = time.Time{}
		q.items[id] = st
		q.rechecks[id] = true
	}
	q.mu.Unlock()
	q.poke()
	return nil
}

// PeerUpload is what this server tells the other one about a recording
// (the answer its peer API gives to Peer.PeerState).
func (q *Queue) PeerUpload(id string) (PeerUpload, error) {
	st, err := q.Status(id)
	if err != nil {
		return PeerUpload{}, err
	}
	p := PeerUpload{Bytes: st.Bytes, Started: st.StartedAt}
	if st.State == Done {
		p.Finished = st.FinishedAt
	}
	return p, nil
}

// Run uploads until ctx ends, waking when a recording is added or
// retried and when the next one is due. It returns nil when ctx ends and
// an error only when a status file cannot be written.
func (q *Queue) Run(ctx context.Context) error {
	for {
		next, err := q.Step(ctx)
		if err != nil {
			return err
		}
		var due <-chan time.Time
		if !next.IsZero() {
			due = q.cfg.Clock.After(max(0, next.Sub(q.cfg.Clock.Now())))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-q.wake:
		case <-due:
		}
	}
}

// Step takes every recording that is due, in the configured order, as far
// as it goes now: it decides, uploads, records the outcome. It returns
// when the next recording will be due (zero: none is waiting for a time).
func (q *Queue) Step(ctx context.Context) (next time.Time, err error) {
	now := q.cfg.Clock.Now()
	q.mu.Lock()
	var due []Status
	for _, st := range q.items {
		if !st.State.Final() && !st.NextAt.After(now) {
			due = append(due, st)
		}
	}
	q.mu.Unlock()
	slices.SortFunc(due, func(a, b Status) int { return cmp.Compare(a.Seq, b.Seq) })
	settings.Arrange(q.prefs.Order, due, func(s Status) time.Time { return s.Recording.FinalizedAt }, q.cfg.Shuffle)
	for _, st := range due {
		if ctx.Err() != nil {
			break
		}
		if err := q.process(ctx, st); err != nil {
			return time.Time{}, err
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, st := range q.items {
		if st.State.Final() {
			continue
		}
		at := st.NextAt
		if at.IsZero() { // due at once (added or interrupted meanwhile)
			at = now
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, nil
}

// apply moves st by e, logging the transition.
func (q *Queue) apply(st *Status, e Event) {
	next, ok := Transition(st.State, e)
	if !ok {
		// Step only handles states that take every decision event.
		panic(fmt.Sprintf("evidence: event %s in state %s", e, st.State))
	}
	if next != st.State {
		q.log.Info("evidence: "+next.String(), "recording", st.Recording.ID, "event", e.String(), "reason", st.Reason, "error", st.LastError)
	}
	st.State = next
}

// process takes one due recording one step.
func (q *Queue) process(ctx context.Context, st Status) error {
	now := q.cfg.Clock.Now()
	id := st.Recording.ID
	q.mu.Lock()
	delete(q.rechecks, id)
	q.mu.Unlock()
	found, err := q.up.Find(ctx, id)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, ErrConflict): // an unreadable claim or marker: a person must look
		st.LastError, st.NextAt = err.Error(), time.Time{}
		q.apply(&st, EvConflict)
		return q.save(st)
	default:
		return q.fail(st, now, err)
	}
	var peer PeerUpload
	if q.peer != nil && !q.cfg.Alone {
		if p, err := q.peer.PeerState(ctx, id); err == nil {
			peer = p
		} else {
			q.log.Debug("evidence: peer not asked", "recording", id, "error", err)
		}
	}
	d := Decide(q.prefs, Situation{
		Self:        q.up.cfg.ServerID,
		Role:        q.cfg.Role,
		Alone:       q.cfg.Alone,
		FinalizedAt: st.Recording.FinalizedAt,
		Bytes:       st.Bytes,
		Resume:      st.State == Uploading,
		Peer:        peer,
		Store:       found,
	}, now)
	st.Reason = d.Reason
	switch d.Action {
	case ActDone:
		m, _ := found.By(q.up.cfg.ServerID)
		st.Marker, st.NextAt, st.LastError = &m, time.Time{}, ""
		st.FinishedAt = cmp.Or(st.FinishedAt, m.CompletedAt)
		q.apply(&st, EvDone)
		return q.save(st)
	case ActCovered:
		var theirs []Marker
		for _, m := range found.Markers {
			if m.ServerID != q.up.cfg.ServerID {
				theirs = append(theirs, m)
			}
		}
		m, _ := ChooseEvidence(theirs)
		st.Marker, st.NextAt = &m, time.Time{}
		q.apply(&st, EvCovered)
		return q.save(st)
	case ActWait:
		st.NextAt = now.Add(q.cfg.Poll)
		if !d.RecheckAt.IsZero() && d.RecheckAt.Before(st.NextAt) {
			st.NextAt = d.RecheckAt
		}
		q.mu.Lock()
		if q.rechecks[id] { // asked to look again while this look was under way
			st.NextAt = now
		}
		q.mu.Unlock()
		q.apply(&st, EvWait)
		return q.save(st)
	}
	if st.StartedAt.IsZero() {
		st.StartedAt = now
	}
	q.apply(&st, EvUpload)
	if err := q.save(st); err != nil {
		return err
	}
	m, err := q.up.Upload(ctx, st.Recording, d.Reason)
	switch {
	case err == nil:
		st.Marker, st.NextAt, st.LastError, st.Attempts = &m, time.Time{}, "", 0
		st.FinishedAt = q.cfg.Clock.Now()
		q.apply(&st, EvDone)
		return q.save(st)
	case ctx.Err() != nil:
		// Shutting down: not an attempt that failed. The status stays
		// Uploading and the upload resumes after the restart.
		return nil
	case errors.Is(err, ErrConflict) || errors.Is(err, ErrVerify):
		st.LastError, st.NextAt = err.Error(), time.Time{}
		q.apply(&st, EvConflict)
		return q.save(st)
	}
	return q.fail(st, q.cfg.Clock.Now(), err)
}

// fail counts a failed attempt: backoff, or given up after the last.
func (q *Queue) fail(st Status, now time.Time, err error) error {
	st.Attempts++
	st.LastError = err.Error()
	if st.Attempts >= q.prefs.RetryAttempts {
		st.NextAt = time.Time{}
		q.apply(&st, EvExhausted)
		return q.save(st)
	}
	st.NextAt = now.Add(BackoffDelay(q.cfg.BackoffBase, q.cfg.BackoffMax, st.Attempts))
	q.apply(&st, EvFailed)
	return q.save(st)
}

// BackoffDelay is the wait after the n-th failed attempt (n ≥ 1):
// base·2^(n-1), at most max.
func BackoffDelay(base, max time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n; i++ {
		if d >= max/2 {
			return max
		}
		d *= 2
	}
	return min(d, max)
}
