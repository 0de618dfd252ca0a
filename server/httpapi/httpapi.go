package httpapi

import (
	"context"
	"crypto/fips140"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"twincap/encoder/segment"
	"twincap/server/audit"
	"twincap/server/auth"
	"twincap/server/evidence"
	"twincap/server/pair"
	"twincap/server/settings"
	"twincap/server/store"
	"twincap/server/wire"
)

// MaxJSONBody bounds every JSON request body.
const MaxJSONBody = 64 << 10

// Config configures the API.
type Config struct {
	ServerID string
	// RoomID is the room of the server's configuration: the settings'
	// room_id must stay equal to it.
	RoomID string
	BootID string
	Now    func() time.Time // nil: time.Now
}

// Pair is the comparison with the paired server's settings (pair.Checker).
type Pair interface {
	Last() pair.Report
	Check(ctx context.Context) (pair.Report, error)
	Nudge()
}

// Deps are the API's dependencies; all but Pair and Log are required.
type Deps struct {
	Store    *store.Store
	Auth     *auth.Service
	Settings *settings.Store
	Audit    *audit.Log
	Pair     Pair // nil: GET /api/v1/pair says the check is not running
	Log      *slog.Logger
	// Evidence returns the evidence-upload queue, nil while uploading is
	// not configured (or the queue is being rebuilt). nil: never.
	Evidence func() *evidence.Queue
	// Finalized, when not nil, is told the ID of each recording once it is
	// finalized and audited (the server queues it for upload).
	Finalized func(id string)
	// SettingsChanged, when not nil, is told the new settings after each
	// change has been made and audited.
	SettingsChanged func(settings.Settings)
	// Watching, when not nil, says how many viewers watch the livestream
	// from this server now; the health reply carries it to the box.
	Watching func(context.Context) (int, error)
	// Live, when not nil, is handed each segment once it is durably
	// stored, and told when a recording ends (the livestream).
	Live Live
}

// Live is the livestream hub (live.Hub).
type Live interface {
	Publish(recordingID string, seq uint64, body []byte)
	// PublishPart is handed each moof+mdat of a segment whose PUT streams
	// (see putSegment) as it arrives, before the segment is whole.
	PublishPart(recordingID string, seq uint64, part uint32, body []byte)
	End(recordingID string)
}

// Bearer returns the ticket of an Authorization: Bearer header.
func Bearer(r *http.Request) (string, bool) { return bearer(r) }

// API serves the room server's routes.
type API struct {
	cfg      Config
	store    *store.Store
	auth     *auth.Service
	settings *settings.Store
	trail    *audit.Log
	pair     Pair
	log      *slog.Logger
	mux      *routeMux

	live            Live
	watching        func(context.Context) (int, error)
	evidence        func() *evidence.Queue
	finalized       func(id string)
	settingsChanged func(settings.Settings)

	// changeMu serializes settings changes, so that each is audited with
	// the settings it replaced.
	changeMu sync.Mutex
	// finishMu serializes writing finalized recordings' audit.json, so
	// that a stop retried while the first is still running appends one
	// Stop entry, not two.
	finishMu sync.Mutex
}

// New builds the API.
func New(cfg Config, deps Deps) (*API, error) {
	if deps.Store == nil || deps.Auth == nil || deps.Settings == nil || deps.Audit == nil {
		return nil, errors.New("httpapi: store, auth, settings and audit are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	a := &API{cfg: cfg, store: deps.Store, auth: deps.Auth, settings: deps.Settings, trail: deps.Audit, pair: deps.Pair,
		log: deps.Log, mux: &routeMux{ServeMux: http.NewServeMux()}, evidence: deps.Evidence, finalized: deps.Finalized, settingsChanged: deps.SettingsChanged, live: deps.Live,
		watching: deps.Watching}
	if a.evidence == nil {
		a.evidence = func() *evidence.Queue { return nil }
	}
	a.routes()
	return a, nil
}

// Route is one method and path pattern that the API serves.
type Route struct {
	Method, Path string
	Public       bool // no ticket needed
	Admin        bool // an administrator's ticket (403 for an operator's)
	Peer         bool // a peer token, not a ticket (the paired server)
}

// Routes lists every route (tests walk it).
func Routes() []Route {
	return []Route{
		{Method: http.MethodGet, Path: wire.PathHealth, Public: true},
		{Method: http.MethodPost, Path: wire.PathLogin, Public: true},
		{Method: http.MethodPost, Path: wire.PathLogout},
		{Method: http.MethodGet, Path: wire.PathRecordings},
		{Method: http.MethodPost, Path: wire.PathRecordings},
		{Method: http.MethodGet, Path: wire.PathRecording},
		{Method: http.MethodDelete, Path: wire.PathRecording},
		{Method: http.MethodPut, Path: wire.PathSegment},
		{Method: http.MethodPost, Path: wire.PathGaps},
		{Method: http.MethodPost, Path: wire.PathStop},
		{Method: http.MethodGet, Path: wire.PathMedia},
		{Method: http.MethodGet, Path: wire.PathMetadata},
		{Method: http.MethodGet, Path: wire.PathAudit},
		{Method: http.MethodGet, Path: wire.PathSettings},
		{Method: http.MethodPatch, Path: wire.PathSettings, Admin: true},
		{Method: http.MethodPut, Path: wire.PathSettings, Admin: true},
		{Method: http.MethodGet, Path: wire.PathPair},
		{Method: http.MethodGet, Path: wire.PathAuditTrail, Admin: true},
		{Method: http.MethodGet, Path: wire.PathAuditVerify, Admin: true},
		{Method: http.MethodGet, Path: wire.PathPeerSettings, Peer: true},
		{Method: http.MethodGet, Path: wire.PathEvidence},
		{Method: http.MethodGet, Path: wire.PathRecordingEvidence},
		{Method: http.MethodPost, Path: wire.PathEvidenceRetry, Admin: true},
		{Method: http.MethodGet, Path: wire.PathPeerUpload, Peer: true},
		{Method: http.MethodPost, Path: wire.PathPeerUpload, Peer: true},
		{Method: http.MethodPost, Path: wire.PathBoxUpdate},
	}
}

// routeMux is the API's ServeMux, which keeps every pattern registered on
// it, so that a test can hold Routes() against what is really served and
// a route registered some other way cannot escape the tests that walk
// Routes().
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

type authedHandler func(w http.ResponseWriter, r *http.Request, who auth.Claims)

func (a *API) routes() {
	handlers := map[string]authedHandler{
		"GET " + wire.PathAudit:             a.recordingAudit,
		"GET " + wire.PathSettings:          a.getSettings,
		"PATCH " + wire.PathSettings:        a.patchSettings,
		"PUT " + wire.PathSettings:          a.putSettings,
		"GET " + wire.PathPair:              a.getPair,
		"GET " + wire.PathAuditTrail:        a.auditEntries,
		"GET " + wire.PathAuditVerify:       a.auditVerify,
		"POST " + wire.PathLogout:           a.logout,
		"GET " + wire.PathRecordings:        a.list,
		"POST " + wire.PathRecordings:       a.create,
		"GET " + wire.PathRecording:         a.get,
		"DELETE " + wire.PathRecording:      a.cancel,
		"PUT " + wire.PathSegment:           a.putSegment,
		"POST " + wire.PathGaps:             a.addGap,
		"POST " + wire.PathStop:             a.stop,
		"GET " + wire.PathMedia:             a.media,
		"GET " + wire.PathMetadata:          a.metadata,
		"GET " + wire.PathEvidence:          a.evidenceList,
		"GET " + wire.PathRecordingEvidence: a.recordingEvidence,
		"POST " + wire.PathEvidenceRetry:    a.evidenceRetry,
		"POST " + wire.PathBoxUpdate:        a.boxUpdate,
	}
	a.mux.HandleFunc("GET "+wire.PathHealth, a.health)
	a.mux.HandleFunc("POST "+wire.PathLogin, a.login)
	a.mux.HandleFunc("GET "+wire.PathPeerSettings, a.peerSettings)
	a.mux.HandleFunc("GET "+wire.PathPeerUpload, a.peerUpload)
	a.mux.HandleFunc("POST "+wire.PathPeerUpload, a.peerUploaded)
	for _, rt := range Routes() {
		h := handlers[rt.Method+" "+rt.Path]
		switch {
		case rt.Public, rt.Peer:
			continue
		case rt.Admin:
			a.mux.Handle(rt.Method+" "+rt.Path, a.authed(a.adminOnly(h)))
		default:
			a.mux.Handle(rt.Method+" "+rt.Path, a.authed(h))
		}
	}
}

// ServeHTTP refuses path-like recording IDs, then routes.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := checkPath(r.URL); err != nil {
		a.fail(w, r, http.StatusBadRequest, err)
		return
	}
	a.mux.ServeHTTP(w, r)
}

const recordingsPrefix = wire.PathRecordings + "/"

// idPrefixes start the paths whose next segment is a recording ID.
var idPrefixes = []string{recordingsPrefix, strings.TrimSuffix(wire.PathPeerUpload, "{id}")}

// checkPath refuses dot segments anywhere (raw or percent-encoded) and an
// invalid recording ID, so nothing is cleaned, redirected or routed to a
// different recording.
func checkPath(u *url.URL) error {
	raw := u.EscapedPath()
	for _, part := range strings.Split(raw, "/") {
		p, err := url.PathUnescape(part)
		if err != nil {
			return fmt.Errorf("httpapi: bad path: %w", err)
		}
		if p == "." || p == ".." {
			return errors.New("httpapi: bad path: dot segment")
		}
	}
	var rest string
	ok := false
	for _, p := range idPrefixes {
		if rest, ok = strings.CutPrefix(raw, p); ok {
			break
		}
	}
	if !ok {
		return nil
	}
	first, _, _ := strings.Cut(rest, "/")
	id, err := url.PathUnescape(first)
	if err != nil {
		return fmt.Errorf("httpapi: bad recording ID: %w", err)
	}
	if err := segment.ValidateID(id); err != nil {
		return fmt.Errorf("httpapi: %w", err)
	}
	return nil
}

func (a *API) authed(h authedHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ticket, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="twincap"`)
			a.fail(w, r, http.StatusUnauthorized, errors.New("httpapi: login required (Authorization: Bearer <ticket>)"))
			return
		}
		who, err := a.auth.Check(ticket)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="twincap", error="invalid_token"`)
			a.fail(w, r, http.StatusUnauthorized, err)
			return
		}
		h(w, r, who)
	})
}

// adminOnly refuses, with 403, a ticket whose user is not an
// administrator in this server's users file.
func (a *API) adminOnly(h authedHandler) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, who auth.Claims) {
		ok, err := a.auth.IsAdmin(who.User)
		if err != nil {
			a.fail(w, r, http.StatusInternalServerError, err)
			return
		}
		if !ok {
			a.fail(w, r, http.StatusForbidden, fmt.Errorf("httpapi: %s is not an administrator of this server (twincap-server useradd -admin)", who.User))
			return
		}
		h(w, r, who)
	}
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get(wire.HeaderAuthorization)
	scheme, t, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	t = strings.TrimSpace(t)
	return t, t != ""
}

// status maps an error to a status code; the message of a 5xx stays in the log.
func status(err error) int {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, store.ErrBadChecksum):
		return http.StatusUnprocessableEntity
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrFinalized),
		errors.Is(err, store.ErrIncomplete), errors.Is(err, store.ErrWrongRoom),
		errors.Is(err, store.ErrNotFinal):
		return http.StatusConflict
	case errors.Is(err, store.ErrInvalid), errors.Is(err, segment.ErrBadID), errors.Is(err, errBadRequest),
		errors.Is(err, settings.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, auth.ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, auth.ErrBadCredentials), errors.Is(err, auth.ErrBadTicket),
		errors.Is(err, auth.ErrExpired), errors.Is(err, auth.ErrRevoked):
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

var errBadRequest = errors.New("httpapi: bad request")

func (a *API) fail(w http.ResponseWriter, r *http.Request, code int, err error) {
	msg := err.Error()
	if code >= 500 {
		a.log.Error("httpapi: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = http.StatusText(code)
	} else {
		a.log.Debug("httpapi: request refused", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
	}
	writeJSON(w, code, wire.Error{Error: msg})
}

func (a *API) failErr(w http.ResponseWriter, r *http.Request, err error) {
	a.fail(w, r, status(err), err)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeJSON reads exactly one JSON value with no unknown fields.
func decodeJSON(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return fmt.Errorf("%w: JSON body: %w", errBadRequest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return fmt.Errorf("%w: JSON body: trailing data", errBadRequest)
	}
	return nil
}

func (a *API) readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.ContentLength > MaxJSONBody {
		a.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("httpapi: body of %d bytes exceeds %d", r.ContentLength, MaxJSONBody))
		return false
	}
	if err := decodeJSON(http.MaxBytesReader(w, r.Body, MaxJSONBody), v); err != nil {
		a.failErr(w, r, err)
		return false
	}
	return true
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (a *API) health(w http.ResponseWriter, r *http.Request) {
	h := wire.Health{ServerID: a.cfg.ServerID, RoomID: a.cfg.RoomID, BootID: a.cfg.BootID, Time: a.cfg.Now().UTC(),
		FIPS: fips140.Enabled(), SettingsFingerprint: settings.Fingerprint(a.settings.Get())}
	h.Viewers = a.viewers(r.Context())
	writeJSON(w, http.StatusOK, h)
}

// viewers is how many watch the livestream from this server, 0 when
// unknown: a busy hub must not make a health check or an ack late (the
// box takes a late answer for a server that is gone).
func (a *API) viewers(ctx context.Context) int {
	if a.watching == nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	n, err := a.watching(ctx)
	if err != nil {
		return 0
	}
	return n
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var req wire.LoginRequest
	if !a.readJSON(w, r, &req) {
		return
	}
	if req.Username == "" || req.Password == "" {
		a.fail(w, r, http.StatusBadRequest, fmt.Errorf("%w: username and password are required", errBadRequest))
		return
	}
	from := "from " + remoteHost(r)
	rep, err := a.auth.Login(req.Username, req.Password, remoteHost(r))
	if err != nil {
		var rl *auth.RateLimitError
		if errors.As(err, &rl) {
			w.Header().Set("Retry-After", strconv.Itoa(int(rl.RetryAfter.Seconds())+1))
		}
		// A refused password is audited; a rate-limited attempt checks
		// none, and is only logged, so a flood cannot fill the trail.
		if errors.Is(err, auth.ErrBadCredentials) {
			if aerr := a.audit(audit.Record{Actor: actorName(req.Username), Action: audit.LoginFailed, Details: from}); aerr != nil {
				a.log.Error("audit: failed login not audited", "user", req.Username, "err", aerr)
			}
		}
		a.log.Warn("audit: login failed", "user", req.Username, "remote", remoteHost(r), "err", err)
		a.failErr(w, r, err)
		return
	}
	// The ticket is handed out only once the login is in the trail.
	if err := a.audit(audit.Record{Actor: rep.User, Action: audit.Login, Details: from}); err != nil {
		a.failErr(w, r, err)
		return
	}
	a.log.Info("audit: login", "user", rep.User, "remote", remoteHost(r))
	writeJSON(w, http.StatusOK, rep)
}

func (a *API) logout(w http.ResponseWriter, r *http.Request, who auth.Claims) {
	t, _ := bearer(r)
	if err := a.audit(audit.Record{Actor: who.User, Action: audit.Logout, Details: "from " + remoteHost(r)}); err != nil {
		a.failErr(w, r, err)
		return
	}
	if err := a.auth.Logout(t); err != nil {
		a.failErr(w, r, err)
		return
	}
	a.log.Info("audit: logout", "user", who.User, "remote", remoteHost(r))
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) list(w http.ResponseWriter, r *http.Request, _ auth.Claims) {
	writeJSON(w, http.StatusOK, a.store.List())
}

func (a *API) create(w http.ResponseWriter, r *http.Request, who auth.Claims) {
	var req wire.CreateRequest
	if !a.readJSON(w, r, &req) {
		return
	}
	st, created, err := a.store.Create(req)
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	// Once per recording, whether this call made it or retries a create
	// whose audit entry failed.
	if err := a.auditOnce(audit.Record{Actor: who.User, Action: audit.Start, Recording: st.ID,
		Details: fmt.Sprintf("box %s, %s mode, started at %s", req.BoxID, st.Mode, st.StartedAt.UTC().Format(time.RFC3339Nano))}); err != nil {
		a.failErr(w, r, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
		a.log.Info("audit: recording started", "user", who.User, "id", st.ID, "box", req.BoxID, "mode", st.Mode)
	} else {
		a.log.Info("audit: recording resumed", "user", who.User, "id", st.ID, "next_seq", st.NextSeq)
	}
	writeJSON(w, code, st)
}

func (a *API) get(w http.ResponseWriter, r *http.Request, _ auth.Claims) {
	st, err := a.store.Get(r.PathValue("id"))
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *API) cancel(w http.ResponseWriter, r *http.Request, who auth.Claims) {
	id := r.PathValue("id")
	if err := a.store.Delete(id); err != nil {
		a.failErr(w, r, err)
		return
	}
	if err := a.audit(audit.Record{Actor: who.User, Action: audit.Cancel, Recording: id, Details: "the recording was deleted"}); err != nil {
		// The deletion cannot be undone: say so loudly.
		a.log.Error("audit: recording cancelled but not audited", "user", who.User, "id", id, "err", err)
		a.failErr(w, r, err)
		return
	}
	a.log.Info("audit: recording cancelled", "user", who.User, "id", id)
	if a.live != nil {
		a.live.End(id)
	}
	w.WriteHeader(http.StatusNoContent)
}

// parseSeq accepts only the canonical decimal form, so one segment has one URL.
func parseSeq(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != s {
		return 0, fmt.Errorf("%w: segment number %q", errBadRequest, s)
	}
	return n, nil
}

// putSegment stores one segment durably and acknowledges it. The
// checksum comes in the X-Twincap-Checksum header, or, when the box
// streams a segment at the live edge while the encoder still cuts it, in
// a trailer of that name (declared in the Trailer header, the value sent
// after the body): then each moof+mdat goes to the livestream as it
// arrives. Either way nothing is stored or acknowledged before the whole
// body is in and matches the checksum; a stream cut short is an error and
// the box sends the segment again from its journal.
func (a *API) putSegment(w http.ResponseWriter, r *http.Request, _ auth.Claims) {
	seq, err := parseSeq(r.PathValue("seq"))
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	id := r.PathValue("id")
	hdrSum := r.Header.Get(wire.HeaderChecksum)
	_, streamed := r.Trailer[http.CanonicalHeaderKey(wire.HeaderChecksum)]
	var sum segment.Checksum
	if hdrSum != "" || !streamed {
		if sum, err = segment.ParseChecksum(hdrSum); err != nil {
			a.fail(w, r, http.StatusBadRequest, fmt.Errorf("httpapi: header %s: %w", wire.HeaderChecksum, err))
			return
		}
		streamed = false
	}
	if r.ContentLength > segment.MaxSize {
		a.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("httpapi: segment of %d bytes exceeds %d", r.ContentLength, segment.MaxSize))
		return
	}
	var body []byte
	if r.ContentLength > 0 {
		body = make([]byte, 0, r.ContentLength)
	}
	var sink io.Writer
	buf := &byteSink{b: body}
	sink = buf
	var parts *partSplitter
	if streamed {
		parts = &partSplitter{b: body, maxBytes: segment.MaxSize}
		if a.live != nil && seq != segment.InitSeq && a.recording(id) {
			parts.part = func(n uint32, b []byte) { a.live.PublishPart(id, seq, n, b) }
		}
		sink = parts
	}
	if _, err := io.Copy(sink, http.MaxBytesReader(w, r.Body, segment.MaxSize)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("httpapi: segment exceeds %d bytes", segment.MaxSize))
			return
		}
		a.fail(w, r, http.StatusBadRequest, fmt.Errorf("httpapi: reading segment: %w", err))
		return
	}
	if streamed {
		buf.b = parts.b
		// The trailer is known only now that the body has been read.
		if sum, err = segment.ParseChecksum(r.Trailer.Get(wire.HeaderChecksum)); err != nil {
			a.fail(w, r, http.StatusBadRequest, fmt.Errorf("httpapi: trailer %s: %w", wire.HeaderChecksum, err))
			return
		}
	}
	ack, err := a.store.PutSegment(id, seq, sum, buf.b)
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	if a.live != nil {
		a.live.Publish(id, seq, buf.b)
	}
	ack.Viewers = a.viewers(r.Context())
	writeJSON(w, http.StatusOK, ack)
}

// recording reports whether id is being recorded here: the livestream
// shows parts of a segment before the store has checked it, so only for
// a recording that exists and is not finalized.
func (a *API) recording(id string) bool {
	st, err := a.store.Get(id)
	return err == nil && st.State != wire.StateFinalized
}

type byteSink struct{ b []byte }

func (s *byteSink) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }

func (a *API) addGap(w http.ResponseWriter, r *http.Request, who auth.Claims) {
	var g wire.Gap
	if !a.readJSON(w, r, &g) {
		return
	}
	st, err := a.store.AddGap(r.PathValue("id"), g)
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	a.log.Info("audit: gap recorded", "user", who.User, "id", st.ID, "from", g.From, "to", g.To, "reason", g.Reason)
	writeJSON(w, http.StatusOK, st)
}

// incompleteReply is both a wire.Error and a wire.RecordingState, so a
// client can decode a 409 from stop into either.
type incompleteReply struct {
	wire.RecordingState
	Error string `json:"error"`
}

func (a *API) stop(w http.ResponseWriter, r *http.Request, who auth.Claims) {
	var req wire.StopRequest
	if !a.readJSON(w, r, &req) {
		return
	}
	st, err := a.store.Stop(r.PathValue("id"), req.Count, req.StoppedAt)
	if errors.Is(err, store.ErrIncomplete) {
		a.log.Warn("httpapi: stop refused, recording incomplete", "user", who.User, "id", st.ID, "missing", len(st.Missing))
		writeJSON(w, http.StatusConflict, incompleteReply{RecordingState: st, Error: err.Error()})
		return
	}
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	// The stop is acknowledged once the audit trail holds it and the
	// recording's audit.json is written; a retried stop finishes the job.
	if err := a.finish(st.ID, who.User, ""); err != nil {
		a.failErr(w, r, err)
		return
	}
	a.log.Info("audit: recording stopped", "user", who.User, "id", st.ID, "segments", req.Count, "bytes", st.Bytes)
	if a.finalized != nil {
		a.finalized(st.ID)
	}
	if a.live != nil {
		a.live.End(st.ID)
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *API) media(w http.ResponseWriter, r *http.Request, who auth.Claims) {
	f, err := a.store.OpenMedia(r.PathValue("id"))
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	a.log.Info("audit: media read", "user", who.User, "id", r.PathValue("id"))
	http.ServeContent(w, r, "media.mp4", fi.ModTime(), f)
}

func (a *API) metadata(w http.ResponseWriter, r *http.Request, _ auth.Claims) {
	m, err := a.store.Metadata(r.PathValue("id"))
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}
