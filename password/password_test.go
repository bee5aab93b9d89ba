package password

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHashAndCheck(t *testing.T) {
	h, err := Hash("correct horse battery")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$"))
	require.NoError(t, Check(h, "correct horse battery"))
	require.ErrorIs(t, Check(h, "correct horse batterY"), ErrMismatch)

	h2, err := Hash("correct horse battery")
	require.NoError(t, err)
	require.NotEqual(t, h, h2, "salts must differ")
}

func TestCheckRejectsGarbage(t *testing.T) {
	for _, enc := range []string{"", "$2a$10$abc", "$argon2id$v=19$m=1,t=1,p=1$!!$!!", "$argon2i$v=19$m=1,t=1,p=1$YQ$YQ"} {
		require.Error(t, Check(enc, "x"), enc)
	}
}

func TestGenerate(t *testing.T) {
	a, b := Generate(16), Generate(16)
	require.Len(t, a, 16)
	require.NotEqual(t, a, b)
}
