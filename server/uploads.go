package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"twincap/server/audit"
	"twincap/server/config"
	"twincap/server/evidence"
	"twincap/server/pair"
	"twincap/server/settings"
	"twincap/server/store"
	"twincap/server/wire"
)

// EvidenceDir is the upload queue's folder under the data folder.
const EvidenceDir = "evidence"

// evidenceRetryAfter is how long the uploads wait before building the
// queue again after it stopped on an error (a status file that cannot be
// written).
const evidenceRetryAfter = time.Minute

// Credentials is the file that settings.Evidence.CredentialsRef names in
// the config's credentials_dir: the evidence store's keys, as JSON
// {"access_key": "...", "secret_key": "..."}. It should be readable by
// the server's user only (mode 0600).
type Credentials struct {
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
}

// LoadCredentials reads the credentials file ref names in dir.
func LoadCredentials(dir, ref string) (Credentials, error) {
	if ref == "" || filepath.Base(ref) != ref {
		return Credentials{}, fmt.Errorf("server: credentials %q: want a file name in credentials_dir", ref)
	}
	p := filepath.Join(dir, ref)
	b, err := os.ReadFile(p)
	if err != nil {
		return Credentials{}, fmt.Errorf("server: credentials: %w", err)
	}
	var c Credentials
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Credentials{}, fmt.Errorf("server: credentials %s: want {\"access_key\": ..., \"secret_key\": ...}: %w", p, err)
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		return Credentials{}, fmt.Errorf("server: credentials %s: access_key and secret_key are both required", p)
	}
	return c, nil
}

// EvidenceConfig is where this server uploads, from its configuration and
// settings; ok is false when the settings name no evidence store.
func EvidenceConfig(cfg config.Config, ev settings.Evidence) (c evidence.Config, ok bool, err error) {
	if ev.Endpoint == "" || ev.Bucket == "" {
		return evidence.Config{}, false, nil
	}
	u, err := url.Parse(ev.Endpoint)
	if err != nil {
		return evidence.Config{}, true, fmt.Errorf("server: evidence endpoint: %w", err)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		return evidence.Config{}, true, fmt.Errorf("server: evidence endpoint %q: want scheme://host[:port] only", ev.Endpoint)
	}
	port := u.Port()
	switch u.Scheme {
	case "https":
		port = cmp.Or(port, "443")
	case "http":
		port = cmp.Or(port, "80")
	default:
		return evidence.Config{}, true, fmt.Errorf("server: evidence endpoint %q: want http or https", ev.Endpoint)
	}
	creds, err := LoadCredentials(cfg.CredentialsDir, ev.CredentialsRef)
	if err != nil {
		return evidence.Config{}, true, err
	}
	var transport http.RoundTripper
	if cfg.EvidenceCAFile != "" && u.Scheme == "https" {
		if transport, err = evidenceTransport(cfg.EvidenceCAFile); err != nil {
			return evidence.Config{}, true, err
		}
	}
	day := 24 * time.Hour
	c = evidence.Config{
		Transport:     transport,
		Endpoint:      net.JoinHostPort(u.Hostname(), port),
		Secure:        u.Scheme == "https",
		Region:        ev.Region,
		Bucket:        ev.Bucket,
		AccessKey:     creds.AccessKey,
		SecretKey:     creds.SecretKey,
		ServerID:      cfg.ServerID,
		RoomID:        cfg.RoomID,
		RetentionDays: int((time.Duration(ev.ObjectLockRetention) + day - 1) / day),
	}
	return c, true, nil
}

// evidenceTransport trusts the system's CAs and those in caFile.
func evidenceTransport(caFile string) (*http.Transport, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("server: evidence_ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("server: evidence_ca_file %s: no PEM certificate in it", caFile)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t, nil
}

// uploads runs the evidence-upload queue of the server: it builds it
// from the settings, rebuilds it when they change, queues finalized
// recordings and audits how each upload ends.
type uploads struct {
	cfg      config.Config
	log      *slog.Logger
	settings *settings.Store
	store    *store.Store
	trail    *audit.Log
	peer     *pair.Checker
	changed  chan struct{}

	mu sync.Mutex // leaf lock: guards q
	q  *evidence.Queue
}

func newUploads(s *Server) *uploads {
	return &uploads{cfg: s.cfg, log: s.log, settings: s.settings, store: s.store, trail: s.trail, peer: s.pair,
		changed: make(chan struct{}, 1)}
}

// Queue is the running queue; nil while uploading is not configured, or
// while the queue is being rebuilt.
func (u *uploads) Queue() *evidence.Queue {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.q
}

func (u *uploads) setQueue(q *evidence.Queue) {
	u.mu.Lock()
	u.q = q
	u.mu.Unlock()
}

// SettingsChanged asks Run to look at the settings again.
func (u *uploads) SettingsChanged(settings.Settings) {
	select {
	case u.changed <- struct{}{}:
	default:
	}
}

// Finalized queues a recording that was just finalized. A failure is
// logged: the recording is queued again at the next start or rebuild.
func (u *uploads) Finalized(id string) {
	q := u.Queue()
	if q == nil {
		return
	}
	if err := u.add(q, id); err != nil {
		u.log.Error("evidence: recording not queued; it is queued at the next start", "id", id, "err", err)
	}
}

func (u *uploads) add(q *evidence.Queue, id string) error {
	f, err := u.store.Files(id)
	if err != nil {
		return err
	}
	m, err := u.store.Metadata(id)
	if err != nil {
		return err
	}
	trail, err := os.ReadFile(f.Audit)
	if err != nil {
		return fmt.Errorf("server: audit trail of %s: %w", id, err)
	}
	return q.Add(evidence.Recording{ID: id, FinalizedAt: m.FinalizedAt, MediaPath: f.Media, MetadataPath: f.Metadata, Audit: trail})
}

// addAll queues every finalized recording; the queue ignores those it has.
func (u *uploads) addAll(q *evidence.Queue) {
	for _, st := range u.store.List() {
		if st.State != wire.StateFinalized {
			continue
		}
		if err := u.add(q, st.ID); err != nil {
			u.log.Error("evidence: recording not queued", "id", st.ID, "err", err)
		}
	}
}

// evidenceKey is what a queue is built from: a change rebuilds it.
func evidenceKey(s settings.Settings) string {
	b, _ := json.Marshal(struct {
		E settings.Evidence
		P settings.Paired
	}{s.Evidence, s.Paired})
	return string(b)
}

// build makes the queue for settings s; nil, nil when s names no store.
func (u *uploads) build(s settings.Settings) (*evidence.Queue, error) {
	ec, ok, err := EvidenceConfig(u.cfg, s.Evidence)
	if err != nil || !ok {
		return nil, err
	}
	up, err := evidence.New(ec)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	_, paired, err := pair.PeerAddr(s)
	if err != nil {
		return nil, err
	}
	qc := evidence.QueueConfig{
		Dir:         filepath.Join(u.cfg.DataDir, EvidenceDir),
		Role:        s.Paired.Role,
		Alone:       !paired,
		Preferences: s.Evidence,
		Settled:     u.settled,
	}
	var peer evidence.Peer
	if paired {
		peer = u.peer
	}
	return evidence.NewQueue(qc, up, peer, u.log)
}

// Run keeps a queue running for the current settings until ctx ends.
func (u *uploads) Run(ctx context.Context) error {
	for {
		s := u.settings.Get()
		key := evidenceKey(s)
		q, err := u.build(s)
		switch {
		case err != nil:
			u.log.Error("evidence: not uploading: fix the evidence settings or the credentials file", "err", err)
		case q == nil:
			u.log.Info("evidence: not uploading: no evidence endpoint in the settings")
		default:
			u.log.Info("evidence: uploading", "endpoint", s.Evidence.Endpoint, "bucket", s.Evidence.Bucket, "role", s.Paired.Role)
			u.setQueue(q)
			u.addAll(q)
		}
		qctx, cancel := context.WithCancel(ctx)
		var done chan error // nil: no queue runs
		if q != nil {
			done = make(chan error, 1)
			go func() { done <- q.Run(qctx) }()
		}
		var retry <-chan time.Time
		stop := func() error {
			cancel()
			var err error
			if done != nil {
				err = <-done
			}
			u.setQueue(nil)
			return err
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				stop()
				return nil
			case <-u.changed:
				if evidenceKey(u.settings.Get()) == key {
					continue
				}
				if err := stop(); err != nil {
					u.log.Error("evidence: the queue stopped", "err", err)
				}
				u.log.Info("evidence: settings changed; the upload queue is rebuilt")
				break wait
			case err := <-done:
				u.setQueue(nil)
				cancel()
				u.log.Error("evidence: the upload queue stopped; it is started again", "err", err, "after", evidenceRetryAfter)
				done, retry = nil, time.After(evidenceRetryAfter)
			case <-retry:
				break wait
			}
		}
		cancel()
	}
}

// settled audits how an upload ended and, when this server's upload is
// complete, tells the paired server so.
func (u *uploads) settled(st evidence.Status) {
	id := st.Recording.ID
	var details string
	switch st.State {
	case evidence.Done:
		details = "uploaded to the evidence store"
		if m := st.Marker; m != nil {
			details = fmt.Sprintf("uploaded to the evidence store, folder %s: media %d bytes", m.Folder, m.MediaBytes())
			if o, ok := m.Object(evidence.MediaName); ok {
				details += ", sha256 " + o.SHA256
			}
		}
		if st.Reason != "" {
			details += "; " + st.Reason
		}
	case evidence.Covered:
		details = "not uploaded from this server: the other server's upload stands"
		if m := st.Marker; m != nil {
			details += fmt.Sprintf(" (%s, folder %s, media %d bytes)", m.ServerID, m.Folder, m.MediaBytes())
		}
	case evidence.GivenUp:
		details = fmt.Sprintf("upload given up after %d failed attempts (retry: POST %s): %s", st.Attempts, wire.PathEvidenceRetry, st.LastError)
	case evidence.Conflict:
		details = "upload stopped, a person must look: " + st.LastError
	default:
		return
	}
	if _, err := u.trail.Append(audit.Record{Actor: audit.SystemActor, Action: audit.Upload, Recording: id, Details: cut(details)}); err != nil {
		u.log.Error("audit: upload outcome not audited", "id", id, "state", st.State, "details", details, "err", err)
	}
	if st.State == evidence.Done {
		if err := u.peer.Uploaded(context.Background(), id); err != nil {
			u.log.Debug("evidence: the paired server was not told of the upload", "id", id, "err", err)
		}
	}
}

// cut keeps details within the trail's limit.
func cut(s string) string {
	if len(s) <= audit.MaxDetails {
		return s
	}
	const more = " ... (cut)"
	s = s[:audit.MaxDetails-len(more)]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + more
}
