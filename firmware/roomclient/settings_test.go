package roomclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"twincap/server/settings"
	"twincap/server/wire"
)

func TestSettingsAndAudit(t *testing.T) {
	s := settings.Default()
	s.RoomID, s.DeviceID, s.DeviceURL = "room1", "dev-1", "https://evidence.example/1"
	good, _ := json.Marshal(s)
	var reply []byte
	var code int
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(wire.HeaderAuthorization) != "Bearer T" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case wire.PathSettings:
			w.WriteHeader(code)
			_, _ = w.Write(reply)
		case strings.Replace(wire.PathAudit, "{id}", "rec1", 1):
			_, _ = w.Write([]byte(`{"format":"x"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c, err := New(srv.Listener.Addr().String(), srv.Client().Transport.(*http.Transport).TLSClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	c = c.WithTicket("T")
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		code  int
		reply string
		want  error // nil: the settings above
		text  string
	}{
		{"ok", 200, string(good), nil, ""},
		{"forbidden", 403, `{"error":"no"}`, ErrForbidden, "no"},
		{"unknown field", 200, `{"colour":1}`, settings.ErrInvalid, "colour"},
		{"not JSON", 200, `<html>`, nil, "decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, reply = tc.code, []byte(tc.reply)
			got, err := c.Settings(ctx)
			switch {
			case tc.text == "" && (err != nil || len(settings.Compare(got, s).Differences) != 0):
				t.Fatalf("Settings = %+v, %v", got, err)
			case tc.text != "" && (err == nil || !strings.Contains(err.Error(), tc.text)):
				t.Fatalf("Settings error %v, want one saying %q", err, tc.text)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("Settings error %v is not %v", err, tc.want)
			}
		})
	}
	if _, err := c.WithTicket("").Settings(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("no ticket: %v", err)
	}
	var buf bytes.Buffer
	if err := c.Audit(ctx, "rec1", &buf); err != nil || buf.String() != `{"format":"x"}` {
		t.Fatalf("Audit = %q, %v", buf.String(), err)
	}
}
