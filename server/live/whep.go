package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"twincap/encoder/segment"
	"twincap/server/wire"
)

// Routes. {id} is a recording ID (segment.ValidateID), {session} the ID of
// a WHEP session.
const (
	PathStatus      = "/api/v1/live"                     // GET Status
	PathWHEPCurrent = "/api/v1/live/whep"                // POST application/sdp offer: the current live interview
	PathWHEP        = "/api/v1/live/{id}/whep"           // POST application/sdp offer: recording id
	PathSession     = "/api/v1/live/{id}/whep/{session}" // DELETE ends the session
	PathViewer      = "/live"                            // GET the viewer page
)

// ContentTypeSDP is the media type of WHEP offers and answers.
const ContentTypeSDP = "application/sdp"

// Route is one method and path pattern that the WHEP handler serves.
type Route struct {
	Method, Path string
	Public       bool // no authorization asked
}

// Routes lists every route NewWHEP's handler serves (OPTIONS, for CORS
// preflights, is answered on all of them without authorization).
func Routes() []Route {
	return []Route{
		{http.MethodGet, PathStatus, false},
		{http.MethodPost, PathWHEPCurrent, false},
		{http.MethodPost, PathWHEP, false},
		{http.MethodDelete, PathSession, false},
		{http.MethodPatch, PathSession, false},
		{http.MethodGet, PathViewer, true},
	}
}

// SessionPath is the resource of a WHEP session, as its Location says.
func SessionPath(recordingID, sessionID string) string {
	return "/api/v1/live/" + url.PathEscape(recordingID) + "/whep/" + url.PathEscape(sessionID)
}

// WHEPConfig configures NewWHEP.
type WHEPConfig struct {
	// Authorize decides whether a request may watch: a non-nil error
	// answers 401. Required; the server passes its ticket check.
	Authorize func(*http.Request) error
	// AllowOrigins are the origins ("https://host:port") of pages that may
	// call these routes from a browser besides this server's own: the
	// paired server, whose viewer page fails over to this one. "*" allows
	// any origin.
	AllowOrigins []string
	// Viewer configures the page at PathViewer.
	Viewer ViewerConfig
}

// WHEP serves WHEP (RFC 9725) for the hub's live streams, what is live,
// and the viewer page.
type WHEP struct {
	hub  *Hub
	cfg  WHEPConfig
	log  *slog.Logger
	mux  *http.ServeMux
	page []byte
}

// NewWHEP builds the handler. log may be nil.
func NewWHEP(hub *Hub, cfg WHEPConfig, log *slog.Logger) (*WHEP, error) {
	if hub == nil {
		return nil, errors.New("live: NewWHEP: no hub")
	}
	if cfg.Authorize == nil {
		return nil, errors.New("live: NewWHEP: Authorize is required (viewing needs a logged-in user)")
	}
	for _, o := range cfg.AllowOrigins {
		if o == "*" {
			continue
		}
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			return nil, fmt.Errorf("live: allowed origin %q: want scheme://host[:port]", o)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	page, err := renderViewer(cfg.Viewer)
	if err != nil {
		return nil, err
	}
	w := &WHEP{hub: hub, cfg: cfg, log: log, mux: http.NewServeMux(), page: page}
	handlers := map[string]http.HandlerFunc{
		"GET " + PathStatus:       w.status,
		"POST " + PathWHEPCurrent: w.post,
		"POST " + PathWHEP:        w.post,
		"DELETE " + PathSession:   w.delete,
		"PATCH " + PathSession:    w.patch,
		"GET " + PathViewer:       w.viewer,
	}
	for _, rt := range Routes() {
		h := handlers[rt.Method+" "+rt.Path]
		if !rt.Public {
			h = w.authorized(h)
		}
		w.mux.Handle(rt.Method+" "+rt.Path, h)
	}
	return w, nil
}

// ServeHTTP answers CORS preflights, then routes.
func (w *WHEP) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.cors(rw, r)
	if r.Method == http.MethodOptions {
		rw.Header().Set("Allow", "GET, POST, DELETE, PATCH, OPTIONS")
		rw.Header().Set("Accept-Post", ContentTypeSDP)
		rw.WriteHeader(http.StatusNoContent)
		return
	}
	w.mux.ServeHTTP(rw, r)
}

// cors lets the paired server's viewer page use this server: the failover
// target of a page is always another origin.
func (w *WHEP) cors(rw http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	h := rw.Header()
	h.Add("Vary", "Origin")
	if !slices.Contains(w.cfg.AllowOrigins, origin) && !slices.Contains(w.cfg.AllowOrigins, "*") {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Expose-Headers", "Location, Content-Type")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, PATCH, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		h.Set("Access-Control-Max-Age", "600")
	}
}

func (w *WHEP) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		if err := w.cfg.Authorize(r); err != nil {
			rw.Header().Set("WWW-Authenticate", `Bearer realm="twincap"`)
			w.fail(rw, r, http.StatusUnauthorized, fmt.Errorf("live: login required: %w", err))
			return
		}
		h(rw, r)
	}
}

func (w *WHEP) fail(rw http.ResponseWriter, r *http.Request, code int, err error) {
	msg := err.Error()
	if code >= 500 && code != http.StatusServiceUnavailable {
		w.log.Error("live: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = http.StatusText(code)
	} else {
		w.log.Debug("live: request refused", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
	}
	writeJSON(rw, code, wire.Error{Error: msg})
}

func writeJSON(rw http.ResponseWriter, code int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(code)
	_ = json.NewEncoder(rw).Encode(v)
}

// recordingID is the {id} of the route, "" on PathWHEPCurrent.
func recordingID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if id == "" && r.URL.Path == PathWHEPCurrent {
		return "", nil
	}
	if err := segment.ValidateID(id); err != nil {
		return "", fmt.Errorf("live: %w", err)
	}
	return id, nil
}

func (w *WHEP) status(rw http.ResponseWriter, r *http.Request) {
	s, err := w.hub.Status(r.Context())
	if err != nil {
		w.fail(rw, r, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(rw, http.StatusOK, s)
}

func (w *WHEP) post(rw http.ResponseWriter, r *http.Request) {
	id, err := recordingID(r)
	if err != nil {
		w.fail(rw, r, http.StatusBadRequest, err)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != ContentTypeSDP {
		w.fail(rw, r, http.StatusUnsupportedMediaType, fmt.Errorf("live: offer must be %s", ContentTypeSDP))
		return
	}
	offer, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, maxOffer))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			w.fail(rw, r, http.StatusRequestEntityTooLarge, fmt.Errorf("live: offer exceeds %d bytes", maxOffer))
			return
		}
		w.fail(rw, r, http.StatusBadRequest, fmt.Errorf("live: reading offer: %w", err))
		return
	}
	s, err := w.hub.newSession(r.Context(), id, string(offer), r.RemoteAddr)
	if err != nil {
		w.fail(rw, r, sessionStatus(err), err)
		return
	}
	h := rw.Header()
	h.Set("Location", SessionPath(s.Recording, s.ID))
	h.Set("Content-Type", ContentTypeSDP)
	h.Set("Cache-Control", "no-store")
	rw.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(rw, s.Answer)
}

func sessionStatus(err error) int {
	switch {
	case errors.Is(err, ErrNotLive):
		return http.StatusNotFound
	case errors.Is(err, ErrBadOffer):
		return http.StatusBadRequest
	case errors.Is(err, ErrTooManyViewers), errors.Is(err, ErrClosed),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (w *WHEP) delete(rw http.ResponseWriter, r *http.Request) {
	id, err := recordingID(r)
	if err != nil {
		w.fail(rw, r, http.StatusBadRequest, err)
		return
	}
	found, err := w.hub.endSession(r.Context(), id, r.PathValue("session"))
	switch {
	case err != nil:
		w.fail(rw, r, http.StatusServiceUnavailable, err)
	case !found:
		w.fail(rw, r, http.StatusNotFound, errors.New("live: no such session"))
	default:
		rw.WriteHeader(http.StatusOK)
	}
}

// patch refuses trickle ICE and ICE restarts: the answer carries every
// candidate, and a viewer that loses its path starts a new session (on
// the other server, if this one is what failed).
func (w *WHEP) patch(rw http.ResponseWriter, r *http.Request) {
	rw.Header().Set("Allow", "DELETE")
	w.fail(rw, r, http.StatusMethodNotAllowed, errors.New("live: trickle ICE and ICE restarts are not supported"))
}

func (w *WHEP) viewer(rw http.ResponseWriter, r *http.Request) {
	h := rw.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; media-src 'self' blob:; connect-src *")
	if strings.EqualFold(r.Method, http.MethodHead) {
		return
	}
	_, _ = rw.Write(w.page)
}
