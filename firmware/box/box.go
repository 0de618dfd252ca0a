package box

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"twincap/drivers/audio"
	"twincap/drivers/camera"
	"twincap/drivers/camera/reconnect"
	"twincap/drivers/leds"
	"twincap/encoder"
	"twincap/encoder/segment"
	"twincap/firmware/buffer"
	"twincap/firmware/config"
	"twincap/firmware/journal"
	"twincap/firmware/policy"
	"twincap/firmware/roomclient"
	"twincap/firmware/updater"
	"twincap/firmware/uplink"
	"twincap/server/wire"
)

// Sentinel errors the control API maps to replies.
var (
	ErrNotLoggedIn = errors.New("box: no operator is logged in")
	ErrBusy        = errors.New("box: an interview is already running")
	ErrIdle        = errors.New("box: no interview is running")
	ErrCannotStart = errors.New("box: interview cannot start")
)

// Phase is the interview state machine's state.
type Phase int

const (
	Idle         Phase = iota // no interview
	Recording                 // capturing, encoding, sending
	Stopping                  // the pipeline is flushing its last segment
	ShuttingDown              // the daemon is stopping; the interview goes on after the restart
)

func (p Phase) String() string {
	switch p {
	case Idle:
		return "idle"
	case Recording:
		return "recording"
	case Stopping:
		return "stopping"
	case ShuttingDown:
		return "shutting down"
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// Deps are what the box needs from outside: its sources, clock and logger.
type Deps struct {
	OpenCamera     func(config.Config) (camera.Camera, error)
	OpenMicrophone func(config.Config) (audio.Microphone, error) // nil: video only
	TLS            *tls.Config
	Now            func() time.Time
	Log            *slog.Logger
	// Uplink tunes the uplinks' timeouts (tests shorten them).
	Uplink uplink.Config
	// Progress receives the box's heartbeats for its watchdog; nil
	// probes are not fed.
	Progress Progress
	// Update reads the remote-update agent's status for the box's status
	// and LEDs; nil when updates are off.
	Update func() updater.Status
	// LocalUpdate hands the agent a bundle a technician uploaded, staged
	// at path (updater.Agent.Local); nil when updates are off.
	LocalUpdate func(ctx context.Context, path string) error
}

// Probe is one of the watchdog's health probes (watchdog.Probe): the box
// bumps it when it makes progress, and enables it only while progress is
// expected.
type Probe interface {
	Bump()
	Enable()
	Disable()
}

// Progress is where the box shows it is alive: its loop goes round,
// frames arrive, the encoder makes segments, the journal takes them, and
// each uplink's loop goes round (Uplinks in the order of Config.Servers).
// Frames, Segments and Journal matter only while recording: the box
// enables and disables them.
type Progress struct {
	Loop, Frames, Segments, Journal Probe
	Uplinks                         []Probe
}

type nopProbe struct{}

func (nopProbe) Bump()    {}
func (nopProbe) Enable()  {}
func (nopProbe) Disable() {}

func (p *Progress) fill(servers int) {
	for _, q := range []*Probe{&p.Loop, &p.Frames, &p.Segments, &p.Journal} {
		if *q == nil {
			*q = nopProbe{}
		}
	}
	for len(p.Uplinks) < servers {
		p.Uplinks = append(p.Uplinks, nopProbe{})
	}
}

// recordingProbes are enabled while an interview is captured.
func (p *Progress) recordingProbes(on bool, buffered bool) {
	probes := []Probe{p.Frames, p.Segments}
	if buffered {
		probes = append(probes, p.Journal)
	}
	for _, q := range probes {
		if on {
			q.Bump() // the clock starts now, not at the last interview
			q.Enable()
		} else {
			q.Disable()
		}
	}
}

// Box is the capture box daemon.
type Box struct {
	cfg     config.Config
	deps    Deps
	log     *slog.Logger
	names   []string
	uplinks []*uplink.Server
	clients []*roomclient.Client
	reqs    chan request
	ready   chan struct{} // closed once earlier journals are recovered
	preview preview
	outbox  *outbox // the update agent's reports; nil with updates off

	mu     sync.Mutex // guards status and session
	status Status
	sess   session
}

type session struct {
	user   string
	ticket string
}

// New builds the box from its config; Run starts it.
func New(cfg config.Config, deps Deps) (*Box, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.OpenCamera == nil {
		return nil, errors.New("box: no camera opener")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	deps.Progress.fill(len(cfg.Servers()))
	b := &Box{cfg: cfg, deps: deps, log: deps.Log, reqs: make(chan request), ready: make(chan struct{})}
	for i, s := range cfg.Servers() {
		c, err := roomclient.New(s.Addr, deps.TLS)
		if err != nil {
			return nil, fmt.Errorf("box: %s server: %w", s.Name, err)
		}
		ucfg := deps.Uplink
		ucfg.Name = s.Name
		ucfg.Beat = deps.Progress.Uplinks[i].Bump
		b.names = append(b.names, s.Name)
		b.clients = append(b.clients, c)
		b.uplinks = append(b.uplinks, uplink.New(ucfg, c, deps.Log))
	}
	if cfg.Update.Enabled() {
		o, err := openOutbox(cfg.Update.StageDir, b.names)
		if err != nil {
			return nil, err
		}
		b.outbox = o
	}
	b.publish(&loopState{since: deps.Now()})
	return b, nil
}

type request struct {
	kind  string // "start", "stop", "cancel"
	reply chan reply
}

type reply struct {
	id  string
	err error
}

// interview is the running interview, owned by the loop.
type interview struct {
	cam      camera.Camera // for its state while recording (a V4L2 camera may be lost)
	starts   []segStart    // wall-clock start of each media segment, written by runPipeline
	create   wire.CreateRequest
	src      appender
	edge     *buffer.Edge // chunks of the segment being cut; nil without chunks
	journal  *journal.Journal
	cancel   context.CancelFunc
	done     chan pipeResult
	lostAt   time.Time // when the last available server was lost
	stopWait []chan reply
}

// job is the interview as the uplinks carry it.
func (iv *interview) job() uplink.Job {
	j := uplink.Job{Create: iv.create, Src: iv.src}
	if iv.edge != nil {
		j.Edge = iv.edge
	}
	return j
}

// newEdge gives an interview an edge when the encoder cuts chunks, so the
// uplinks can stream the segment being cut.
func (b *Box) newEdge() *buffer.Edge {
	if b.cfg.Encoder().ChunkDuration <= 0 {
		return nil
	}
	return buffer.NewEdge()
}

type segStart struct {
	seq uint64
	at  time.Time
}

type appender interface {
	uplink.Source
	Append(segment.Segment) error
}

type pipeResult struct{ err error }

// delivery is a stopped interview whose journal waits until every server
// has finalized it.
type delivery struct {
	journal *journal.Journal
	dir     string
}

// Run runs the uplinks and the interview loop until ctx ends.
//
// When ctx ends (SIGTERM), the interview's last segment is finished and
// journaled, and the uplinks get up to ShutdownDrain to bring the servers
// everything captured; the interview itself goes on after the restart.
func (b *Box) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	uctx, stopUplinks := context.WithCancel(gctx)
	defer stopUplinks()
	for _, u := range b.uplinks {
		g.Go(func() error { return u.Run(uctx) })
	}
	if b.outbox != nil {
		g.Go(func() error { b.deliverUpdateReports(uctx); return nil })
	}
	g.Go(func() error {
		defer stopUplinks()
		// The loop ends with ctx; if an uplink fails first, gctx ends it.
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-gctx.Done():
				cancel()
			case <-lctx.Done():
			}
		}()
		return b.loop(lctx)
	})
	return g.Wait()
}

// drain waits until every server that is available holds everything of
// iv, or until ShutdownDrain has passed.
func (b *Box) drain(iv *interview) {
	deadline := b.deps.Now().Add(b.cfg.ShutdownDrain())
	for {
		behind := 0
		for _, u := range b.uplinks {
			us := u.Status()
			if Green(us.State) && us.Recordings[iv.create.ID].Acked < iv.src.Next() {
				behind++
			}
		}
		if behind == 0 {
			return
		}
		if !b.deps.Now().Before(deadline) {
			b.log.Warn("box: shutting down with segments not yet on every server; they are sent after the restart",
				"recording", iv.create.ID, "servers_behind", behind)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type loopState struct {
	phase      Phase
	cur        *interview
	delivering map[string]*delivery
	since      time.Time // when connecting to the room began
	joined     bool      // the connect window is over: every server answered, or 2 minutes passed
	message    string
	lastID     string
	fault      string    // leds.Fault* of the last interview's failure; cleared by a good start
	mismatch   *Mismatch // the servers' settings, as compared before the last start
}

func (b *Box) loop(ctx context.Context) error {
	st := &loopState{delivering: map[string]*delivery{}, since: b.deps.Now()}
	if s, ok := b.loadSession(b.deps.Now()); ok {
		if err := b.useSession(ctx, s.User, s.Ticket); err != nil {
			return err
		}
		b.log.Info("box: operator session restored", "user", s.User, "expires", s.Expires)
	}
	b.resumeJournals(ctx, st)
	b.publish(st)
	close(b.ready)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var done chan pipeResult
		if st.cur != nil {
			done = st.cur.done
		}
		select {
		case <-ctx.Done():
			if st.cur != nil {
				// Shutdown: finish the current segment, journal it and
				// give it to the servers; the interview goes on after
				// the restart.
				st.phase = ShuttingDown
				b.publish(st)
				st.cur.cancel()
				<-st.cur.done
				b.drain(st.cur)
			}
			return nil
		case req := <-b.reqs:
			b.handle(ctx, st, req)
		case res := <-done:
			b.pipelineDone(ctx, st, res)
		case <-tick.C:
			b.tick(ctx, st)
		}
		b.publish(st)
	}
}

func (b *Box) handle(ctx context.Context, st *loopState, req request) {
	switch req.kind {
	case "start":
		id, err := b.start(ctx, st)
		// The status says what the start did (a mismatch, a message)
		// before the caller hears back, so a status read after the reply
		// is never older than it.
		b.publish(st)
		req.reply <- reply{id: id, err: err}
	case "stop":
		if st.cur == nil {
			req.reply <- reply{err: ErrIdle}
			return
		}
		if st.phase == Recording {
			st.phase = Stopping
			st.cur.cancel()
		}
		st.cur.stopWait = append(st.cur.stopWait, req.reply)
	case "cancel":
		if st.cur == nil {
			req.reply <- reply{err: ErrIdle}
			return
		}
		id := st.cur.create.ID
		st.cur.cancel()
		<-st.cur.done
		b.discard(ctx, st.cur)
		for _, w := range st.cur.stopWait {
			w <- reply{id: id, err: fmt.Errorf("box: interview %s was cancelled", id)}
		}
		st.cur, st.phase = nil, Idle
		st.message = "interview " + id + " cancelled; its buffered recording was deleted"
		b.publish(st)
		req.reply <- reply{id: id}
	}
}

func (b *Box) start(ctx context.Context, st *loopState) (string, error) {
	if st.cur != nil {
		return "", ErrBusy
	}
	b.mu.Lock()
	sess := b.sess
	b.mu.Unlock()
	if sess.ticket == "" {
		return "", ErrNotLoggedIn
	}
	connected := make([]bool, len(b.uplinks))
	for i, u := range b.uplinks {
		connected[i] = Green(u.Status().State)
	}
	now := b.deps.Now()
	b.updateJoined(st, connected)
	if !st.joined {
		d := policy.Decide(b.cfg.Fallback, now, st.since, connected, connected, b.names)
		return "", fmt.Errorf("%w: %s", ErrCannotStart, d.Reason)
	}
	if err := b.checkSettings(ctx, st, sess.ticket, connected); err != nil {
		st.message = st.mismatch.Message
		return "", err
	}

	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	create := wire.CreateRequest{
		ID:        segment.NewID(b.cfg.RoomID, now, hex.EncodeToString(suffix)),
		RoomID:    b.cfg.RoomID,
		BoxID:     b.cfg.BoxID,
		Mode:      b.cfg.Mode,
		StartedAt: now.UTC(),
	}
	iv := &interview{create: create, done: make(chan pipeResult, 1), edge: b.newEdge()}
	if b.cfg.Mode == wire.Buffered {
		j, err := journal.Create(filepath.Join(b.cfg.JournalDir, create.ID), journal.Meta{
			RecordingID: create.ID, RoomID: create.RoomID, Mode: string(create.Mode), StartedAt: create.StartedAt, State: "recording",
		})
		if err != nil {
			return "", fmt.Errorf("box: %w", err)
		}
		iv.journal = j
		iv.src = buffer.NewJournaled(j)
	} else {
		iv.src = buffer.NewWindow(b.cfg.WindowSegments())
	}

	// Ask every server to open the recording at once; the fallback
	// decides on the answers.
	able := make([]bool, len(b.uplinks))
	errs := make([]error, len(b.uplinks))
	var wg sync.WaitGroup
	for i, u := range b.uplinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			errs[i] = u.Begin(bctx, iv.job())
			able[i] = errs[i] == nil
		}()
	}
	wg.Wait()
	// The window is over, so Decide goes straight to the fallback.
	if d := policy.Decide(b.cfg.Fallback, now, st.since.Add(-policy.ConnectWindow), connected, able, b.names); !d.Start {
		b.discard(ctx, iv)
		for i, err := range errs {
			if err != nil {
				b.log.Warn("box: server could not start the recording", "server", b.names[i], "err", err)
			}
		}
		return "", fmt.Errorf("%w: %s", ErrCannotStart, d.Reason)
	}

	if err := b.launch(iv, nil); err != nil {
		b.discard(ctx, iv)
		st.fault = faultOf(err)
		return "", fmt.Errorf("%w: %v", ErrCannotStart, err)
	}
	st.cur, st.phase, st.lastID = iv, Recording, create.ID
	st.message, st.fault = "", ""
	if st.mismatch != nil {
		st.message = st.mismatch.Message // non-blocking differences: say how many
	}
	b.log.Info("box: interview started", "recording", create.ID, "user", sess.user, "servers_able", able)
	return create.ID, nil
}

// errJournal marks a failure to journal a segment: the box's disk.
var errJournal = errors.New("box: journal")

// faultOf names the part an interview's failure points at, for the fault
// LED.
func faultOf(err error) string {
	switch {
	case errors.Is(err, errJournal):
		return leds.FaultDisk
	case errors.Is(err, errCamera), errors.Is(err, encoder.ErrCamera):
		return leds.FaultCamera
	case errors.Is(err, errMicrophone), errors.Is(err, encoder.ErrMicrophone):
		return leds.FaultAudio
	}
	return ""
}

var (
	errCamera     = errors.New("camera")
	errMicrophone = errors.New("microphone")
)

// launch opens the sources and runs the encoder for iv, continuing an
// earlier run's recording when resume is set.
func (b *Box) launch(iv *interview, resume *encoder.Resume) error {
	cam, err := b.deps.OpenCamera(b.cfg)
	if err != nil {
		return fmt.Errorf("%w: %w", errCamera, err)
	}
	var mic audio.Microphone
	if b.deps.OpenMicrophone != nil {
		if mic, err = b.deps.OpenMicrophone(b.cfg); err != nil {
			cam.Close()
			return fmt.Errorf("%w: %w", errMicrophone, err)
		}
	}
	pipe, err := encoder.New(b.cfg.Encoder(), cam, mic)
	if err != nil {
		cam.Close()
		if mic != nil {
			mic.Close()
		}
		return fmt.Errorf("encoder: %w", err)
	}
	if resume != nil {
		pipe.SetResume(*resume)
	}
	var chunks chan encoder.Chunk
	if iv.edge != nil {
		// The keeper (keepChunks) takes them off the encoder's goroutine,
		// so that an fsync never holds up the encoding.
		chunks = make(chan encoder.Chunk, 16)
		pipe.OnChunk(func(c encoder.Chunk) { chunks <- c })
	}
	pipe.OnFrame(func(f camera.Frame) {
		b.deps.Progress.Frames.Bump()
		b.preview.set(f)
	})
	b.deps.Progress.recordingProbes(true, iv.journal != nil)
	// The pipeline outlives a shutdown request until it has flushed its
	// last segment; the loop cancels it.
	pctx, cancel := context.WithCancel(context.Background())
	iv.cancel = cancel
	iv.cam = cam
	go b.runPipeline(pctx, pipe, cam, mic, iv, chunks)
	return nil
}

// runPipeline encodes into the buffer until ctx ends; the last partial
// segment is flushed and journaled before it reports.
func (b *Box) runPipeline(ctx context.Context, pipe *encoder.Pipeline, cam camera.Camera, mic audio.Microphone, iv *interview, chunks chan encoder.Chunk) {
	out := make(chan segment.Segment, 8)
	errc := make(chan error, 1)
	kept := make(chan struct{})
	if chunks != nil {
		go b.keepChunks(iv, chunks, kept)
	} else {
		close(kept)
	}
	go func() {
		err := pipe.Run(ctx, out)
		if chunks != nil {
			close(chunks) // Run hands out no chunk after it returns
		}
		errc <- err
	}()
	var appendErr error
	for s := range out {
		b.deps.Progress.Segments.Bump()
		if appendErr != nil {
			continue
		}
		if err := iv.src.Append(s); err != nil {
			appendErr = fmt.Errorf("%w: %w", errJournal, err)
			b.log.Error("box: journal append failed; the interview stops", "err", err)
			iv.cancel()
			continue
		}
		b.deps.Progress.Journal.Bump()
		if s.Seq != segment.InitSeq {
			if epoch := pipe.Epoch(); !epoch.IsZero() {
				iv.starts = append(iv.starts, segStart{s.Seq, epoch.Add(s.Start)})
			}
		}
		if s.Seq == segment.InitSeq && iv.journal != nil {
			// What a restart needs to continue this recording.
			m := iv.journal.Meta()
			m.Epoch = pipe.Epoch()
			if err := iv.journal.SetMeta(m); err != nil {
				b.log.Error("box: journal meta", "err", err)
			}
		}
	}
	err := <-errc
	<-kept
	b.deps.Progress.recordingProbes(false, iv.journal != nil)
	cam.Close()
	if mic != nil {
		mic.Close()
	}
	iv.done <- pipeResult{err: errors.Join(err, appendErr)}
}

// keepChunks makes each chunk the encoder cuts durable in the journal's
// edge log, so that a power cut or a hang costs the chunk being cut rather
// than the segment, and only then puts it at the live edge for the uplinks:
// no server streams a chunk the box could still lose. A failed write is
// logged (once until one succeeds again) and the chunk still goes out; the
// segment is journaled whole by runPipeline all the same.
func (b *Box) keepChunks(iv *interview, chunks <-chan encoder.Chunk, done chan<- struct{}) {
	defer close(done)
	failing := false
	for c := range chunks {
		if iv.journal != nil {
			err := iv.journal.AppendChunk(c.Seq, c.Part, c.Start, c.End, c.Data)
			if err != nil && !failing {
				b.log.Warn("box: a chunk could not be made durable; a power cut now costs its whole segment", "recording", iv.create.ID, "segment", c.Seq, "part", c.Part, "err", err)
			}
			failing = err != nil
		}
		iv.edge.Add(c.Seq, c.Part, c.Data, c.Last)
	}
}

func (b *Box) pipelineDone(ctx context.Context, st *loopState, res pipeResult) {
	iv := st.cur
	id := iv.create.ID
	count := iv.src.Next()
	if res.err != nil {
		st.fault = faultOf(res.err)
		st.message = fmt.Sprintf("interview %s stopped by a fault: %v", id, res.err)
		b.log.Error("box: pipeline", "recording", id, "err", res.err)
	}
	if iv.journal != nil {
		m := iv.journal.Meta()
		m.State, m.Count = "stopping", count
		if err := iv.journal.SetMeta(m); err != nil {
			b.log.Error("box: journal meta", "err", err)
		}
		st.delivering[id] = &delivery{journal: iv.journal, dir: filepath.Join(b.cfg.JournalDir, id)}
	}
	lost := cameraOutages(iv, b.deps.Now())
	if len(lost) > 0 && iv.journal != nil {
		m := iv.journal.Meta()
		m.Outages = append(m.Outages, lost...)
		if err := iv.journal.SetMeta(m); err != nil {
			b.log.Error("box: journal meta", "err", err)
		}
	}
	for _, u := range b.uplinks {
		if err := u.StopWith(ctx, id, count, lost); err != nil {
			b.log.Error("box: stop uplink", "server", u.Name(), "err", err)
		}
	}
	b.log.Info("box: interview stopped", "recording", id, "segments", count)
	st.cur, st.phase = nil, Idle
	b.publish(st)
	for _, w := range iv.stopWait {
		w <- reply{id: id}
	}
}

// cameraOutages are the times the camera was lost during iv (the
// recording shows a "camera lost" picture then; sound goes on), as
// outages for the recording's metadata: Seq is the first segment that
// begins after the camera went away.
func cameraOutages(iv *interview, now time.Time) []wire.Outage {
	r, ok := iv.cam.(interface{ Outages() []reconnect.Outage })
	if !ok {
		return nil
	}
	var out []wire.Outage
	for _, o := range r.Outages() {
		end := o.End
		if end.IsZero() {
			end = now // still away when the interview stopped
		}
		seq := uint64(1)
		for _, st := range iv.starts {
			seq = st.seq
			if !st.at.Before(o.Start) {
				break
			}
			seq++
		}
		reason := "camera lost"
		if o.Err != nil {
			reason = "camera lost: " + o.Err.Error()
		}
		if len(reason) > 256 {
			reason = reason[:256]
		}
		out = append(out, wire.Outage{Seq: seq, From: o.Start.UTC(), To: end.UTC(), Reason: reason})
	}
	return out
}

// discard deletes an interview's buffered data on the box and (now or
// when they return) on every server.
func (b *Box) discard(ctx context.Context, iv *interview) {
	for _, u := range b.uplinks {
		if err := u.Cancel(ctx, iv.create.ID); err != nil {
			b.log.Error("box: cancel on server", "server", u.Name(), "err", err)
		}
	}
	if iv.journal != nil {
		dir := filepath.Join(b.cfg.JournalDir, iv.create.ID)
		// Marked first, so a power cut half-way through the removal still
		// leaves a journal that a restart knows to delete, not deliver.
		m := iv.journal.Meta()
		m.State = "cancelled"
		if err := iv.journal.SetMeta(m); err != nil {
			b.log.Error("box: mark journal cancelled", "err", err)
		}
		iv.journal.Close()
		if err := journal.Remove(dir); err != nil {
			b.log.Error("box: remove journal", "dir", dir, "err", err)
		}
	}
}

// updateJoined ends the connect window once every server answered or the
// window ran out with one; a server lost later does not reopen it.
func (b *Box) updateJoined(st *loopState, connected []bool) {
	if !st.joined && policy.Room(b.deps.Now(), st.since, connected) != policy.Connecting {
		st.joined = true
	}
}

func (b *Box) tick(ctx context.Context, st *loopState) {
	b.deps.Progress.Loop.Bump()
	statuses := make([]uplink.Status, len(b.uplinks))
	connected := make([]bool, len(b.uplinks))
	for i, u := range b.uplinks {
		statuses[i] = u.Status()
		connected[i] = Green(statuses[i].State)
	}
	b.updateJoined(st, connected)
	// A journal is dropped only when every configured server holds the
	// recording whole.
	for id, d := range st.delivering {
		all := true
		for _, s := range statuses {
			all = all && s.Done[id]
		}
		if all {
			d.journal.Close()
			if err := journal.Remove(d.dir); err != nil {
				b.log.Error("box: remove delivered journal", "err", err)
				continue
			}
			b.log.Info("box: recording held whole by every server; journal removed", "recording", id)
			delete(st.delivering, id)
		}
	}
	// Going on while at least one server is available.
	if st.cur != nil && st.phase == Recording {
		avail := make([]bool, len(statuses))
		for i, s := range statuses {
			avail[i] = Green(s.State)
		}
		now := b.deps.Now()
		switch {
		case policy.CanContinue(avail):
			st.cur.lostAt = time.Time{}
		case st.cur.lostAt.IsZero():
			st.cur.lostAt = now
		case now.Sub(st.cur.lostAt) >= b.cfg.LostGrace.Duration:
			st.message = "interview stopped: no room server has been available for " + b.cfg.LostGrace.String() +
				"; what was recorded is kept and delivered when a server returns"
			b.log.Error("box: no server available; stopping the interview", "recording", st.cur.create.ID)
			st.phase = Stopping
			st.cur.cancel()
		}
	}
}

// resumeJournals hands interviews left in the journal folder by an earlier
// run to the uplinks: what is still owed is shipped, cancelled ones are
// deleted everywhere.
func (b *Box) resumeJournals(ctx context.Context, st *loopState) {
	if b.cfg.Mode != wire.Buffered {
		return
	}
	dirs, err := journal.List(b.cfg.JournalDir)
	if err != nil {
		b.log.Warn("box: list journals", "err", err)
		return
	}
	var running []*journal.Journal // interviews a restart interrupted
	for _, dir := range dirs {
		j, err := journal.Open(dir)
		if err != nil {
			b.log.Error("box: recover journal", "dir", dir, "err", err)
			continue
		}
		m := j.Meta()
		if cut := j.TruncatedBytes(); cut > 0 {
			b.log.Warn("box: journal had a torn tail; cut", "recording", m.RecordingID, "bytes", cut)
		}
		if n := j.RecoveredChunks(); n > 0 {
			b.log.Info("box: the segment being cut when the box went down is kept, from the chunks that were durable",
				"recording", m.RecordingID, "segment", j.Next()-1, "chunks", n)
		}
		switch m.State {
		case journal.StateCancelled:
			iv := &interview{create: wire.CreateRequest{ID: m.RecordingID}, journal: j}
			b.discard(ctx, iv)
			continue
		case journal.StateRecording:
			running = append(running, j)
			continue
		}
		b.deliver(ctx, st, j, dir)
	}
	// The newest interrupted interview goes on; there is only one unless
	// something went wrong, and then the older ones are delivered as they
	// are.
	slices.SortFunc(running, func(x, y *journal.Journal) int { return x.Meta().StartedAt.Compare(y.Meta().StartedAt) })
	for i, j := range running {
		dir := filepath.Join(b.cfg.JournalDir, j.Meta().RecordingID)
		if i < len(running)-1 {
			b.deliver(ctx, st, j, dir)
			continue
		}
		if err := b.resume(ctx, st, j); err != nil {
			b.log.Error("box: cannot continue the interrupted interview; delivering what it holds",
				"recording", j.Meta().RecordingID, "err", err)
			st.message = fmt.Sprintf("the interview %s interrupted by a restart could not go on (%v); what was recorded is delivered", j.Meta().RecordingID, err)
			b.deliver(ctx, st, j, dir)
		}
	}
}

// deliver ships a stopped interview's journal: the servers get what they
// lack and finalize it.
func (b *Box) deliver(ctx context.Context, st *loopState, j *journal.Journal, dir string) {
	m := j.Meta()
	count := j.Next()
	m.State, m.Count = journal.StateStopping, count
	if err := j.SetMeta(m); err != nil {
		b.log.Error("box: journal meta", "err", err)
	}
	src := buffer.NewJournaled(j)
	create := b.createRequest(m)
	for _, u := range b.uplinks {
		_ = u.Begin(ctx, uplink.Job{Create: create, Src: src})
		_ = u.Stop(ctx, m.RecordingID, count)
	}
	st.delivering[m.RecordingID] = &delivery{journal: j, dir: dir}
	b.log.Info("box: resuming delivery of an earlier interview", "recording", m.RecordingID, "segments", count)
}

func (b *Box) createRequest(m journal.Meta) wire.CreateRequest {
	mode, _ := wire.ParseMode(m.Mode)
	return wire.CreateRequest{ID: m.RecordingID, RoomID: m.RoomID, BoxID: b.cfg.BoxID, Mode: mode, StartedAt: m.StartedAt, Outages: m.Outages}
}

// resume continues an interview that a restart (power cut, crash, reboot,
// shutdown) interrupted: same recording ID, segments numbered on, the time
// the box was down kept as an outage in the recording's metadata.
func (b *Box) resume(ctx context.Context, st *loopState, j *journal.Journal) error {
	m := j.Meta()
	count := j.Next()
	if count == 0 || m.Epoch.IsZero() {
		return errors.New("it holds no init segment yet")
	}
	init, err := j.Read(segment.InitSeq)
	if err != nil {
		return fmt.Errorf("read its init segment: %w", err)
	}
	var after time.Duration
	if count > 1 {
		last, err := j.Read(count - 1)
		if err != nil {
			return fmt.Errorf("read its last segment: %w", err)
		}
		after = last.Start + last.Duration
	}
	now := b.deps.Now()
	m.Outages = append(m.Outages, wire.Outage{
		Seq: count, From: m.Epoch.Add(after).UTC(), To: now.UTC(),
		Reason: "the capture box restarted (power cut, crash, watchdog reset or shutdown)",
	})
	if err := j.SetMeta(m); err != nil {
		return err
	}
	create := b.createRequest(m)
	iv := &interview{create: create, journal: j, src: buffer.NewJournaled(j), done: make(chan pipeResult, 1), edge: b.newEdge()}
	for _, u := range b.uplinks {
		// A server that is away gets the recording when it returns.
		if err := u.Begin(ctx, iv.job()); err != nil {
			b.log.Warn("box: server could not continue the recording yet", "server", u.Name(), "err", err)
		}
	}
	err = b.launch(iv, &encoder.Resume{Epoch: m.Epoch, After: after, NextSeq: count, Init: init.Data})
	if err != nil {
		return err
	}
	st.cur, st.phase, st.lastID = iv, Recording, create.ID
	b.log.Info("box: interview continued after a restart", "recording", create.ID, "next_segment", count,
		"outage", now.Sub(m.Epoch.Add(after)).Round(time.Millisecond))
	return nil
}

// Ready is closed once Run has recovered the journals an earlier run left
// and the box takes requests: what systemd's READY=1 means for the box.
func (b *Box) Ready() <-chan struct{} { return b.ready }
