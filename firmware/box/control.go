package box

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

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
)

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
	return mux
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
