package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testdb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUserAndTokenCommands: user list and deactivate, token create (with
// owner, scope and expiry), list and revoke, on both backends; every change
// lands in the audit trail as made on the command line.
func TestUserAndTokenCommands(t *testing.T) {
	testUserAndTokenCommands(t, testdb.Empty(t))
}

func testUserAndTokenCommands(t *testing.T, dbPath string) {
	ctx := context.Background()
	cli := func(args ...string) (int, string, string) {
		var out, errOut strings.Builder
		code := run(ctx, append(args, "--db", dbPath), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, _, _ := cli("migrate")
	require.Equal(t, 0, code)
	code, _, errOut := cli("token", "create", "early")
	require.Equal(t, 1, code, "no admin to own the token yet")
	assert.Contains(t, errOut, "no active admin")
	for _, email := range []string{"ada@example.com", "bob@example.com"} {
		code, _, _ = cli("admin", "add", email)
		require.Equal(t, 0, code)
	}

	code, out, _ := cli("token", "create", "ci", "--scope", "read", "--expires", "30d")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "for ada@example.com (admin), read, expires ")
	code, out, _ = cli("token", "create", "deploy", "--user", "bob@example.com")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "for bob@example.com (admin), write, never expires")
	code, _, errOut = cli("token", "create", "x", "--expires", "2001-01-01")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "must be in the future")
	code, _, errOut = cli("token", "create", "x", "--scope", "admin")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "scope")

	code, out, _ = cli("token", "list")
	require.Equal(t, 0, code)
	assert.Regexp(t, `(?m)^1\s+ci\s+ada@example.com\s+read\s+active\s+\S+ \S+\s+-\s+\d{4}-`, out)
	assert.Regexp(t, `(?m)^2\s+deploy\s+bob@example.com\s+write\s+active\s+\S+ \S+\s+-\s+-$`, out)

	code, out, _ = cli("token", "revoke", "1")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `token 1 ("ci" of ada@example.com) revoked`)
	code, out, _ = cli("token", "list")
	require.Equal(t, 0, code)
	assert.Regexp(t, `(?m)^1\s+ci\s+ada@example.com\s+read\s+revoked`, out)
	code, _, _ = cli("token", "revoke", "99")
	assert.Equal(t, 1, code)
	code, _, _ = cli("token", "revoke", "x")
	assert.Equal(t, 2, code)

	code, out, _ = cli("user", "deactivate", "bob@example.com")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "user bob@example.com deactivated")
	code, _, errOut = cli("user", "deactivate", "ada@example.com")
	assert.Equal(t, 1, code, "the last active admin stays")
	assert.Contains(t, errOut, "last active admin")
	code, out, _ = cli("user", "list")
	require.Equal(t, 0, code)
	assert.Regexp(t, `(?m)^1\s+ada@example.com\s+admin\s+active\s`, out)
	assert.Regexp(t, `(?m)^2\s+bob@example.com\s+admin\s+deactivated \d{4}-`, out)
	code, out, _ = cli("token", "list")
	require.Equal(t, 0, code)
	assert.Regexp(t, `(?m)^2\s+deploy\s+bob@example.com\s+write\s+revoked`, out, "deactivation revoked Bob's token")
	code, _, _ = cli("user", "promote", "x")
	assert.Equal(t, 2, code)

	db, err := openDB(dbPath)
	require.NoError(t, err)
	defer db.Close()
	events, err := db.ListAudit(ctx, formbuilder.AuditFilter{})
	require.NoError(t, err)
	var got []string
	for _, e := range events {
		assert.Equal(t, formbuilder.ViaCLI, e.Via)
		got = append(got, e.Target+" "+e.Action+" "+e.TargetName)
	}
	assert.Equal(t, []string{"user deactivate bob@example.com", "token revoke ci", "token create deploy",
		"token create ci", "user create bob@example.com", "user create ada@example.com"}, got)
	for _, e := range events {
		for _, v := range e.Details {
			assert.NotRegexp(t, regexp.MustCompile(`cf_[a-z2-7]{10}`), v, "no token in the trail")
		}
	}
}
