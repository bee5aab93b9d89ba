package atomicfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriteTemp(t *testing.T) {
	dir := t.TempDir()
	path, err := WriteTemp(dir, "key.new-*", []byte("secret"))
	require.NoError(t, err)
	require.Equal(t, dir, filepath.Dir(path))
	require.Regexp(t, `^key\.new-\d+$`, filepath.Base(path))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "secret", string(data))
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "only its owner reads it")
	SyncDir(dir)

	// A directory that does not exist: an error, and nothing made.
	_, err = WriteTemp(filepath.Join(dir, "missing"), "x-*", []byte("x"))
	require.Error(t, err)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
}
