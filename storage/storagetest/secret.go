package storagetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func testSecretIsStableAcrossOpens(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	a, err := db.Secret(context.Background())
	require.NoError(t, err)
	require.Len(t, a, 32)
	b, err := db.Secret(context.Background())
	require.NoError(t, err)
	require.Equal(t, a, b)
}

func init() {
	register("SecretIsStableAcrossOpens", testSecretIsStableAcrossOpens)
}
