package box

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"twincap/firmware/config"
	"twincap/server/servertest"
)

// The control API takes a bundle a technician brought: only with an
// operator logged in and updates configured; the bundle is staged whole in
// the update folder and handed to the agent, whose refusal is the answer.
func TestABundleUploadedByHand(t *testing.T) {
	room := servertest.NewRoom(t, 2, servertest.Options{})
	stage := t.TempDir()
	var got []string // the staged bundles' contents, as the agent saw them
	withUpdates := func(c *config.Config) {
		c.Update = config.Update{Source: "https://127.0.0.1:9/updates", PublicKeys: []string{"release.pem"}, Board: "qemu-x86_64",
			CheckInterval: config.Duration{Duration: time.Hour}, StageDir: stage, Installer: config.InstallerSysupdate}
	}
	b := newTestBoxWith(t, room, withUpdates, func(d *Deps) {
		d.LocalUpdate = func(_ context.Context, path string) error {
			if path != filepath.Join(stage, ByHandName) {
				return errors.New("staged at " + path)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			got = append(got, string(data))
			if strings.HasPrefix(string(data), "bad") {
				return errors.New("verify by-hand.tcb: update: signed by an unknown key")
			}
			return nil
		}
	})
	h := b.Handler()
	post := func(h http.Handler, body string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, PathUpdate, strings.NewReader(body)))
		var e ErrorReply
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		return rec.Code, e.Error
	}
	waitStatus(t, b, "two green icons", func(s Status) bool { return s.FailoverReady })
	if code, msg := post(h, "good bundle"); code != http.StatusUnauthorized || !strings.Contains(msg, "log") {
		t.Fatalf("without a login: %d %q", code, msg)
	}
	if err := b.Login(context.Background(), servertest.User, servertest.Password); err != nil {
		t.Fatal(err)
	}
	if code, msg := post(h, "good bundle"); code != http.StatusAccepted {
		t.Fatalf("a good bundle: %d %q", code, msg)
	}
	if code, msg := post(h, "bad bundle"); code != http.StatusBadRequest || !strings.Contains(msg, "signed by an unknown key") {
		t.Fatalf("a refused bundle: %d %q", code, msg)
	}
	if len(got) != 2 || got[0] != "good bundle" || got[1] != "bad bundle" {
		t.Fatalf("the agent saw %q", got)
	}

	// A box without updates says so.
	plain := newTestBox(t, room, nil)
	if err := plain.Login(context.Background(), servertest.User, servertest.Password); err != nil {
		t.Fatal(err)
	}
	if code, msg := post(plain.Handler(), "good bundle"); code != http.StatusConflict || !strings.Contains(msg, "not configured") {
		t.Fatalf("without updates: %d %q", code, msg)
	}
}
