package httpapi

import (
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
	"time"

	"twincap/encoder/segment"
	"twincap/server/auth"
	"twincap/server/store"
	"twincap/server/wire"
)

// MaxJSONBody bounds every JSON request body.
const MaxJSONBody = 64 << 10

// Config configures the API.
type Config struct {
	ServerID string
	RoomID   string
	BootID   string
	Now      func() time.Time // nil: time.Now
}

// API serves the room server's routes.
type API struct {
	cfg   Config
	store *store.Store
	auth  *auth.Service
	log   *slog.Logger
	mux   *http.ServeMux
}

// New builds the API over a store and an auth service.
func New(cfg Config, st *store.Store, au *auth.Service, log *slog.Logger) (*API, error) {
	if st == nil || au == nil {
		return nil, errors.New("httpapi: store and auth are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &API{cfg: cfg, store: st, auth: au, log: log, mux: http.NewServeMux()}
	a.routes()
	return a, nil
}

// Route is one method and path pattern that the API serves.
type Route struct {
	Method, Path string
	Public       bool // no ticket needed
}

// Routes lists every route (tests walk it).
func Routes() []Route {
	return []Route{
		{http.MethodGet, wire.PathHealth, true},
		{http.MethodPost, wire.PathLogin, true},
		{http.MethodPost, wire.PathLogout, false},
		{http.MethodGet, wire.PathRecordings, false},
		{http.MethodPost, wire.PathRecordings, false},
		{http.MethodGet, wire.PathRecording, false},
		{http.MethodDelete, wire.PathRecording, false},
		{http.MethodPut, wire.PathSegment, false},
		{http.MethodPost, wire.PathGaps, false},
		{http.MethodPost, wire.PathStop, false},
		{http.MethodGet, wire.PathMedia, false},
		{http.MethodGet, wire.PathMetadata, false},
	}
}

type authedHandler func(w http.ResponseWriter, r *http.Request, who auth.Claims)

func (a *API) routes() {
	handlers := map[string]authedHandler{
		"POST " + wire.PathLogout:      a.logout,
		"GET " + wire.PathRecordings:   a.list,
		"POST " + wire.PathRecordings:  a.create,
		"GET " + wire.PathRecording:    a.get,
		"DELETE " + wire.PathRecording: a.cancel,
		"PUT " + wire.PathSegment:      a.putSegment,
		"POST " + wire.PathGaps:        a.addGap,
		"POST " + wire.PathStop:        a.stop,
		"GET " + wire.PathMedia:        a.media,
		"GET " + wire.PathMetadata:     a.metadata,
	}
	a.mux.HandleFunc("GET "+wire.PathHealth, a.health)
	a.mux.HandleFunc("POST "+wire.PathLogin, a.login)
	for _, rt := range Routes() {
		if rt.Public {
			continue
		}
		a.mux.Handle(rt.Method+" "+rt.Path, a.authed(handlers[rt.Method+" "+rt.Path]))
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
	rest, ok := strings.CutPrefix(raw, recordingsPrefix)
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
	case errors.Is(err, store.ErrInvalid), errors.Is(err, segment.ErrBadID), errors.Is(err, errBadRequest):
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
	writeJSON(w, http.StatusOK, wire.Health{ServerID: a.cfg.ServerID, RoomID: a.cfg.RoomID, BootID: a.cfg.BootID, Time: a.cfg.Now().UTC()})
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
	rep, err := a.auth.Login(req.Username, req.Password, remoteHost(r))
	if err != nil {
		var rl *auth.RateLimitError
		if errors.As(err, &rl) {
			w.Header().Set("Retry-After", strconv.Itoa(int(rl.RetryAfter.Seconds())+1))
		}
		a.log.Warn("audit: login failed", "user", req.Username, "remote", remoteHost(r), "err", err)
		a.failErr(w, r, err)
		return
	}
	a.log.Info("audit: login", "user", rep.User, "remote", remoteHost(r))
	writeJSON(w, http.StatusOK, rep)
}

func (a *API) logout(w http.ResponseWriter, r *http.Request, who auth.Claims) {
	t, _ := bearer(r)
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
	a.log.Info("audit: recording cancelled", "user", who.User, "id", id)
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

func (a *API) putSegment(w http.ResponseWriter, r *http.Request, _ auth.Claims) {
	seq, err := parseSeq(r.PathValue("seq"))
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	sum, err := segment.ParseChecksum(r.Header.Get(wire.HeaderChecksum))
	if err != nil {
		a.fail(w, r, http.StatusBadRequest, fmt.Errorf("httpapi: header %s: %w", wire.HeaderChecksum, err))
		return
	}
	if r.ContentLength > segment.MaxSize {
		a.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("httpapi: segment of %d bytes exceeds %d", r.ContentLength, segment.MaxSize))
		return
	}
	var body []byte
	if r.ContentLength > 0 {
		body = make([]byte, 0, r.ContentLength)
	}
	buf := &byteSink{b: body}
	if _, err := io.Copy(buf, http.MaxBytesReader(w, r.Body, segment.MaxSize)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("httpapi: segment exceeds %d bytes", segment.MaxSize))
			return
		}
		a.fail(w, r, http.StatusBadRequest, fmt.Errorf("httpapi: reading segment: %w", err))
		return
	}
	ack, err := a.store.PutSegment(r.PathValue("id"), seq, sum, buf.b)
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ack)
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
	a.log.Info("audit: recording stopped", "user", who.User, "id", st.ID, "segments", req.Count, "bytes", st.Bytes)
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
