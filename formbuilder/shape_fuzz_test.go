package formbuilder

import (
	"net/mail"
	"regexp"
	"strings"
	"testing"
)

// The regexps and the e-mail check the hand-written loops replaced; the
// differential fuzzers below hold the loops to them byte for byte.
var (
	phoneRE    = regexp.MustCompile(`^(\+|\(\+?)?[0-9][0-9 ()./-]{3,28}[0-9]$`)
	dateRE     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	fieldKeyRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	formKeyRE  = regexp.MustCompile(`^[a-z2-7]{8,40}$`)
)

func regexpValidEmail(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>\"") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".")
}

// shapeSeeds are edge cases shared by the shape fuzzers: prefixes, length
// bounds, non-ASCII digits and letters, invalid UTF-8, trailing space and
// line breaks (which $ must not let through).
var shapeSeeds = []string{
	"", "+", "(", "(+", "+(", "((", "++1234", "(+49) 30/123-45", "+49 30 1234567", "(030) 1234567",
	"12345", "1234", "123456", "+12345", "(+1234", "(12345)", "12345 ", " 12345", "12345\n", "1234\n5",
	"1" + strings.Repeat(" ", 28) + "1", "1" + strings.Repeat("-", 29) + "1", strings.Repeat("9", 30), strings.Repeat("9", 31),
	"+" + strings.Repeat("9", 30), "(+" + strings.Repeat("9", 30), "(+" + strings.Repeat("9", 31),
	"١٢٣٤٥", "12٣45", "１２３４５", "12\xff45", "12\x0045",
	"2026-01-31", "2026-1-31", "2026-01-31 ", "2026-01-31\n", "٢٠٢٦-01-31", "20260-1-31", "2026/01/31", "2026-00-00",
	"a", "z", "A", "_a", "a_", "a1", "1a", "ab-c", "é", strings.Repeat("a", 39), strings.Repeat("a", 40), strings.Repeat("a", 41),
	"abcdefgh", "abcdefg", "abcdefg1", "abcdefg2", "abcdefg7", "abcdefg8", "ABCDEFGH", strings.Repeat("q", 40), strings.Repeat("q", 41),
	"a@b.c", "a@b", "@b.c", "a@.c", "a@b.", "a.@b.c", ".a@b.c", "a..b@c.d", "a@b..c", "a@@b.c", "a@b@c.d",
	"a b@c.d", "a@b.c ", " a@b.c", "a@b.c\n", `"a"@b.c`, `"a b"@c.d`, "a@[1.2.3.4]", "a@(x)b.c", "a@b.c (x)", "(x)a@b.c",
	"A <a@b.c>", "<a@b.c>", "ä@b.c", "a@bä.c", "a@b.cä", "a\xff@b.c", "a!#$%&'*+/=?^_`{|}~-@b.c", "a+tag@sub.example.com",
	"a@b.c,d@e.f", "a;b@c.d", "a\\b@c.d", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com",
	strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com",
}

// fuzzShape compares loop and re on inputs of at most maxLen bytes, well
// beyond the longest string either accepts: longer ones only fail the length
// checks, and minimizing them (each a new path through regexp's
// instrumented code) stalled the fuzz workers for seconds at a time.
func fuzzShape(f *testing.F, maxLen int, loop func(string) bool, re func(string) bool) {
	for _, s := range shapeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > maxLen {
			return
		}
		if got, want := loop(s), re(s); got != want {
			t.Fatalf("%q: loop says %v, reference says %v", s, got, want)
		}
	})
}

func FuzzValidPhone(f *testing.F)     { fuzzShape(f, 40, validPhone, phoneRE.MatchString) }
func FuzzValidDateShape(f *testing.F) { fuzzShape(f, 20, validDateShape, dateRE.MatchString) }
func FuzzValidFieldKey(f *testing.F)  { fuzzShape(f, 50, validFieldKey, fieldKeyRE.MatchString) }
func FuzzValidFormKey(f *testing.F)   { fuzzShape(f, 50, ValidFormKey, formKeyRE.MatchString) }

// FuzzValidEmail holds validEmail to the net/mail check it had before the
// plainEmail fast path, and plainEmail to never accept what net/mail does
// not (the length limit is validEmail's, checked before).
func FuzzValidEmail(f *testing.F) {
	fuzzShape(f, 300, func(s string) bool {
		if len(s) <= 254 && plainEmail(s) && !regexpValidEmail(s) {
			return true // reported as a difference
		}
		return validEmail(s)
	}, regexpValidEmail)
}

func TestShapeSeeds(t *testing.T) {
	for _, c := range []struct {
		name      string
		loop, ref func(string) bool
	}{
		{"phone", validPhone, phoneRE.MatchString},
		{"date", validDateShape, dateRE.MatchString},
		{"field key", validFieldKey, fieldKeyRE.MatchString},
		{"form key", ValidFormKey, formKeyRE.MatchString},
		{"email", validEmail, regexpValidEmail},
	} {
		for _, s := range shapeSeeds {
			if got, want := c.loop(s), c.ref(s); got != want {
				t.Errorf("%s %q: loop says %v, reference says %v", c.name, s, got, want)
			}
		}
	}
	// Some seeds must be accepted, or the comparison proves little.
	for _, s := range []string{"a@b.c", "a+tag@sub.example.com", "a!#$%&'*+/=?^_`{|}~-@b.c"} {
		if !plainEmail(s) {
			t.Errorf("plainEmail(%q) = false", s)
		}
	}
	for _, s := range []string{"(+49) 30/123-45", "+49 30 1234567", "(030) 1234567"} {
		if !validPhone(s) {
			t.Errorf("validPhone(%q) = false", s)
		}
	}
}

func BenchmarkShapes(b *testing.B) {
	b.Run("phone/loop", func(b *testing.B) {
		for b.Loop() {
			validPhone("(+49) 30/123-45")
		}
	})
	b.Run("phone/regexp", func(b *testing.B) {
		for b.Loop() {
			phoneRE.MatchString("(+49) 30/123-45")
		}
	})
	b.Run("email/loop", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			validEmail("erika.muster+news@example.com")
		}
	})
	b.Run("email/netmail", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			regexpValidEmail("erika.muster+news@example.com")
		}
	})
}
