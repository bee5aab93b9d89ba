package formbuilder

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goldenRecord returns a fixed consent log entry; goldenRecordCanonical and
// goldenRecordHash are its canonical form and hash. Changing them breaks the
// verification of every stored consent log, so a change needs a new version
// tag in Canonical, not a new golden value.
func goldenRecord() ConsentRecord {
	return ConsentRecord{
		ID: 42, Time: time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC), Action: ActionGiven,
		ConsentID: 11, ConsentName: "Privacy", VersionID: 101, VersionNo: 3, TextHash: "ab12",
		FormID: 7, FormKey: "abcdefghijklmnop", ChannelID: 0, Source: "Contact",
		PageURL: "https://example.com/contact", UserID: 3, User: "Ada Admin", IP: "203.0.113.0",
		UserAgent: "Mozilla/5.0", Subject: "ada@example.com", InitialState: true, Interacted: false,
		SubmissionID: 9, WithdrawsID: 0, PrevHash: GenesisHash,
	}
}

const (
	goldenRecordCanonical = "consentforms/consent-record/v1\n" +
		"2:42\n30:2026-03-01T12:30:45.123456789Z\n5:given\n2:11\n7:Privacy\n3:101\n1:3\n4:ab12\n" +
		"1:7\n16:abcdefghijklmnop\n1:0\n7:Contact\n27:https://example.com/contact\n1:3\n9:Ada Admin\n" +
		"11:203.0.113.0\n11:Mozilla/5.0\n15:ada@example.com\n4:true\n5:false\n1:9\n1:0\n" +
		"64:0000000000000000000000000000000000000000000000000000000000000000\n"
	goldenRecordHash = "673c3aa4b03597b0f9cafa7ac89558985fda0caeacbb14ac8b6e1026e5e38657"
)

func TestRecordCanonicalGolden(t *testing.T) {
	r := goldenRecord()
	assert.Equal(t, goldenRecordCanonical, string(r.Canonical()))
	assert.Equal(t, goldenRecordHash, r.ComputeHash())
	assert.Equal(t, r.ComputeHash(), r.ComputeHash(), "stable across calls")

	// The same instant in another zone, or with a monotonic reading, is the
	// same entry: storage round trips must keep the hash.
	berlin := r
	berlin.Time = r.Time.In(time.FixedZone("CET", 3600))
	assert.Equal(t, goldenRecordHash, berlin.ComputeHash())
	withMono, stripped := r, r
	withMono.Time = time.Now() // carries a monotonic clock reading
	stripped.Time = withMono.Time.Round(0)
	assert.Equal(t, stripped.ComputeHash(), withMono.ComputeHash())
	// Hash itself is not covered (it is the output).
	withHash := r
	withHash.Hash = "anything"
	assert.Equal(t, goldenRecordHash, withHash.ComputeHash())
}

// goldenV2 is goldenRecord with a confirmation deadline: an entry of a
// consent that needs double opt-in, hashed as version 2.
func goldenV2() ConsentRecord {
	r := goldenRecord()
	r.ConfirmBy = time.Date(2026, 3, 8, 12, 30, 45, 0, time.UTC)
	return r
}

// The version 2 encoding is version 1's fields, then the two double
// opt-in fields; entries without them stay version 1 (the golden above).
func TestRecordCanonicalV2Golden(t *testing.T) {
	r := goldenV2()
	want := "consentforms/consent-record/v2\n" + goldenRecordCanonical[len("consentforms/consent-record/v1\n"):] +
		"20:2026-03-08T12:30:45Z\n1:0\n"
	assert.Equal(t, want, string(r.Canonical()))
	// Computed apart from Go: sha256 of the string above (Python hashlib).
	assert.Equal(t, "7512dcb88ca3d06ce64c8a7fbef987e433c537e1c9a0c1194b097251b78f8192", r.ComputeHash())

	c := goldenRecord()
	c.Action, c.ConfirmsID = ActionConfirmed, 41
	assert.Contains(t, string(c.Canonical()), "consentforms/consent-record/v2\n")
	assert.True(t, strings.HasSuffix(string(c.Canonical()), "\n0:\n2:41\n"))
}

func TestRecordEveryFieldIsHashed(t *testing.T) {
	for name, golden := range map[string]func() ConsentRecord{"v1": goldenRecord, "v2": goldenV2} {
		t.Run(name, func(t *testing.T) { everyFieldIsHashed(t, golden) })
	}
}

func everyFieldIsHashed(t *testing.T, golden func() ConsentRecord) {
	base := golden()
	baseHash := base.ComputeHash()
	typ := reflect.TypeOf(base)
	for i := 0; i < typ.NumField(); i++ {
		name := typ.Field(i).Name
		if name == "Hash" {
			continue
		}
		if name == "Document" {
			// Derived from the version, whose hash (TextHash, covered)
			// covers the document's SHA-256: storage fills it on read.
			r := golden()
			r.Document = &Document{SHA256: baseHash}
			assert.Equal(t, baseHash, r.ComputeHash(), "Document follows from TextHash")
			continue
		}
		r := golden()
		f := reflect.ValueOf(&r).Elem().Field(i)
		switch v := f.Interface().(type) {
		case string:
			f.SetString(v + "x")
		case int64, int:
			f.SetInt(f.Int() + 1)
		case bool:
			f.SetBool(!v)
		case time.Time:
			f.Set(reflect.ValueOf(v.Add(time.Nanosecond)))
		default:
			t.Fatalf("field %s has type %T: teach this test (and Canonical) about it", name, v)
		}
		assert.NotEqual(t, baseHash, r.ComputeHash(), "changing %s does not change the hash", name)
	}
}

func TestRecordCanonicalIsUnambiguous(t *testing.T) {
	a, b := goldenRecord(), goldenRecord()
	a.Source, a.PageURL = "ab", "c"
	b.Source, b.PageURL = "a", "bc"
	assert.NotEqual(t, a.ComputeHash(), b.ComputeHash())

	c, d := goldenRecord(), goldenRecord()
	c.User, c.IP = "x\n2:y", ""
	d.User, d.IP = "x", "y"
	assert.NotEqual(t, c.ComputeHash(), d.ComputeHash())
}

func TestRecordSealChain(t *testing.T) {
	var chain []*ConsentRecord
	prev := GenesisHash
	for i := 1; i <= 3; i++ {
		r := goldenRecord()
		r.ID = int64(i)
		r.Seal(prev)
		assert.Equal(t, prev, r.PrevHash)
		assert.Len(t, r.Hash, 64)
		assert.Equal(t, r.ComputeHash(), r.Hash)
		prev = r.Hash
		chain = append(chain, &r)
	}
	verify := func() int64 {
		prev := GenesisHash
		for _, r := range chain {
			if r.PrevHash != prev || r.ComputeHash() != r.Hash {
				return r.ID
			}
			prev = r.Hash
		}
		return 0
	}
	require.Zero(t, verify())

	chain[1].Subject = "mallory@example.com"
	assert.Equal(t, int64(2), verify(), "an edited entry breaks its own hash")
	chain[1].Seal(chain[0].Hash)
	assert.Equal(t, int64(3), verify(), "re-sealing it breaks the link of the next one")

	r := goldenRecord()
	r.Seal(GenesisHash)
	h := r.Hash
	r.Seal("ff" + GenesisHash[2:])
	assert.NotEqual(t, h, r.Hash, "the hash covers PrevHash")
}

func TestPreTickedUntouched(t *testing.T) {
	tests := []struct {
		action              string
		initial, interacted bool
		want                bool
	}{
		{ActionGiven, true, false, true},
		{ActionGiven, true, true, false},
		{ActionGiven, false, true, false},
		{ActionGiven, false, false, false},
		{ActionWithdrawn, true, false, false},
	}
	for _, tt := range tests {
		r := ConsentRecord{Action: tt.action, InitialState: tt.initial, Interacted: tt.interacted}
		assert.Equal(t, tt.want, r.PreTickedUntouched(), "%+v", tt)
	}
}

func TestPageLimit(t *testing.T) {
	for in, want := range map[int]int{-1: DefaultPageSize, 0: DefaultPageSize, 1: 1, 50: 50,
		MaxPageSize: MaxPageSize, MaxPageSize + 1: MaxPageSize, 1 << 30: MaxPageSize} {
		assert.Equal(t, want, PageLimit(in), in)
	}
}

func TestVerifyResultOK(t *testing.T) {
	assert.True(t, VerifyResult{Checked: 10}.OK())
	assert.False(t, VerifyResult{Checked: 10, BrokenID: 4}.OK())
	assert.False(t, VerifyResult{Reason: "chain does not start at genesis"}.OK())
}

func TestTruncateIP(t *testing.T) {
	tests := []struct{ in, want string }{
		{"203.0.113.195", "203.0.113.0"},
		{"10.1.2.3", "10.1.2.0"},
		{"0.0.0.0", "0.0.0.0"},
		{"255.255.255.255", "255.255.255.0"},
		{"2001:db8:abcd:12:34:56:78:9a", "2001:db8:abcd::"},
		{"2001:DB8:ABCD:FFFF::1", "2001:db8:abcd::"},
		{"::1", "::"},
		{"::ffff:203.0.113.195", "203.0.113.0"},
		{"::ffff:cb00:71c3", "203.0.113.0"},
		{"fe80::1%eth0", "fe80::"},
		{"", ""},
		{"garbage", ""},
		{"203.0.113", ""},
		{"203.0.113.256", ""},
		{"203.0.113.195:8080", ""},
		{"[2001:db8::1]", ""},
		{"[2001:db8::1]:443", ""},
		{" 203.0.113.195", ""},
		{"203.0.113.195/24", ""},
		{"0203.0.113.195", ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, TruncateIP(tt.in), "%q", tt.in)
	}
}

func TestApplyIPMode(t *testing.T) {
	tests := []struct{ mode, in, want string }{
		{IPFull, "203.0.113.195", "203.0.113.195"},
		{IPFull, "2001:db8::1", "2001:db8::1"},
		{IPTruncated, "203.0.113.195", "203.0.113.0"},
		{IPTruncated, "2001:db8:abcd:12::1", "2001:db8:abcd::"},
		{IPTruncated, "::ffff:203.0.113.195", "203.0.113.0"},
		{IPTruncated, "garbage", ""},
		{IPFull, "", ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ApplyIPMode(tt.mode, tt.in), "%s %q", tt.mode, tt.in)
	}
}
