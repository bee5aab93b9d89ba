// Package password hashes and checks admin passwords with argon2id.
//
// It is its own package because both the web app (sign-in) and the command
// line (admin add/passwd) need it, and formbuilder stays free of x/crypto.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters. The defaults follow OWASP's
// password storage cheat sheet (m=19 MiB, t=2, p=1).
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	KeyLen  uint32
	SaltLen uint32
}

// Default is used for new hashes.
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}

// MinLength is the shortest password accepted for a new or changed password.
const MinLength = 10

// ErrMismatch is returned by Check when the password does not match.
var ErrMismatch = errors.New("password does not match")

// Hash returns an encoded argon2id hash of pw in the PHC string format
// ($argon2id$v=19$m=...,t=...,p=...$salt$key), so parameters can change later
// without invalidating stored hashes.
func Hash(pw string) (string, error) {
	return HashWith(pw, Default)
}

// HashWith hashes with explicit parameters (tests use cheap ones).
func HashWith(pw string, p Params) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Check compares pw with an encoded hash in constant time.
func Check(encoded, pw string) error {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return errors.New("unknown password hash format")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return errors.New("unsupported argon2 version")
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return errors.New("bad argon2 parameters")
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return errors.New("bad salt")
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return errors.New("bad key")
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// Generate returns a random password of n characters from an alphabet
// without look-alike characters, for the first admin and `admin passwd`.
func Generate(n int) string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	for i := range b {
		// 256 % 56 != 0 leaves a tiny bias; acceptable for 16+ characters.
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// dummy is a valid hash used to spend the same time on unknown users as on
// known ones, so sign-in answers do not reveal which e-mails exist.
var dummy, _ = Hash("consentforms-dummy-password")

// CheckDummy runs a full hash comparison that always fails.
func CheckDummy(pw string) { _ = Check(dummy, pw) }
