package httpapi

import (
	"context"
	"crypto/fips140"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"twincap/server/audit"
	"twincap/server/auth"
	"twincap/server/settings"
	"twincap/server/wire"
)

func (a *API) getSettings(w http.ResponseWriter, r *http.Request, _ auth.Claims) {
	writeJSON(w, http.StatusOK, a.settings.Get())
}

// peerSettings serves the settings to the paired server, which shows a
// peer token instead of a ticket.
func (a *API) peerSettings(w http.ResponseWriter, r *http.Request) {
	peer, ok := a.peerAuthed(w, r)
	if !ok {
		return
	}
	a.log.Debug("httpapi: settings read by the paired server", "peer", peer, "remote", remoteHost(r))
	writeJSON(w, http.StatusOK, a.settings.Get())
}

// patchSettings merges a JSON merge patch into the settings.
func (a *API) patchSettings(w http.ResponseWriter, r *http.Request, who auth.Claims) {
	body, ok := a.readDocument(w, r)
	if !ok {
		return
	}
	a.changeSettings(w, r, who, "PATCH", body, func(cur settings.Settings) (settings.Settings, error) {
		return settings.Apply(cur, body)
	})
}

// putSettings replaces the settings with a whole document; a field it
// leaves out takes its default.
func (a *API) putSettings(w http.ResponseWriter, r *http.Request, who auth.Claims) {
	body, ok := a.readDocument(w, r)
	if !ok {
		return
	}
	a.changeSettings(w, r, who, "PUT", body, func(settings.Settings) (settings.Settings, error) {
		return settings.Decode(body)
	})
}

func (a *API) readDocument(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.ContentLength > settings.MaxDocument {
		a.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("httpapi: settings document of %d bytes exceeds %d", r.ContentLength, settings.MaxDocument))
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, settings.MaxDocument))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("httpapi: settings document exceeds %d bytes", settings.MaxDocument))
			return nil, false
		}
		a.fail(w, r, http.StatusBadRequest, fmt.Errorf("httpapi: reading settings: %w", err))
		return nil, false
	}
	return body, true
}

// roomProblem names room_id when body would move the server to another
// room than its configuration's: tickets and recordings follow the
// configuration, so the settings may not say otherwise.
func (a *API) roomProblem(body []byte) *settings.FieldError {
	var doc struct {
		RoomID *string `json:"room_id"`
	}
	if json.Unmarshal(body, &doc) != nil || doc.RoomID == nil || *doc.RoomID == a.cfg.RoomID {
		return nil
	}
	return &settings.FieldError{Field: "room_id", Problem: fmt.Sprintf(
		"%q: this server's room is room_id in its config file (%q); change it there and restart", *doc.RoomID, a.cfg.RoomID)}
}

// changeSettings makes change's result the settings, durably and audited,
// or answers 400 naming every offending field and keeps the settings.
func (a *API) changeSettings(w http.ResponseWriter, r *http.Request, who auth.Claims, how string, body []byte,
	change func(settings.Settings) (settings.Settings, error)) {
	a.changeMu.Lock()
	defer a.changeMu.Unlock()
	old := a.settings.Get()
	next, err := change(old)
	if p := a.roomProblem(body); p != nil {
		var inv *settings.InvalidError
		switch {
		case err == nil:
			err = &settings.InvalidError{Fields: []settings.FieldError{*p}}
		case errors.As(err, &inv) && !slices.ContainsFunc(inv.Fields, func(f settings.FieldError) bool { return f.Field == p.Field }):
			inv.Fields = append(inv.Fields, *p)
		}
	}
	if err != nil {
		a.refuseSettings(w, r, err)
		return
	}
	if _, err := a.settings.Replace(next); err != nil {
		a.refuseSettings(w, r, err)
		return
	}
	details := changeDetails(how, old, next)
	if err := a.audit(audit.Record{Actor: who.User, Action: audit.SettingsChange, Details: details}); err != nil {
		// Not audited: not made.
		if _, rerr := a.settings.Replace(old); rerr != nil {
			a.log.Error("audit: settings changed, neither audited nor put back", "user", who.User, "details", details, "err", errors.Join(err, rerr))
		}
		a.failErr(w, r, err)
		return
	}
	a.log.Info("audit: settings changed", "user", who.User, "details", details)
	if next.FIPS && !fips140.Enabled() {
		a.log.Warn("httpapi: the settings require FIPS 140-3 mode: restart the server to enter it")
	}
	if a.pair != nil {
		a.pair.Nudge()
	}
	if a.settingsChanged != nil {
		a.settingsChanged(next)
	}
	writeJSON(w, http.StatusOK, next)
}

func (a *API) refuseSettings(w http.ResponseWriter, r *http.Request, err error) {
	var inv *settings.InvalidError
	if !errors.As(err, &inv) {
		a.failErr(w, r, err)
		return
	}
	rep := wire.SettingsError{Error: err.Error(), Fields: []wire.FieldProblem{}}
	for _, f := range inv.Fields {
		rep.Fields = append(rep.Fields, wire.FieldProblem{Field: f.Field, Problem: f.Problem})
	}
	a.log.Debug("httpapi: settings change refused", "err", err)
	writeJSON(w, http.StatusBadRequest, rep)
}

// changeDetails says what a change changed, ignored settings included,
// one line each, within the trail's limit.
func changeDetails(how string, old, next settings.Settings) string {
	c := settings.Compare(old, next)
	lines := []string{fmt.Sprintf("%s: %d settings changed", how, len(c.Differences))}
	if len(c.Differences) == 1 {
		lines[0] = how + ": 1 setting changed"
	}
	for _, d := range c.Differences {
		lines = append(lines, d.String())
	}
	s := strings.Join(lines, "\n")
	if len(s) > audit.MaxDetails {
		const cut = "\n... (cut)"
		s = s[:audit.MaxDetails-len(cut)]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += cut
	}
	return s
}

// getPair is the last comparison with the paired server, or a new one
// with ?refresh=1.
func (a *API) getPair(w http.ResponseWriter, r *http.Request, _ auth.Claims) {
	if a.pair == nil {
		a.fail(w, r, http.StatusServiceUnavailable, errors.New("httpapi: the pair check is not running"))
		return
	}
	if r.URL.Query().Get("refresh") == "" {
		writeJSON(w, http.StatusOK, a.pair.Last())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	rep, err := a.pair.Check(ctx)
	if err != nil {
		a.fail(w, r, http.StatusServiceUnavailable, fmt.Errorf("httpapi: pair check: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// peerAuthed checks the paired server's peer token and returns the server
// ID it names; it has answered 401 when ok is false.
func (a *API) peerAuthed(w http.ResponseWriter, r *http.Request) (peer string, ok bool) {
	scheme, tok, _ := strings.Cut(r.Header.Get(wire.HeaderAuthorization), " ")
	if !strings.EqualFold(scheme, wire.PeerScheme) {
		w.Header().Set("WWW-Authenticate", wire.PeerScheme+` realm="twincap"`)
		a.fail(w, r, http.StatusUnauthorized, fmt.Errorf("httpapi: peer token required (Authorization: %s <token>)", wire.PeerScheme))
		return "", false
	}
	peer, err := a.auth.CheckPeer(strings.TrimSpace(tok))
	if err != nil {
		w.Header().Set("WWW-Authenticate", wire.PeerScheme+` realm="twincap", error="invalid_token"`)
		a.fail(w, r, http.StatusUnauthorized, err)
		return "", false
	}
	return peer, true
}
