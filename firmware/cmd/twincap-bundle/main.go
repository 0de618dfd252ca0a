// Command twincap-bundle makes and checks the box's signed update bundles
// (package update): keygen makes a signing key pair, create signs a
// bundle from files and writes the source's index.json beside it, verify
// checks a bundle the way a box does.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"twincap/firmware/update"
	"twincap/internal/durable"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "twincap-bundle:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  twincap-bundle keygen -out NAME                 writes NAME.key (0600) and NAME.pub
  twincap-bundle create -key K -version V -board B -out BUNDLE NAME=FILE...
                                                  signs a bundle; writes index.json beside it
  twincap-bundle verify -keys A.pub[,B.pub] -board B BUNDLE
                                                  checks a bundle as a box does
`

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "keygen":
		return keygen(args[1:], stdout)
	case "create":
		return create(args[1:], stdout)
	case "verify":
		return verify(args[1:], stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

func keygen(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	out := fs.String("out", "", "`name` of the key pair: NAME.key and NAME.pub")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return errors.New("keygen: want -out NAME and nothing else")
	}
	for _, p := range []string{*out + ".key", *out + ".pub"} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("keygen: %s exists; not overwriting a key", p)
		}
	}
	k, err := update.GenerateKey()
	if err != nil {
		return err
	}
	priv, err := update.MarshalPrivateKey(k)
	if err != nil {
		return err
	}
	pub, err := update.MarshalPublicKey(&k.PublicKey)
	if err != nil {
		return err
	}
	if dir := filepath.Dir(*out); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := durable.WriteFile(*out+".key", priv, 0o600); err != nil {
		return err
	}
	if err := durable.WriteFile(*out+".pub", pub, 0o644); err != nil {
		return err
	}
	id, _ := update.KeyID(&k.PublicKey)
	fmt.Fprintf(stdout, "key %s: %s.key (keep it secret), %s.pub (goes into the box's update.public_keys)\n", id, *out, *out)
	return nil
}

func create(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("create", flag.ContinueOnError)
	keyPath := fs.String("key", "", "signing key `file` (PEM)")
	version := fs.String("version", "", "product `version`, dotted numbers (1.4.0)")
	board := fs.String("board", "", "the `board` the bundle is for (the box's update.board)")
	out := fs.String("out", "", "bundle `file` to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *keyPath == "" || *version == "" || *board == "" || *out == "" || fs.NArg() == 0 {
		return errors.New("create: want -key, -version, -board, -out and at least one NAME=FILE")
	}
	data, err := os.ReadFile(*keyPath)
	if err != nil {
		return err
	}
	key, err := update.ParsePrivateKey(data)
	if err != nil {
		return err
	}
	var files []update.File
	for _, a := range fs.Args() {
		name, path, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("create: %q: want NAME=FILE", a)
		}
		files = append(files, update.File{Name: name, Path: path})
	}
	var m update.Manifest
	err = durable.WriteFrom(*out, 0o644, func(w io.Writer) error {
		var err error
		m, err = update.Build(w, key, update.Manifest{Version: *version, Compatible: *board}, files)
		return err
	})
	if err != nil {
		return err
	}
	size, sum, err := hashFile(*out)
	if err != nil {
		return err
	}
	ix := update.Index{Version: m.Version, Compatible: m.Compatible, Bundle: filepath.Base(*out), Size: size, SHA256: sum}
	raw, _ := json.MarshalIndent(ix, "", "  ")
	if err := durable.WriteFile(filepath.Join(filepath.Dir(*out), update.IndexName), append(raw, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s %s for %s, %d payloads, %d bytes\n", *out, m.Product, m.Version, m.Compatible, len(m.Payloads), size)
	return nil
}

func verify(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	keys := fs.String("keys", "", "comma-separated public key `files` (PEM)")
	board := fs.String("board", "", "the box's `board`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *keys == "" || *board == "" || fs.NArg() != 1 {
		return errors.New("verify: want -keys, -board and one bundle")
	}
	trust, err := update.LoadTrust(strings.Split(*keys, ",")...)
	if err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := update.Verifier{Trust: trust, Board: *board}.Verify(f)
	if err != nil {
		return fmt.Errorf("%s refused: %w", fs.Arg(0), err)
	}
	fmt.Fprintf(stdout, "%s: good: %s %s for %s, made %s\n", fs.Arg(0), m.Product, m.Version, m.Compatible, m.Created.Format("2006-01-02 15:04:05Z"))
	for _, p := range m.Payloads {
		fmt.Fprintf(stdout, "  %s %d bytes sha256 %s\n", p.Name, p.Size, p.SHA256)
	}
	return nil
}

func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return n, hex.EncodeToString(h.Sum(nil)), err
}
