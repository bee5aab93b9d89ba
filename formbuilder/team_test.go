package formbuilder

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRolesAndVisibility(t *testing.T) {
	admin := &User{ID: 1, Email: "a@example.com", Role: RoleAdmin}
	op := &User{ID: 2, Email: "o@example.com", Role: RoleOperator}
	gone := &User{ID: 3, Email: "g@example.com", Role: RoleAdmin, DeactivatedAt: time.Unix(1, 0)}
	assert.True(t, admin.IsAdmin())
	assert.False(t, op.IsAdmin())
	assert.False(t, gone.IsAdmin(), "a deactivated admin is no admin")
	assert.False(t, gone.Active())

	mine := &Form{ResponsibleUserID: op.ID}
	other := &Form{ResponsibleUserID: admin.ID}
	tests := []struct {
		name string
		u    *User
		f    *Form
		ok   bool
	}{
		{"admin, any form", admin, mine, true},
		{"operator, own form", op, mine, true},
		{"operator, another's form", op, other, false},
		{"operator, form without anyone", op, &Form{}, false},
		{"deactivated responsible user", &User{ID: 2, Role: RoleOperator, DeactivatedAt: time.Unix(1, 0)}, mine, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.ok, tt.u.MaySeeForm(tt.f), tt.name)
	}

	ch := &Channel{OperatorIDs: []int64{admin.ID, op.ID}}
	otherCh := &Channel{OperatorIDs: []int64{admin.ID}}
	assert.True(t, op.MaySeeConversation(&Conversation{}, ch), "an operator of the channel")
	assert.False(t, op.MaySeeConversation(&Conversation{}, otherCh), "not an operator of that channel")
	assert.True(t, op.MaySeeConversation(&Conversation{AssignedUserID: op.ID}, otherCh), "assigned to them")
	assert.True(t, admin.MaySeeConversation(&Conversation{}, &Channel{}))

	for _, r := range []string{"", RoleAdmin, RoleOperator} {
		assert.NoError(t, (&User{Email: "x@example.com", Role: r}).Validate(), r)
	}
	assert.Contains(t, ErrorFields((&User{Email: "x@example.com", Role: "root"}).Validate()), "role")
}

func TestAPITokenState(t *testing.T) {
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	tok := &APIToken{}
	assert.True(t, tok.Usable(now))
	assert.Equal(t, "active", tok.Status(now))
	assert.True(t, tok.CanWrite(), "an empty scope is read-write")
	tok.Scope = ScopeRead
	assert.False(t, tok.CanWrite())
	tok.ExpiresAt = now.Add(time.Minute)
	assert.True(t, tok.Usable(now))
	assert.False(t, tok.Usable(now.Add(time.Minute)))
	assert.Equal(t, "expired", tok.Status(now.Add(time.Hour)))
	tok.RevokedAt = now.Add(-time.Hour)
	assert.False(t, tok.Usable(now))
	assert.Equal(t, "revoked", tok.Status(now))

	plain, hash := NewAPIToken()
	assert.True(t, ValidAPIToken(plain), plain)
	assert.Equal(t, HashToken(plain), hash)
	assert.True(t, ValidTokenHash(hash))
	other, _ := NewAPIToken()
	assert.NotEqual(t, plain, other)
	for _, bad := range []string{"", "cf_", "cf_ABCDEFGHIJKLMNOP", "xx_abcdefghijklmnop", "cf_abcdefghijklmn0p",
		"cf_" + strings.Repeat("a", 200)} {
		assert.False(t, ValidAPIToken(bad), bad)
	}
}

func TestParseTokenExpiry(t *testing.T) {
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		err  string
	}{
		{"", time.Time{}, ""},
		{"  ", time.Time{}, ""},
		{"90", now.Add(90 * 24 * time.Hour), ""},
		{"90d", now.Add(90 * 24 * time.Hour), ""},
		{"2026-12-31", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), ""},
		{"2026-06-01T12:00:00+02:00", time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC), ""},
		{"0", time.Time{}, "number of days"},
		{"d", time.Time{}, "number of days"},
		{"-5d", time.Time{}, "number of days"},
		{"9999", time.Time{}, "number of days"},
		{"2026-05-04", time.Date(2026, 5, 5, 0, 0, 0, 0, time.UTC), ""},
		{"2026-05-03", time.Time{}, "in the future"},
		{"2040-01-01", time.Time{}, "five years"},
		{"tomorrow", time.Time{}, "date"},
	}
	for _, tt := range tests {
		got, err := ParseTokenExpiry(tt.in, now)
		if tt.err != "" {
			require.Error(t, err, tt.in)
			assert.Contains(t, ErrorFields(err)["expires_at"], tt.err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestAuditEventValidate(t *testing.T) {
	ok := AuditEvent{UserID: 1, Actor: "a@example.com", Via: ViaAdmin, IP: "2001:db8::1", Target: AuditConsent,
		Action: "update", Details: map[string]string{"old_version": "1", "new_version": "2"}}
	require.NoError(t, ok.Validate())
	cli := AuditEvent{Actor: "cli", Via: ViaCLI, Target: AuditUser, Action: "deactivate"}
	require.NoError(t, cli.Validate(), "the CLI acts as no user")
	tests := []struct {
		field  string
		change func(e *AuditEvent)
	}{
		{"via", func(e *AuditEvent) { e.Via = "" }},
		{"user_id", func(e *AuditEvent) { e.UserID = 0 }},
		{"actor", func(e *AuditEvent) { e.Actor = " " }},
		{"target", func(e *AuditEvent) { e.Target = "rocket" }},
		{"action", func(e *AuditEvent) { e.Action = "" }},
		{"action", func(e *AuditEvent) { e.Action = "Update" }},
		{"target_name", func(e *AuditEvent) { e.TargetName = strings.Repeat("x", MaxAuditDetailBytes+1) }},
		{"target_name", func(e *AuditEvent) { e.TargetName = "\xff" }},
		{"ip", func(e *AuditEvent) { e.IP = "192.0.2.1:80" }},
		{"details", func(e *AuditEvent) { e.Details = map[string]string{"ok": strings.Repeat("x", MaxAuditDetailBytes+1)} }},
		{"details", func(e *AuditEvent) { e.Details = map[string]string{"with space": "v"} }},
	}
	for _, tt := range tests {
		e := ok
		tt.change(&e)
		assert.Contains(t, ErrorFields(e.Validate()), tt.field)
	}
	var many = map[string]string{}
	for i := range MaxAuditDetails + 1 {
		many[strings.Repeat("k", i+1)] = "v"
	}
	e := ok
	e.Details = many
	assert.Contains(t, ErrorFields(e.Validate()), "details")

	f := AuditFilter{Target: "rocket"}
	assert.Contains(t, ErrorFields(f.Validate()), "target")
	f = AuditFilter{Since: time.Unix(10, 0), Until: time.Unix(5, 0)}
	assert.Contains(t, ErrorFields(f.Validate()), "until")
}

func TestAuditEncoders(t *testing.T) {
	evs := []*AuditEvent{
		{ID: 1, Time: time.Date(2026, 5, 4, 10, 0, 0, 123, time.UTC), UserID: 7, Actor: "ada@example.com", Via: ViaAdmin,
			IP: "192.0.2.1", Target: AuditConsent, Action: "update", TargetID: 3, TargetName: "=HYPERLINK(\"x\")",
			Details: map[string]string{"old_version": "1", "new_version": "2"}},
		{ID: 2, Time: time.Date(2026, 5, 4, 11, 0, 0, 0, time.UTC), Actor: "cli", Via: ViaCLI, Target: AuditUser,
			Action: "deactivate", TargetName: "bob@example.com"},
	}
	var csvOut bytes.Buffer
	enc, err := NewAuditEncoder(FormatCSV, &csvOut)
	require.NoError(t, err)
	for _, e := range evs {
		require.NoError(t, enc.Encode(e))
	}
	require.NoError(t, enc.Flush())
	assert.Equal(t, "id,time,user_id,actor,via,token_id,ip,target,action,target_id,target_name,details\n"+
		`1,2026-05-04T10:00:00.000000123Z,7,ada@example.com,admin,,192.0.2.1,consent,update,3,"'=HYPERLINK(""x"")","{""new_version"":""2"",""old_version"":""1""}"`+"\n"+
		"2,2026-05-04T11:00:00Z,,cli,cli,,,user,deactivate,,bob@example.com,\n", csvOut.String())

	var nd bytes.Buffer
	enc, err = NewAuditEncoder(FormatNDJSON, &nd)
	require.NoError(t, err)
	for _, e := range evs {
		require.NoError(t, enc.Encode(e))
	}
	require.NoError(t, enc.Flush())
	lines := strings.Split(strings.TrimSpace(nd.String()), "\n")
	require.Len(t, lines, 2)
	var back AuditEvent
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &back))
	assert.Equal(t, *evs[0], back, "NDJSON round-trips")

	empty := &bytes.Buffer{}
	enc, err = NewAuditEncoder(FormatCSV, empty)
	require.NoError(t, err)
	require.NoError(t, enc.Flush())
	assert.Equal(t, strings.Join(AuditCSVColumns, ",")+"\n", empty.String(), "an empty export still has its header")
	_, err = NewAuditEncoder("xml", empty)
	assert.Contains(t, ErrorFields(err), "format")
}
