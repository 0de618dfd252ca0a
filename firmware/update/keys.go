package update

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sort"
)

// Algorithm is the only signature algorithm a bundle may use.
const Algorithm = "ecdsa-p256-sha256"

// GenerateKey makes a signing key: ECDSA on P-256.
func GenerateKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("update: generate key: %w", err)
	}
	return k, nil
}

// KeyID names a public key: the first 16 bytes of the SHA-256 of its
// PKIX (SubjectPublicKeyInfo) encoding, in hex.
func KeyID(pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("update: key id: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:16]), nil
}

// MarshalPrivateKey writes k as a PEM "PRIVATE KEY" (PKCS #8).
func MarshalPrivateKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("update: private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey writes pub as a PEM "PUBLIC KEY" (PKIX).
func MarshalPublicKey(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("update: public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivateKey reads a PEM "PRIVATE KEY" (PKCS #8) or "EC PRIVATE
// KEY" holding a P-256 key.
func ParsePrivateKey(data []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("update: private key: no PEM block")
	}
	var key any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("update: private key: PEM block %q, want \"PRIVATE KEY\"", b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("update: private key: %w", err)
	}
	k, ok := key.(*ecdsa.PrivateKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("update: private key: %T, want an ECDSA P-256 key", key)
	}
	return k, nil
}

// ParsePublicKeys reads every PEM "PUBLIC KEY" in data; each must be an
// ECDSA P-256 key. Anything else in the file is refused, so a
// misconfigured key never silently drops out of the trust.
func ParsePublicKeys(data []byte) ([]*ecdsa.PublicKey, error) {
	var out []*ecdsa.PublicKey
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("update: public key: PEM block %q, want \"PUBLIC KEY\"", b.Type)
		}
		key, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("update: public key: %w", err)
		}
		k, ok := key.(*ecdsa.PublicKey)
		if !ok || k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("update: public key: %T, want an ECDSA P-256 key", key)
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, errors.New("update: public key: no PEM \"PUBLIC KEY\" block")
	}
	return out, nil
}

// Trust is the set of public keys a box accepts bundles from (more than
// one while a key is being rotated).
type Trust struct {
	keys map[string]*ecdsa.PublicKey
}

// NewTrust trusts keys.
func NewTrust(keys ...*ecdsa.PublicKey) (*Trust, error) {
	t := &Trust{keys: map[string]*ecdsa.PublicKey{}}
	for _, k := range keys {
		id, err := KeyID(k)
		if err != nil {
			return nil, err
		}
		t.keys[id] = k
	}
	if len(t.keys) == 0 {
		return nil, errors.New("update: no trusted key")
	}
	return t, nil
}

// LoadTrust reads the PEM public keys in each file.
func LoadTrust(paths ...string) (*Trust, error) {
	var keys []*ecdsa.PublicKey
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("update: %w", err)
		}
		ks, err := ParsePublicKeys(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		keys = append(keys, ks...)
	}
	return NewTrust(keys...)
}

// IDs lists the trusted keys' IDs, sorted.
func (t *Trust) IDs() []string {
	out := make([]string, 0, len(t.keys))
	for id := range t.keys {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
