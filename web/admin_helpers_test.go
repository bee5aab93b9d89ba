package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
)

// formbuilderFilterAll lists every form, archived ones included.
var formbuilderFilterAll = formbuilder.FormFilter{IncludeArchived: true}

// httpReq builds a request to the test host.
func httpReq(t *testing.T, method, path, body string) *http.Request {
	t.Helper()
	return testenv.Request(method, path, strings.NewReader(body))
}
