package sqlite

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSecretIsStableAcrossOpens(t *testing.T) {
	db := newTestDB(t)
	a, err := db.Secret(context.Background())
	require.NoError(t, err)
	require.Len(t, a, 32)
	b, err := db.Secret(context.Background())
	require.NoError(t, err)
	require.Equal(t, a, b)
}
