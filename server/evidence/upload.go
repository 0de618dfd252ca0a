package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"twincap/encoder/segment"
	"twincap/server/wire"
)

// Errors that callers act on.
var (
	// ErrConflict: the store already holds other bytes under a key this
	// upload needs. Nothing is overwritten; a person has to look.
	ErrConflict = errors.New("evidence: conflict")
	// ErrVerify: what the store reports after an upload differs from what
	// was sent.
	ErrVerify = errors.New("evidence: verification failed")
	// ErrMismatch: the recording's files do not agree with each other
	// (media.mp4 is not the one metadata.json describes).
	ErrMismatch = errors.New("evidence: recording files do not match")
	// ErrBucket: the bucket is missing or lacks Object Lock that the
	// configuration asks for.
	ErrBucket = errors.New("evidence: bucket not usable")
)

// maxSmall bounds the claims and markers the uploader reads back.
const maxSmall = 1 << 20

// Recording is one finished recording on this server.
type Recording struct {
	ID           string    `json:"id"`
	FinalizedAt  time.Time `json:"finalized_at"`
	MediaPath    string    `json:"media_path"`
	MetadataPath string    `json:"metadata_path"`
	// AuditPath holds the recording's audit trail (audit.Export as JSON).
	// Upload also takes Audit instead; Queue.Add stores Audit as a file.
	AuditPath string `json:"audit_path"`
	Audit     []byte `json:"-"`
}

func (r Recording) validate() error {
	if err := segment.ValidateID(r.ID); err != nil {
		return fmt.Errorf("%w: recording ID: %w", ErrInvalid, err)
	}
	if r.MediaPath == "" || r.MetadataPath == "" || (r.AuditPath == "" && r.Audit == nil) {
		return fmt.Errorf("%w: recording %s: media, metadata and audit trail are all required", ErrInvalid, r.ID)
	}
	return nil
}

// Uploader writes recordings to the evidence store. It is safe for
// concurrent use, but one recording must not be uploaded twice at once.
type Uploader struct {
	cfg Config
	api objectAPI
}

// New checks cfg and makes an Uploader. It does not contact the store;
// Check does.
func New(cfg Config) (*Uploader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	api, err := newMinioAPI(cfg)
	if err != nil {
		return nil, err
	}
	return &Uploader{cfg: cfg, api: api}, nil
}

// Config returns the configuration in use, defaults filled in.
func (u *Uploader) Config() Config { return u.cfg }

// Check asks the store whether the bucket exists and, when retention is
// configured, whether it has Object Lock (without it every upload would
// fail).
func (u *Uploader) Check(ctx context.Context) error {
	ok, err := u.api.bucketExists(ctx)
	if err != nil {
		return fmt.Errorf("evidence: check bucket %s: %w", u.cfg.Bucket, err)
	}
	if !ok {
		return fmt.Errorf("%w: bucket %q does not exist", ErrBucket, u.cfg.Bucket)
	}
	if u.cfg.RetentionDays == 0 {
		return nil
	}
	ok, err = u.api.objectLockEnabled(ctx)
	if err != nil {
		return fmt.Errorf("evidence: check bucket %s: %w", u.cfg.Bucket, err)
	}
	if !ok {
		return fmt.Errorf("%w: bucket %q has no Object Lock, but %d days of retention are configured (Object Lock can only be turned on when a bucket is created)",
			ErrBucket, u.cfg.Bucket, u.cfg.RetentionDays)
	}
	return nil
}

func (u *Uploader) now() time.Time { return u.cfg.Now().UTC() }

// retainUntil is the retention date for an object written now.
func (u *Uploader) retainUntil() time.Time {
	if u.cfg.RetentionDays == 0 {
		return time.Time{}
	}
	return u.now().Add(time.Duration(u.cfg.RetentionDays) * 24 * time.Hour).Truncate(time.Second)
}

// source is one object to upload, read from a file or from memory.
type source struct {
	name string
	r    io.ReaderAt
	size int64
	d    digest
}

func (u *Uploader) open(rec Recording) (srcs []source, closeAll func(), err error) {
	var files []*os.File
	closeFiles := func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	defer func() {
		if err != nil {
			closeFiles()
		}
	}()
	add := func(name, path string, data []byte) error {
		s := source{name: name}
		if path != "" {
			f, err := os.Open(path)
			if err != nil {
				return fmt.Errorf("evidence: %s: %w", name, err)
			}
			files = append(files, f)
			fi, err := f.Stat()
			if err != nil {
				return fmt.Errorf("evidence: %s: %w", name, err)
			}
			s.r, s.size = f, fi.Size()
		} else {
			s.r, s.size = bytes.NewReader(data), int64(len(data))
		}
		if name != MediaName {
			d, err := digestOf(s.r, s.size, u.cfg.PartSize)
			if err != nil {
				return fmt.Errorf("evidence: %s: %w", name, err)
			}
			s.d = d
		}
		srcs = append(srcs, s)
		return nil
	}
	if err := add(MediaName, rec.MediaPath, nil); err != nil {
		return nil, nil, err
	}
	if err := add(MetadataName, rec.MetadataPath, nil); err != nil {
		return nil, nil, err
	}
	if err := add(AuditName, rec.AuditPath, rec.Audit); err != nil {
		return nil, nil, err
	}
	meta, err := readMetadata(rec.ID, srcs[1])
	if err != nil {
		return nil, nil, err
	}
	media := &srcs[0]
	if d, ok := claimedDigest(meta, media.size, u.cfg.PartSize); ok {
		// A multipart media file is hashed while it is sent (multipart
		// checks the whole against the metadata before completing), so
		// that the upload does not wait for a pass over the whole file.
		media.d = d
		return srcs, closeFiles, nil
	}
	if media.d, err = digestOf(media.r, media.size, u.cfg.PartSize); err != nil {
		return nil, nil, fmt.Errorf("evidence: %s: %w", MediaName, err)
	}
	if err := checkMetadata(rec.ID, meta, media.d); err != nil {
		return nil, nil, err
	}
	return srcs, closeFiles, nil
}

// readMetadata reads and decodes a recording's metadata.json.
func readMetadata(id string, meta source) (wire.Metadata, error) {
	if meta.size > maxSmall*16 {
		return wire.Metadata{}, fmt.Errorf("%w: %s: metadata.json is %d bytes", ErrMismatch, id, meta.size)
	}
	b := make([]byte, meta.size)
	if _, err := meta.r.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return wire.Metadata{}, fmt.Errorf("evidence: metadata: %w", err)
	}
	var m wire.Metadata
	if err := json.Unmarshal(b, &m); err != nil {
		return wire.Metadata{}, fmt.Errorf("%w: %s: metadata.json: %w", ErrMismatch, id, err)
	}
	if m.ID != id {
		return wire.Metadata{}, fmt.Errorf("%w: metadata.json describes recording %q, not %q", ErrMismatch, m.ID, id)
	}
	return m, nil
}

// checkMetadata refuses to upload a media file that is not the one the
// metadata describes: evidence whose parts disagree is worse than late.
func checkMetadata(id string, m wire.Metadata, media digest) error {
	switch {
	case m.MediaSHA256 != "" && !strings.EqualFold(m.MediaSHA256, media.hex()):
		return fmt.Errorf("%w: %s: media.mp4 has SHA-256 %s, metadata.json says %s", ErrMismatch, id, media.hex(), m.MediaSHA256)
	case m.MediaBytes != 0 && m.MediaBytes != media.size:
		return fmt.Errorf("%w: %s: media.mp4 has %d bytes, metadata.json says %d", ErrMismatch, id, media.size, m.MediaBytes)
	}
	return nil
}

// Upload writes rec to the store, or finishes an upload of it that was
// interrupted, and returns the completion marker. Calling it again after
// success returns the same marker. reason goes into the marker.
func (u *Uploader) Upload(ctx context.Context, rec Recording, reason string) (Marker, error) {
	if err := rec.validate(); err != nil {
		return Marker{}, err
	}
	srcs, closeAll, err := u.open(rec)
	if err != nil {
		return Marker{}, err
	}
	defer closeAll()

	lay := u.cfg.layout(rec.ID)
	claim, err := u.claim(ctx, lay, rec.ID)
	if err != nil {
		return Marker{}, err
	}
	m := Marker{
		Version:     formatVersion,
		RoomID:      u.cfg.RoomID,
		RecordingID: rec.ID,
		ServerID:    u.cfg.ServerID,
		Folder:      lay.primary(),
		Reason:      reason,
		StartedAt:   claim.StartedAt,
	}
	if claim.ServerID != u.cfg.ServerID {
		m.Folder, m.Supersedes, m.StartedAt = lay.folder(u.cfg.ServerID), claim.ServerID, u.now()
	}
	for _, s := range srcs {
		m.Objects = append(m.Objects, Object{Name: s.name, Key: m.Folder + s.name, Size: s.size, SHA256: s.d.hex()})
	}
	markerKey := m.Folder + MarkerName
	if old, err := u.marker(ctx, markerKey); err == nil {
		if !old.sameUpload(m) {
			return Marker{}, fmt.Errorf("%w: %s already marks a different upload of %s", ErrConflict, markerKey, rec.ID)
		}
		return old, nil
	} else if !errors.Is(err, errNoObject) {
		return Marker{}, err
	}
	for i, s := range srcs {
		o, err := u.putObject(ctx, m.Objects[i].Key, s)
		if err != nil {
			return Marker{}, err
		}
		m.Objects[i] = o
	}
	m.CompletedAt = u.now()
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Marker{}, fmt.Errorf("evidence: %w", err)
	}
	err = u.putSmall(ctx, markerKey, body)
	if errors.Is(err, errExists) {
		old, err := u.marker(ctx, markerKey)
		if err != nil {
			return Marker{}, err
		}
		if !old.sameUpload(m) {
			return Marker{}, fmt.Errorf("%w: %s already marks a different upload of %s", ErrConflict, markerKey, rec.ID)
		}
		return old, nil
	}
	if err != nil {
		return Marker{}, fmt.Errorf("evidence: marker %s: %w", markerKey, err)
	}
	return m, nil
}

// claim returns the recording's claim, making it ours if there is none.
func (u *Uploader) claim(ctx context.Context, lay layout, id string) (Claim, error) {
	c, err := u.readClaim(ctx, lay)
	if err == nil || !errors.Is(err, errNoObject) {
		return c, err
	}
	c = Claim{Version: formatVersion, RoomID: u.cfg.RoomID, RecordingID: id, ServerID: u.cfg.ServerID, StartedAt: u.now()}
	body, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return Claim{}, fmt.Errorf("evidence: %w", err)
	}
	err = u.putSmall(ctx, lay.claim(), body)
	if errors.Is(err, errExists) { // the other server was quicker
		return u.readClaim(ctx, lay)
	}
	if err != nil {
		return Claim{}, fmt.Errorf("evidence: claim %s: %w", lay.claim(), err)
	}
	return c, nil
}

func (u *Uploader) readClaim(ctx context.Context, lay layout) (Claim, error) {
	b, err := u.getSmall(ctx, lay.claim())
	if err != nil {
		return Claim{}, err
	}
	c, err := parseClaim(b)
	if err != nil {
		// Something else sits where the claim belongs.
		return Claim{}, fmt.Errorf("%w: %s: %w", ErrConflict, lay.claim(), err)
	}
	return c, nil
}

func (u *Uploader) marker(ctx context.Context, key string) (Marker, error) {
	b, err := u.getSmall(ctx, key)
	if err != nil {
		return Marker{}, err
	}
	m, err := parseMarker(b)
	if err != nil {
		return Marker{}, fmt.Errorf("%w: %s: %w", ErrConflict, key, err)
	}
	return m, nil
}

func (u *Uploader) getSmall(ctx context.Context, key string) ([]byte, error) {
	rc, err := u.api.open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxSmall+1))
	if err != nil {
		return nil, s3Error(err)
	}
	if len(b) > maxSmall {
		return nil, fmt.Errorf("evidence: %s is larger than %d bytes", key, maxSmall)
	}
	return b, nil
}

// putSmall writes a claim or marker, only if key does not exist.
func (u *Uploader) putSmall(ctx context.Context, key string, body []byte) error {
	sum := sha256.Sum256(body)
	return u.api.put(ctx, key, bytes.NewReader(body), int64(len(body)), putOptions{
		SHA256Hex:   hex.EncodeToString(sum[:]),
		Checksum:    partChecksum(sum),
		Meta:        map[string]string{metaSHA256: hex.EncodeToString(sum[:])},
		ContentType: "application/json",
		RetainUntil: u.retainUntil(),
	})
}

func (u *Uploader) objectOptions(s source) putOptions {
	ct := "application/json"
	if s.name == MediaName {
		ct = "video/mp4"
	}
	return putOptions{
		SHA256Hex:   s.d.hex(),
		Checksum:    partChecksum(s.d.sum),
		Meta:        map[string]string{metaSHA256: s.d.hex(), "server-id": u.cfg.ServerID},
		ContentType: ct,
		RetainUntil: u.retainUntil(),
	}
}

// putObject writes s under key unless it is there already, and verifies
// what the store then holds.
func (u *Uploader) putObject(ctx context.Context, key string, s source) (Object, error) {
	info, err := u.api.stat(ctx, key)
	if err == nil {
		return u.existing(key, s, info)
	}
	if !errors.Is(err, errNoObject) {
		return Object{}, fmt.Errorf("evidence: stat %s: %w", key, err)
	}
	if s.d.multipart() {
		err = u.multipart(ctx, key, s)
	} else {
		err = u.api.put(ctx, key, io.NewSectionReader(s.r, 0, s.size), s.size, u.objectOptions(s))
	}
	if errors.Is(err, errExists) { // written meanwhile (a retry that raced its first try)
		info, err := u.api.stat(ctx, key)
		if err != nil {
			return Object{}, fmt.Errorf("evidence: stat %s: %w", key, err)
		}
		return u.existing(key, s, info)
	}
	if err != nil {
		return Object{}, fmt.Errorf("evidence: put %s: %w", key, err)
	}
	info, err = u.api.stat(ctx, key)
	if err != nil {
		return Object{}, fmt.Errorf("evidence: verify %s: %w", key, err)
	}
	if err := u.verify(ctx, key, s, info); err != nil {
		return Object{}, err
	}
	return Object{Name: s.name, Key: key, Size: s.size, SHA256: s.d.hex(), Parts: len(s.d.parts), StoreChecksum: info.Checksum}, nil
}

// existing accepts an object already in the store when it is the same
// bytes (by size and SHA-256): an earlier attempt wrote it.
func (u *Uploader) existing(key string, s source, info objectInfo) (Object, error) {
	if info.Size != s.size || !strings.EqualFold(info.SHA256, s.d.hex()) {
		return Object{}, fmt.Errorf("%w: %s exists with %d bytes and SHA-256 %q; this server has %d bytes with SHA-256 %s",
			ErrConflict, key, info.Size, info.SHA256, s.size, s.d.hex())
	}
	parts := 1
	if i := strings.LastIndexByte(info.Checksum, '-'); i >= 0 {
		if n, err := strconv.Atoi(info.Checksum[i+1:]); err == nil {
			parts = n
		}
	}
	return Object{Name: s.name, Key: key, Size: s.size, SHA256: s.d.hex(), Parts: parts, StoreChecksum: info.Checksum}, nil
}

// verify compares what the store reports with what was sent. A store that
// reports no SHA-256 checksum has the object read back and hashed.
func (u *Uploader) verify(ctx context.Context, key string, s source, info objectInfo) error {
	if info.Size != s.size || !strings.EqualFold(info.SHA256, s.d.hex()) {
		return fmt.Errorf("%w: %s: store has %d bytes with sha256 metadata %q; sent %d bytes with %s", ErrVerify, key, info.Size, info.SHA256, s.size, s.d.hex())
	}
	if info.Checksum != "" {
		if want := s.d.storeChecksum(); info.Checksum != want {
			return fmt.Errorf("%w: %s: store checksum %s, want %s", ErrVerify, key, info.Checksum, want)
		}
		return nil
	}
	rc, err := u.api.open(ctx, key)
	if err != nil {
		return fmt.Errorf("evidence: verify %s: %w", key, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return fmt.Errorf("evidence: verify %s: %w", key, s3Error(err))
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != s.size || got != s.d.hex() {
		return fmt.Errorf("%w: %s: read back %d bytes with SHA-256 %s; sent %d bytes with %s", ErrVerify, key, n, got, s.size, s.d.hex())
	}
	return nil
}

// multipart sends s in parts, resuming an upload of key that an earlier
// attempt left unfinished: its parts are kept where their SHA-256 matches.
func (u *Uploader) multipart(ctx context.Context, key string, s source) error {
	ids, err := u.api.uploads(ctx, key)
	if err != nil {
		return fmt.Errorf("list uploads: %w", err)
	}
	var uploadID string
	have := map[int]part{}
	for _, id := range ids {
		if uploadID != "" {
			// Only this server writes in this folder, so every upload
			// under way for key is one of its own earlier attempts.
			_ = u.api.abort(ctx, key, id)
			continue
		}
		ps, err := u.api.parts(ctx, key, id)
		if errors.Is(err, errNoObject) {
			continue
		}
		if err != nil {
			return fmt.Errorf("list parts: %w", err)
		}
		uploadID = id
		for _, p := range ps {
			have[p.Number] = p
		}
	}
	if uploadID == "" {
		if uploadID, err = u.api.newMultipart(ctx, key, u.objectOptions(s)); err != nil {
			return fmt.Errorf("start multipart: %w", err)
		}
	}
	// The whole file's SHA-256 of a digest taken from the metadata is
	// computed beside the parts, and checked before the upload completes.
	var whole chan error
	if s.d.claimed {
		whole = make(chan error, 1)
		go func() { whole <- s.d.checkWhole(s.r) }()
	}
	// Parts go PartsInFlight at a time: while one is hashed by the store,
	// others are on the wire. Each is checked by the store against its own
	// SHA-256 (x-amz-checksum-sha256), whatever order they arrive in.
	done := make([]part, len(s.d.parts))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(u.cfg.PartsInFlight)
	for i := range s.d.parts {
		if gctx.Err() != nil {
			break // a part failed: send no more
		}
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err // a part failed while this one waited its turn
			}
			off, l := s.d.part(int64(i))
			if s.d.claimed {
				if err := s.d.hashPart(s.r, i); err != nil {
					return fmt.Errorf("part %d of %d: %w", i+1, len(s.d.parts), err)
				}
			}
			want := partChecksum(s.d.parts[i])
			if p, ok := have[i+1]; ok && p.Size == l && p.Checksum == want {
				done[i] = p
				return nil
			}
			p, err := u.api.putPart(gctx, key, uploadID, i+1, io.NewSectionReader(s.r, off, l), l, want)
			if err != nil {
				return fmt.Errorf("part %d of %d: %w", i+1, len(s.d.parts), err)
			}
			if p.Checksum != "" && p.Checksum != want {
				return fmt.Errorf("%w: %s part %d: store checksum %s, want %s", ErrVerify, key, i+1, p.Checksum, want)
			}
			p.Number, p.Size, p.Checksum = i+1, l, want
			done[i] = p
			return nil
		})
	}
	err = g.Wait()
	if whole != nil {
		if werr := <-whole; werr != nil && err == nil {
			// Not the file the metadata describes: never complete it.
			_ = u.api.abort(ctx, key, uploadID)
			err = werr
		}
	}
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err = u.api.complete(ctx, key, uploadID, done)
	if errors.Is(err, errExists) {
		_ = u.api.abort(ctx, key, uploadID)
	}
	return err
}

// Find reads what the store holds for recordingID: its claim and every
// complete upload. Objects without a marker are not reported: they are
// not an upload, whatever they hold.
func (u *Uploader) Find(ctx context.Context, recordingID string) (Found, error) {
	if err := segment.ValidateID(recordingID); err != nil {
		return Found{}, fmt.Errorf("%w: recording ID: %w", ErrInvalid, err)
	}
	lay := u.cfg.layout(recordingID)
	var f Found
	c, err := u.readClaim(ctx, lay)
	switch {
	case err == nil:
		f.Claim = &c
	case !errors.Is(err, errNoObject):
		return Found{}, fmt.Errorf("evidence: find %s: %w", recordingID, err)
	}
	folders, err := u.api.folders(ctx, lay.base)
	if err != nil {
		return Found{}, fmt.Errorf("evidence: find %s: %w", recordingID, err)
	}
	slices.Sort(folders)
	for _, folder := range append([]string{lay.primary()}, folders...) {
		m, err := u.marker(ctx, folder+MarkerName)
		if errors.Is(err, errNoObject) {
			continue
		}
		if err != nil {
			return Found{}, fmt.Errorf("evidence: find %s: %w", recordingID, err)
		}
		f.Markers = append(f.Markers, m)
	}
	return f, nil
}
