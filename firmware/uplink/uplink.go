package uplink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"twincap/encoder/segment"
	"twincap/firmware/buffer"
	"twincap/firmware/roomclient"
	"twincap/server/wire"
)

// Source is where an interview's segments wait for the servers: the box's
// journal or its in-memory window (package buffer).
type Source interface {
	Next() uint64 // segments 0..Next()-1 have been appended
	Oldest() uint64
	Read(seq uint64) (segment.Segment, error) // buffer.ErrGone when no longer held
	Changed() <-chan struct{}                 // closed at the next append
	Ack(server string, next uint64) error     // the server holds 0..next-1
}

// ErrUnavailable is returned by Begin when the server is not online.
var ErrUnavailable = errors.New("uplink: server not available")

// Config is one server's uplink.
type Config struct {
	Name string // "preferred" or "redundant": the key for acks and status
	// RequestTimeout bounds a small request (health, create, stop); it is
	// what lets a silent server be marked offline within about a second.
	RequestTimeout time.Duration
	// PutTimeout bounds a segment upload.
	PutTimeout time.Duration
	// Heartbeat is how often an idle connection is checked.
	Heartbeat time.Duration
	// Retry is the pause between dials of an offline server.
	Retry time.Duration
	// Window is how many segments are on the wire at once while the
	// server is behind (a backfill); at the live edge it is one. The
	// server writes side-by-side segments side by side, so their fsyncs
	// share the disk's journal commits.
	Window int
	// Beat, if set, is called each time the uplink's loop goes round (at
	// least every Heartbeat or Retry, and every second of a long request),
	// whether or not the server answers: the box's watchdog sees the
	// goroutine is alive.
	Beat func()
}

func (c *Config) defaults() {
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 800 * time.Millisecond
	}
	if c.PutTimeout <= 0 {
		c.PutTimeout = 3 * time.Second
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 250 * time.Millisecond
	}
	if c.Retry <= 0 {
		c.Retry = 300 * time.Millisecond
	}
	if c.Window <= 0 {
		c.Window = 4
	}
}

// Job is one interview as an uplink carries it to its server.
type Job struct {
	Create wire.CreateRequest
	Src    Source
	// Edge, when not nil, holds the chunks of the segment being cut: at
	// the live edge they are streamed as they come (see stream).
	Edge Edge
}

// Status is a snapshot of one uplink for the box's status and LEDs.
type Status struct {
	Name       string    `json:"name"`
	State      State     `json:"-"`
	StateName  string    `json:"state"`
	NeedsLogin bool      `json:"needs_login,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
	BootID     string    `json:"boot_id,omitempty"`
	Since      time.Time `json:"since"`
	// Viewers is how many browsers watched the livestream from this
	// server at its last health check or segment ack (0 while it is not
	// reachable).
	Viewers int `json:"viewers,omitempty"`
	// Per recording: how far this server holds it, and whether it is
	// finalized there.
	Recordings map[string]JobStatus `json:"recordings,omitempty"`
	// Done lists recordings this server has finalized or deleted since
	// the uplink started; the box drops a journal when every server has.
	Done map[string]bool `json:"-"`
}

// JobStatus is one recording on one server.
type JobStatus struct {
	Acked     uint64 `json:"acked"`
	Created   bool   `json:"created"`
	Stopping  bool   `json:"stopping,omitempty"`
	Cancelled bool   `json:"cancelled,omitempty"`
	Gaps      int    `json:"gaps,omitempty"`
}

// job is the uplink goroutine's own view of one recording on its server.
type job struct {
	Job
	created   bool    // created (or resumed) since the server last answered a dial
	cursor    uint64  // next segment to send
	count     *uint64 // final count once stopping
	cancelled bool    // a DELETE is owed
	gaps      int
	// streamFrom is the first segment that may be streamed: a stream
	// given up leaves its segment to the ordinary path.
	streamFrom uint64
}

type request struct {
	begin   *Job
	stop    string
	count   uint64
	outages []wire.Outage
	cancel  string
	ticket  *string
	reply   chan error
}

// Server is the uplink to one room server. Run owns all of its state;
// other goroutines talk to it through Begin, Stop, Cancel, SetTicket and
// Status.
type Server struct {
	cfg    Config
	client *roomclient.Client
	log    *slog.Logger
	reqs   chan request

	mu     sync.Mutex // guards status only
	status Status
}

// New makes an uplink over client (which has no ticket yet).
func New(cfg Config, client *roomclient.Client, log *slog.Logger) *Server {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	return &Server{
		cfg:    cfg,
		client: client,
		log:    log.With("server", cfg.Name),
		reqs:   make(chan request),
		status: Status{Name: cfg.Name, State: Offline, StateName: Offline.String(), Since: time.Now(), Done: map[string]bool{}},
	}
}

// Name is the configured name.
func (u *Server) Name() string { return u.cfg.Name }

func (u *Server) send(ctx context.Context, r request) error {
	r.reply = make(chan error, 1)
	select {
	case u.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Begin hands the uplink a new interview and waits until its server has
// created the recording, or says why it could not. Either way the uplink
// keeps the job: a server that is away gets it when it returns.
func (u *Server) Begin(ctx context.Context, j Job) error {
	return u.send(ctx, request{begin: &j})
}

// Stop tells the uplink the interview has count segments; once its server
// holds them all it finalizes the recording there.
func (u *Server) Stop(ctx context.Context, id string, count uint64) error {
	return u.send(ctx, request{stop: id, count: count})
}

// StopWith is Stop for an interview that learned of outages while it ran
// (the camera was lost): the recording is created again with them first,
// so the server keeps them in its metadata.
func (u *Server) StopWith(ctx context.Context, id string, count uint64, outages []wire.Outage) error {
	return u.send(ctx, request{stop: id, count: count, outages: outages})
}

// Cancel drops the recording and deletes it on the server (now, or when
// the server is back).
func (u *Server) Cancel(ctx context.Context, id string) error {
	return u.send(ctx, request{cancel: id})
}

// SetTicket gives the uplink the operator's session; a server that refused
// the old one is tried again.
func (u *Server) SetTicket(ctx context.Context, ticket string) error {
	return u.send(ctx, request{ticket: &ticket})
}

// Status is a copy of the current status.
func (u *Server) Status() Status {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.status
	s.Recordings = maps(s.Recordings)
	s.Done = mapsBool(s.Done)
	return s
}

func maps(m map[string]JobStatus) map[string]JobStatus {
	out := make(map[string]JobStatus, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func mapsBool(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// runner is the state owned by Run's goroutine.
type runner struct {
	*Server
	state      State
	jobs       []*job // oldest first; the newest is the live interview
	client     *roomclient.Client
	needsLogin bool
	bootID     string
	lastErr    string
	viewers    int // from the last health check or segment ack
	done       map[string]bool
}

// Run carries jobs to the server until ctx ends.
func (u *Server) Run(ctx context.Context) error {
	r := &runner{Server: u, state: Offline, client: u.client, done: map[string]bool{}}
	for ctx.Err() == nil {
		r.beat()
		r.publish()
		switch r.state {
		case Offline:
			if !r.wait(ctx, time.After(u.cfg.Retry), nil, nil) {
				continue
			}
			r.fire(EvDial)
		case Connecting:
			r.dial(ctx)
		default:
			if r.step(ctx) {
				continue
			}
			// Nothing to send: wait for a segment, a request, or the
			// heartbeat that checks the server is still there.
			var changed, edge <-chan struct{}
			if j := r.live(); j != nil && !j.cancelled {
				changed = j.Src.Changed()
				if j.Edge != nil {
					edge = j.Edge.Changed()
				}
			}
			if r.wait(ctx, time.After(u.cfg.Heartbeat), changed, edge) {
				r.heartbeat(ctx)
			}
		}
	}
	return nil
}

// wait blocks until the timer fires (true), or a request or a change came
// in (false).
func (r *runner) wait(ctx context.Context, timer <-chan time.Time, changed, edge <-chan struct{}) bool {
	select {
	case <-ctx.Done():
		return false
	case req := <-r.reqs:
		r.handle(ctx, req)
		return false
	case <-changed:
		return false
	case <-edge:
		return false
	case <-timer:
		return true
	}
}

func (r *runner) fire(e Event) {
	next := Transition(r.state, e)
	if next != r.state {
		r.log.Info("uplink: state", "from", r.state, "to", next, "event", e)
		if next == Offline {
			r.client.CloseIdle()
		}
		r.state = next
		r.mu.Lock()
		r.status.Since = time.Now()
		r.mu.Unlock()
		r.publish()
	}
}

func (r *runner) failed(op string, err error) {
	r.lastErr = fmt.Sprintf("%s: %v", op, err)
	if r.state != Offline {
		r.log.Warn("uplink: server failed", "op", op, "err", err)
	}
	r.fire(EvFailed)
}

// checkHealth asks the server whether it is up. A new boot ID means it
// restarted: every recording must be created there again, and the server
// answers where each one stands.
func (r *runner) checkHealth(ctx context.Context) bool {
	cctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	h, err := r.client.Health(cctx)
	cancel()
	if err != nil {
		r.viewers = 0
		r.failed("health", err)
		return false
	}
	r.viewers = h.Viewers
	if h.BootID != r.bootID {
		if r.bootID != "" {
			r.log.Info("uplink: server restarted", "boot_id", h.BootID)
		}
		r.bootID = h.BootID
		r.forgetCreated()
	}
	return true
}

func (r *runner) forgetCreated() {
	for _, j := range r.jobs {
		j.created = false
	}
}

func (r *runner) dial(ctx context.Context) {
	if !r.checkHealth(ctx) {
		return
	}
	r.lastErr = ""
	// Whatever happened while it was away, the server tells where each
	// recording stands when it is created again.
	r.forgetCreated()
	r.fire(EvDialOK)
}

func (r *runner) heartbeat(ctx context.Context) { r.checkHealth(ctx) }

func (r *runner) live() *job {
	if len(r.jobs) == 0 {
		return nil
	}
	return r.jobs[len(r.jobs)-1]
}

func (r *runner) find(id string) *job {
	for _, j := range r.jobs {
		if j.Create.ID == id {
			return j
		}
	}
	return nil
}

func (r *runner) handle(ctx context.Context, req request) {
	var err error
	switch {
	case req.ticket != nil:
		r.client = r.client.WithTicket(*req.ticket)
		r.needsLogin = false
	case req.begin != nil:
		j := r.find(req.begin.Create.ID)
		if j == nil {
			j = &job{Job: *req.begin}
			r.jobs = append(r.jobs, j)
		}
		if r.state == Online || r.state == Recording {
			err = r.create(ctx, j)
		} else {
			err = fmt.Errorf("%w: %s is %s", ErrUnavailable, r.cfg.Name, r.state)
		}
	case req.stop != "":
		if j := r.find(req.stop); j != nil {
			n := req.count
			j.count = &n
			if len(req.outages) > 0 {
				j.Create.Outages = append(slices.Clone(j.Create.Outages), req.outages...)
				j.created = false // the create that carries them comes before the stop
			}
		}
	case req.cancel != "":
		if j := r.find(req.cancel); j != nil {
			j.cancelled = true
		} else {
			r.jobs = append(r.jobs, &job{Job: Job{Create: wire.CreateRequest{ID: req.cancel}}, cancelled: true})
		}
	}
	req.reply <- err
	r.publish()
}

// create opens (or resumes) j on the server and sets the cursor to where
// the server stands.
func (r *runner) create(ctx context.Context, j *job) error {
	if r.client.Ticket() == "" {
		r.needsLogin = true
		return fmt.Errorf("uplink: %s: %w", r.cfg.Name, roomclient.ErrUnauthorized)
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	st, err := r.client.Create(cctx, j.Create)
	cancel()
	if err != nil {
		if errors.Is(err, roomclient.ErrUnauthorized) {
			r.needsLogin = true
			r.lastErr = "login needed: " + err.Error()
			return err
		}
		if roomclient.Transport(err) {
			r.failed("create", err)
		}
		r.lastErr = err.Error()
		return err
	}
	j.created = true
	j.cursor = st.NextSeq
	if st.State == wire.StateFinalized {
		r.finish(j, "already finalized")
		return nil
	}
	r.fire(EvBegin)
	return nil
}

// step does one unit of work (one request) for the first job that has
// some, and reports whether it did anything.
func (r *runner) step(ctx context.Context) bool {
	// The live interview first, then what is owed from earlier ones.
	order := slices.Clone(r.jobs)
	slices.Reverse(order)
	for _, j := range order {
		did, err := r.stepJob(ctx, j)
		if err != nil {
			if roomclient.Transport(err) {
				r.failed(fmt.Sprintf("recording %s", j.Create.ID), err)
				return true
			}
			r.lastErr = err.Error()
			continue
		}
		if did {
			return true
		}
	}
	return false
}

func (r *runner) stepJob(ctx context.Context, j *job) (bool, error) {
	if j.cancelled {
		if r.needsLogin && r.client.Ticket() == "" {
			return false, nil
		}
		cctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
		err := r.client.Delete(cctx, j.Create.ID)
		cancel()
		if err != nil && !errors.Is(err, roomclient.ErrNotFound) {
			if errors.Is(err, roomclient.ErrUnauthorized) {
				r.needsLogin = true
			}
			return false, err
		}
		r.finish(j, "deleted")
		return true, nil
	}
	if r.needsLogin {
		return false, nil
	}
	if !j.created {
		if err := r.create(ctx, j); err != nil {
			return false, err
		}
		return true, nil
	}
	if j.cursor < j.Src.Next() {
		return true, r.sendNext(ctx, j)
	}
	if r.canStream(j) {
		return true, r.stream(ctx, j)
	}
	if j.count != nil && j.cursor >= *j.count {
		return true, r.stop(ctx, j)
	}
	return false, nil
}

func (r *runner) sendNext(ctx context.Context, j *job) error {
	n := min(j.Src.Next()-j.cursor, uint64(r.cfg.Window))
	segs := make([]segment.Segment, 0, n)
	for seq := j.cursor; seq < j.cursor+n; seq++ {
		s, err := j.Src.Read(seq)
		if errors.Is(err, buffer.ErrGone) && len(segs) == 0 {
			return r.gap(ctx, j)
		}
		if err != nil {
			if len(segs) > 0 {
				break // send what was read; the next step sees the rest
			}
			return fmt.Errorf("uplink: read segment %d: %w", seq, err)
		}
		segs = append(segs, s)
	}
	acks := make([]wire.SegmentAck, len(segs))
	g, gctx := errgroup.WithContext(ctx)
	for i, s := range segs {
		g.Go(func() error {
			cctx, cancel := context.WithTimeout(gctx, r.cfg.PutTimeout)
			defer cancel()
			ack, err := r.client.Put(cctx, j.Create.ID, s)
			acks[i] = ack
			return err
		})
	}
	if err := g.Wait(); err != nil {
		// What did arrive is held there; the server says so (NextSeq)
		// when the recording is created again or the next ack comes.
		return err
	}
	j.cursor = segs[len(segs)-1].Seq + 1
	for _, ack := range acks {
		j.cursor = max(j.cursor, ack.NextSeq)
	}
	r.viewers = acks[len(acks)-1].Viewers
	if err := j.Src.Ack(r.cfg.Name, j.cursor); err != nil {
		r.log.Error("uplink: record ack", "err", err)
	}
	return nil
}

// gap tells the server that the segments from j.cursor on are no longer
// on the box (unbuffered mode), so its metadata says what it lacks.
func (r *runner) gap(ctx context.Context, j *job) error {
	g := wire.Gap{From: j.cursor, To: j.Src.Oldest(), Reason: "server away longer than the box's unbuffered window"}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	_, err := r.client.Gap(cctx, j.Create.ID, g)
	cancel()
	if err != nil {
		return err
	}
	r.log.Warn("uplink: gap recorded", "recording", j.Create.ID, "from", g.From, "to", g.To)
	j.gaps++
	j.cursor = g.To
	return nil
}

func (r *runner) beat() {
	if r.cfg.Beat != nil {
		r.cfg.Beat()
	}
}

// beating calls Beat every second until the returned func is called: for a
// request that may rightly take long (the server builds the MP4 at stop).
func (r *runner) beating() func() {
	if r.cfg.Beat == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				r.cfg.Beat()
			}
		}
	}()
	return func() { close(done) }
}

func (r *runner) stop(ctx context.Context, j *job) error {
	// The server builds the MP4 before it answers: allow for the copy of
	// every segment (generously 20 ms each) on top of a segment upload.
	cctx, cancel := context.WithTimeout(ctx, r.cfg.PutTimeout+time.Duration(*j.count)*20*time.Millisecond)
	quiet := r.beating()
	st, err := r.client.Stop(cctx, j.Create.ID, wire.StopRequest{Count: *j.count, StoppedAt: time.Now().UTC()})
	quiet()
	cancel()
	if errors.Is(err, roomclient.ErrConflict) && len(st.Missing) > 0 {
		j.cursor = slices.Min(st.Missing)
		r.log.Warn("uplink: server lacks segments at stop; resending", "recording", j.Create.ID, "from", j.cursor)
		return nil
	}
	if err != nil {
		return err
	}
	r.finish(j, "finalized")
	return nil
}

func (r *runner) finish(j *job, how string) {
	r.log.Info("uplink: recording done on server", "recording", j.Create.ID, "how", how)
	r.done[j.Create.ID] = true
	r.jobs = slices.DeleteFunc(r.jobs, func(x *job) bool { return x == j })
	if len(r.jobs) == 0 {
		r.fire(EvIdle)
	}
	r.publish()
}

func (r *runner) publish() {
	recs := make(map[string]JobStatus, len(r.jobs))
	for _, j := range r.jobs {
		recs[j.Create.ID] = JobStatus{Acked: j.cursor, Created: j.created, Stopping: j.count != nil, Cancelled: j.cancelled, Gaps: j.gaps}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status.State = r.state
	r.status.StateName = r.state.String()
	r.status.NeedsLogin = r.needsLogin
	r.status.LastError = r.lastErr
	r.status.BootID = r.bootID
	r.status.Viewers = r.viewers
	if r.state == Offline || r.state == Connecting {
		r.status.Viewers = 0
	}
	r.status.Recordings = recs
	r.status.Done = mapsBool(r.done)
}
