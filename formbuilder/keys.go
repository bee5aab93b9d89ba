package formbuilder

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"sync/atomic"
	"time"
)

// The installation's signing keys: Ed25519 keys kept in a file outside the
// database (cmd/consentforms --signing-key), so that whoever controls the
// database can change entries but cannot sign what they changed. Receipts
// and chain checkpoints are signed with the key valid at the time; every
// key signed with is kept, its private half dropped once it is retired,
// and published with its validity period (JWKS) so that old receipts stay
// verifiable.

// SigningKey is one Ed25519 key and the period it signs in.
type SigningKey struct {
	// ID is the RFC 7638 thumbprint of the public key (the JWK "kid").
	ID     string
	Public ed25519.PublicKey
	// Private is nil for a retired key: it verifies, it no longer signs.
	Private ed25519.PrivateKey
	// NotBefore and NotAfter bound the times it signs at; a zero NotAfter
	// is open-ended.
	NotBefore time.Time
	NotAfter  time.Time
}

// ValidAt reports whether the key may have signed at t.
func (k *SigningKey) ValidAt(t time.Time) bool {
	return !t.Before(k.NotBefore) && (k.NotAfter.IsZero() || t.Before(k.NotAfter))
}

// KeySet is every key of an installation, oldest first.
type KeySet struct {
	Keys []SigningKey
}

// RotateDelay is how far in the future a rotation lets the new key start
// and the old one end by default: servers re-read the key file every few
// seconds, and none may sign with the old key after its end.
const RotateDelay = time.Minute

// NewKeySet returns a set with one new key that signs from now on.
func NewKeySet(now time.Time) (*KeySet, error) {
	k, err := newSigningKey(now)
	if err != nil {
		return nil, err
	}
	return &KeySet{Keys: []SigningKey{k}}, nil
}

func newSigningKey(from time.Time) (SigningKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SigningKey{}, err
	}
	return SigningKey{ID: Thumbprint(pub), Public: pub, Private: priv, NotBefore: from.UTC().Truncate(time.Second)}, nil
}

// Thumbprint returns the RFC 7638 JWK thumbprint of an Ed25519 public key:
// base64url(SHA-256 of {"crv":"Ed25519","kty":"OKP","x":"…"}).
func Thumbprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + b64(pub) + `"}`))
	return b64(sum[:])
}

// Rotate adds a new key that starts at now+delay, ends every key still
// open at that moment, and drops the private half of keys that ended
// before now. It returns the new key.
func (ks *KeySet) Rotate(now time.Time, delay time.Duration) (SigningKey, error) {
	switchAt := now.UTC().Add(delay).Truncate(time.Second)
	k, err := newSigningKey(switchAt)
	if err != nil {
		return SigningKey{}, err
	}
	for i := range ks.Keys {
		old := &ks.Keys[i]
		if old.NotAfter.IsZero() || old.NotAfter.After(switchAt) {
			old.NotAfter = switchAt
		}
		if !old.NotAfter.After(now) {
			old.Private = nil
		}
	}
	ks.Keys = append(ks.Keys, k)
	return k, nil
}

// Signer returns the key that signs at t: of the keys valid at t with a
// private half, the one that started last. ENOTFOUND when there is none.
func (ks *KeySet) Signer(t time.Time) (SigningKey, error) {
	var best *SigningKey
	for i := range ks.Keys {
		k := &ks.Keys[i]
		if k.Private != nil && k.ValidAt(t) && (best == nil || k.NotBefore.After(best.NotBefore)) {
			best = k
		}
	}
	if best == nil {
		return SigningKey{}, NewError(ENOTFOUND, MsgNoSigningKey, "time", t.UTC().Format(time.RFC3339))
	}
	return *best, nil
}

// Key returns the key with the given id.
func (ks *KeySet) Key(id string) (SigningKey, bool) {
	for _, k := range ks.Keys {
		if k.ID == id {
			return k, true
		}
	}
	return SigningKey{}, false
}

// jwk is one key as the key file and the JWKS write it. The validity
// period is in members of its own (RFC 7517 allows them): valid_from and
// valid_until, RFC 3339 times.
type jwk struct {
	Kty        string `json:"kty"`
	Crv        string `json:"crv"`
	Kid        string `json:"kid"`
	Use        string `json:"use,omitempty"`
	Alg        string `json:"alg,omitempty"`
	X          string `json:"x"`
	D          string `json:"d,omitempty"`
	ValidFrom  string `json:"valid_from"`
	ValidUntil string `json:"valid_until,omitempty"`
}

type jwks struct {
	Keys []jwk `json:"keys"`
}

func (ks *KeySet) marshal(private bool) ([]byte, error) {
	out := jwks{Keys: []jwk{}}
	for _, k := range ks.Keys {
		j := jwk{Kty: "OKP", Crv: "Ed25519", Kid: k.ID, Use: "sig", Alg: "EdDSA", X: b64(k.Public),
			ValidFrom: k.NotBefore.UTC().Format(time.RFC3339)}
		if !k.NotAfter.IsZero() {
			j.ValidUntil = k.NotAfter.UTC().Format(time.RFC3339)
		}
		if private && k.Private != nil {
			j.D = b64(k.Private.Seed())
		}
		out.Keys = append(out.Keys, j)
	}
	return json.MarshalIndent(out, "", "  ")
}

// MarshalFile returns the key file: a JWK set with the private halves.
func (ks *KeySet) MarshalFile() ([]byte, error) { return ks.marshal(true) }

// MarshalJWKS returns the public JWK set (RFC 7517), every key with its
// validity period, for GET /.well-known/consentforms-keys.
func (ks *KeySet) MarshalJWKS() ([]byte, error) { return ks.marshal(false) }

// ParseKeySet reads a key file or a JWKS as MarshalFile and MarshalJWKS
// write them. Every key must be an Ed25519 key whose kid is its thumbprint
// and whose private half (if any) belongs to it. EINVALID says what is
// wrong.
func ParseKeySet(data []byte) (*KeySet, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var in jwks
	if err := dec.Decode(&in); err != nil {
		return nil, NewError(EINVALID, MsgNotKeySet, "detail", err.Error())
	}
	if len(in.Keys) == 0 {
		return nil, NewError(EINVALID, MsgKeySetEmpty)
	}
	ks := &KeySet{}
	seen := map[string]bool{}
	for i, j := range in.Keys {
		bad := func(msg MsgCode) error {
			return &Error{Code: EINVALID, Msg: M(MsgKeyProblem, "n", strconv.Itoa(i)).With("problem", M(msg))}
		}
		if j.Kty != "OKP" || j.Crv != "Ed25519" || (j.Alg != "" && j.Alg != "EdDSA") || (j.Use != "" && j.Use != "sig") {
			return nil, bad(MsgKeyNotEd25519)
		}
		x, err := unb64(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, bad(MsgKeyNoPublic)
		}
		k := SigningKey{Public: ed25519.PublicKey(x), ID: Thumbprint(x)}
		if j.Kid != k.ID {
			return nil, bad(MsgKeyKid)
		}
		if seen[k.ID] {
			return nil, bad(MsgKeyTwice)
		}
		seen[k.ID] = true
		if j.D != "" {
			d, err := unb64(j.D)
			if err != nil || len(d) != ed25519.SeedSize {
				return nil, bad(MsgKeyNoPrivate)
			}
			k.Private = ed25519.NewKeyFromSeed(d)
			if !bytes.Equal(k.Private.Public().(ed25519.PublicKey), k.Public) {
				return nil, bad(MsgKeyPrivateMismatch)
			}
		}
		if k.NotBefore, err = time.Parse(time.RFC3339, j.ValidFrom); err != nil {
			return nil, bad(MsgKeyValidFrom)
		}
		if j.ValidUntil != "" {
			if k.NotAfter, err = time.Parse(time.RFC3339, j.ValidUntil); err != nil || !k.NotAfter.After(k.NotBefore) {
				return nil, bad(MsgKeyValidUntil)
			}
		}
		k.NotBefore, k.NotAfter = k.NotBefore.UTC(), k.NotAfter.UTC()
		ks.Keys = append(ks.Keys, k)
	}
	sort.SliceStable(ks.Keys, func(a, b int) bool { return ks.Keys[a].NotBefore.Before(ks.Keys[b].NotBefore) })
	return ks, nil
}

// Public returns the set without private halves.
func (ks *KeySet) Public() *KeySet {
	out := &KeySet{Keys: make([]SigningKey, len(ks.Keys))}
	copy(out.Keys, ks.Keys)
	for i := range out.Keys {
		out.Keys[i].Private = nil
	}
	return out
}

// KeyRing holds the key set a server signs with; the server swaps in a new
// set when the key file changes (a rotation), and readers never lock.
type KeyRing struct {
	p atomic.Pointer[KeySet]
}

// NewKeyRing returns a ring holding ks.
func NewKeyRing(ks *KeySet) *KeyRing {
	r := &KeyRing{}
	r.p.Store(ks)
	return r
}

// Load returns the current set; callers must not change it.
func (r *KeyRing) Load() *KeySet { return r.p.Load() }

// Store replaces the set.
func (r *KeyRing) Store(ks *KeySet) { r.p.Store(ks) }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unb64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// JWS header types of the tokens this package signs (RFC 8725 §3.11:
// each kind of token is typed, so one is never accepted as another).
const (
	TypeReceipt    = "consent-receipt+jwt"
	TypeCheckpoint = "chain-checkpoint+jwt"
)

type jwsHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// SignJWS returns the compact JWS (RFC 7515) of claims, signed with k
// (EdDSA, RFC 8037) and typed typ.
func SignJWS(k SigningKey, typ string, claims any) (string, error) {
	if k.Private == nil {
		return "", Internal(errors.New("signing key " + k.ID + " has no private half"))
	}
	h, err := json.Marshal(jwsHeader{Alg: "EdDSA", Kid: k.ID, Typ: typ})
	if err != nil {
		return "", Internal(err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		return "", Internal(err)
	}
	in := b64(h) + "." + b64(p)
	return in + "." + b64(ed25519.Sign(k.Private, []byte(in))), nil
}

// MaxJWS bounds a token VerifyJWS reads: receipts are a few KiB.
const MaxJWS = 64 << 10

// ErrSignature is wrapped by VerifyJWS's errors about the signature itself
// (as opposed to a token that is not a JWS at all).
var ErrSignature = errors.New("signature invalid")

// VerifyJWS checks a compact JWS of type typ against ks and returns its
// payload and the key that signed it. The header must name alg EdDSA, the
// type and a key of ks; anything else, and a signature that does not
// verify, is an EINVALID error wrapping ErrSignature. The caller checks the
// claims' time against the key's validity (SigningKey.ValidAt).
func VerifyJWS(token string, ks *KeySet, typ string) ([]byte, SigningKey, error) {
	bad := func(msg Msg) ([]byte, SigningKey, error) {
		return nil, SigningKey{}, &Error{Code: EINVALID, Msg: M(MsgSigInvalid).With("problem", msg), Err: ErrSignature}
	}
	token = string(bytes.TrimSpace([]byte(token)))
	if len(token) > MaxJWS {
		return bad(M(MsgSigTooLong))
	}
	parts := bytes.Split([]byte(token), []byte("."))
	if len(parts) != 3 {
		return bad(M(MsgSigNotJWS))
	}
	hb, err1 := unb64(string(parts[0]))
	payload, err2 := unb64(string(parts[1]))
	sig, err3 := unb64(string(parts[2]))
	if err1 != nil || err2 != nil || err3 != nil {
		return bad(M(MsgSigBase64))
	}
	var h jwsHeader
	dec := json.NewDecoder(bytes.NewReader(hb))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return bad(M(MsgSigHeader))
	}
	if h.Alg != "EdDSA" {
		return bad(M(MsgSigAlg, "alg", strconv.Quote(h.Alg)))
	}
	if h.Typ != typ {
		return bad(M(MsgSigType, "got", strconv.Quote(h.Typ), "want", strconv.Quote(typ)))
	}
	k, ok := ks.Key(h.Kid)
	if !ok {
		return bad(M(MsgSigUnknownKey, "kid", h.Kid))
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(k.Public, []byte(token[:len(parts[0])+1+len(parts[1])]), sig) {
		return bad(M(MsgSigMismatch))
	}
	return payload, k, nil
}
