// Package atomicfile writes files that readers see whole or not at all:
// the data goes to a new file beside its place, synced, which the caller
// then renames or links into place. The signing key file and the anchor
// directories use it.
package atomicfile

import (
	"os"
)

// WriteTemp writes data to a new file in dir, named by pattern as
// os.CreateTemp names it and only readable by its owner (mode 0600), syncs
// and closes it, and returns its path. On an error nothing is left behind.
func WriteTemp(dir, pattern string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	// CreateTemp makes 0600 files; said again so that no umask or
	// platform default can widen a private key's file.
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// SyncDir syncs directory dir, so that a rename or link into it survives
// a crash too. It is best effort: not every file system can sync a
// directory, and the file itself is already synced.
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
