package main

import (
	"context"
	"io"
)

// cmdExport is replaced by the streamed CSV/NDJSON export (consent log issue).
func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return usageError("consents export is not available yet")
}
