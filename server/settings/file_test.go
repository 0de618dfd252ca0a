package settings

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conf", "settings.json")
	if _, err := Load(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(missing) = %v", err)
	}
	if _, err := Open(path, Default()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open with invalid initial settings = %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("invalid initial settings were saved")
	}
	st, err := Open(path, base())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Load(path); err != nil || !reflect.DeepEqual(got, base()) {
		t.Fatalf("initial settings not saved: %+v, %v", got, err)
	}

	old, now, err := st.Apply([]byte(`{"fips":true,"evidence":{"retry_attempts":7}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(old, base()) || !now.FIPS || now.Evidence.RetryAttempts != 7 {
		t.Fatalf("Apply = %+v, %+v", old, now)
	}
	if c := Compare(old, now); len(c.Differences) != 2 {
		t.Fatalf("changes: %v", c.Differences)
	}
	before, _ := os.ReadFile(path)

	// A bad change keeps the old settings, in memory and on disk.
	if _, _, err := st.Apply([]byte(`{"fips":false,"mode":"sometimes"}`)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "mode") {
		t.Fatalf("bad Apply = %v", err)
	}
	if !reflect.DeepEqual(st.Get(), now) {
		t.Fatal("a refused change altered the current settings")
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("a refused change altered the file")
	}

	// Reopening finds what was acknowledged.
	st2, err := Open(path, base())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st2.Get(), now) {
		t.Fatalf("reopened: %+v", st2.Get())
	}

	repl := full()
	if _, err := st2.Replace(repl); err != nil {
		t.Fatal(err)
	}
	bad := full()
	bad.RoomID = ""
	if _, err := st2.Replace(bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Replace(invalid) = %v", err)
	}
	if got, _ := Load(path); !reflect.DeepEqual(got, repl) {
		t.Fatalf("after Replace: %+v", got)
	}
	// Get hands out copies.
	g := st2.Get()
	g.Maintenance[0].Days[0] = "mon"
	if !reflect.DeepEqual(st2.Get(), repl) {
		t.Fatal("Get shares memory with the store")
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("%d files in the settings folder, want 1 (no temporaries left)", len(ents))
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, text, want string }{
		{"not json", `{`, "invalid"},
		{"unknown envelope field", `{"version":1,"settings":{"room_id":"r"},"extra":1}`, "extra"},
		{"no version", `{"settings":{"room_id":"r"}}`, "version 0"},
		{"future version", `{"version":2,"settings":{"room_id":"r"}}`, "version 2"},
		{"unknown setting", `{"version":1,"settings":{"room_id":"r","colour":"red"}}`, "colour: unknown field"},
		{"invalid setting", `{"version":1,"settings":{"room_id":""}}`, "room_id"},
		{"trailing data", `{"version":1,"settings":{"room_id":"r"}} x`, "data after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want ErrInvalid mentioning %q", err, tc.want)
			}
			if _, err := Open(p, base()); err == nil {
				t.Fatal("Open accepted a bad file")
			}
		})
	}
}

func TestStoreConcurrent(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "settings.json"), base())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			_, _, err := st.Apply(fmt.Appendf(nil, `{"evidence":{"retry_attempts":%d}}`, i+1))
			errs <- err
			_ = st.Get()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := Load(st.path)
	if err != nil || !reflect.DeepEqual(got, st.Get()) {
		t.Fatalf("file %+v differs from memory %+v (%v)", got, st.Get(), err)
	}
}
