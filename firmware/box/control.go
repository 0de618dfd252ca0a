package box

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"twincap/firmware/roomclient"
)

// Control API routes (JSON over HTTP, served on the box's control address).
const (
	PathStatus = "/api/status"
	PathLogin  = "/api/login"
	PathLogout = "/api/logout"
	PathStart  = "/api/start"
	PathStop   = "/api/stop"
	PathCancel = "/api/cancel"
	// PathEvents streams the status as server-sent events (the control
	// page updates itself without reloading).
	PathEvents  = "/api/events"
	PathPreview = "/api/preview.jpg"
)

//go:embed web
var web embed.FS

// LoginRequest is the body of a control login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// ActionReply answers start, stop and cancel.
type ActionReply struct {
	RecordingID string `json:"recording_id"`
}

// ErrorReply is the body of every failed control call.
type ErrorReply struct {
	Error string `json:"error"`
}

// Handler is the control API.
func (b *Box) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(web, "web")
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, static, "index.html")
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET "+PathEvents, b.serveEvents)
	mux.HandleFunc("GET "+PathPreview, b.servePreview)
	mux.HandleFunc("GET "+PathStatus, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, b.Status())
	})
	mux.HandleFunc("POST "+PathLogin, func(w http.ResponseWriter, r *http.Request) {
		var req LoginRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeErr(w, http.StatusBadRequest, "login: bad body: "+err.Error())
			return
		}
		if strings.TrimSpace(req.Username) == "" || req.Password == "" {
			writeErr(w, http.StatusBadRequest, "login: username and password are required")
			return
		}
		if err := b.Login(r.Context(), req.Username, req.Password); err != nil {
			code := http.StatusBadGateway
			switch {
			case errors.Is(err, roomclient.ErrUnauthorized):
				code = http.StatusUnauthorized
			case errors.Is(err, roomclient.ErrRateLimited):
				code = http.StatusTooManyRequests
			}
			writeErr(w, code, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, b.Status())
	})
	mux.HandleFunc("POST "+PathLogout, func(w http.ResponseWriter, r *http.Request) {
		b.Logout()
		writeJSON(w, http.StatusOK, b.Status())
	})
	action := func(f func(r *http.Request) (string, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			id, err := f(r)
			if err != nil {
				code := http.StatusInternalServerError
				switch {
				case errors.Is(err, ErrNotLoggedIn):
					code = http.StatusUnauthorized
				case errors.Is(err, ErrBusy), errors.Is(err, ErrIdle), errors.Is(err, ErrCannotStart):
					code = http.StatusConflict
				}
				writeErr(w, code, err.Error())
				return
			}
			writeJSON(w, http.StatusOK, ActionReply{RecordingID: id})
		}
	}
	mux.HandleFunc("POST "+PathStart, action(func(r *http.Request) (string, error) { return b.Start(r.Context()) }))
	mux.HandleFunc("POST "+PathStop, action(func(r *http.Request) (string, error) { return b.Stop(r.Context()) }))
	mux.HandleFunc("POST "+PathCancel, action(func(r *http.Request) (string, error) { return b.Cancel(r.Context()) }))
	mux.HandleFunc("POST "+PathUpdate, b.serveUpdate)
	return mux
}

// serveEvents sends the status whenever it changes (at most four times a
// second, which also keeps the elapsed time ticking), until the page goes.
func (b *Box) serveEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeErr(w, http.StatusInternalServerError, "events: streaming not supported")
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var last []byte
	for {
		cur, err := json.Marshal(b.Status())
		if err != nil {
			return
		}
		if !bytes.Equal(cur, last) {
			if _, err := fmt.Fprintf(w, "data: %s\n\n", cur); err != nil {
				return
			}
			flusher.Flush()
			last = cur
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeErr(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, ErrorReply{Error: msg})
}
