package public

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"
)

// submission is what a post carries besides the field values.
type submission struct {
	in       formbuilder.SubmissionInput
	token    string
	honeypot string
	embed    bool
}

// parseSubmission reads a form post (urlencoded or multipart, as FormData
// sends) or a JSON body into a SubmissionInput.
func (s *Server) parseSubmission(c *fiber.Ctx) (*submission, error) {
	sub := &submission{in: formbuilder.SubmissionInput{
		Values:    map[string][]string{},
		Consents:  map[int64]formbuilder.ConsentInput{},
		IP:        s.ClientIP(c),
		UserAgent: c.Get(fiber.HeaderUserAgent),
	}}
	if len(c.Body()) == 0 {
		return nil, httpx.Malformed(formbuilder.M(formbuilder.MsgEmptyBody))
	}
	ct := c.Request().Header.ContentType()
	switch {
	case httpx.ContentTypeIs(ct, fiber.MIMEApplicationJSON):
		return sub, parseSubmissionJSON(c.Body(), sub)
	case httpx.ContentTypeIs(ct, fiber.MIMEApplicationForm), httpx.ContentTypeIs(ct, fiber.MIMEMultipartForm):
		vals, err := postValues(c, httpx.ContentTypeIs(ct, fiber.MIMEMultipartForm))
		if err != nil {
			return nil, err
		}
		return sub, parseFormSubmission(vals, sub)
	}
	return nil, fiber.NewError(fiber.StatusUnsupportedMediaType,
		"send application/x-www-form-urlencoded, multipart/form-data or application/json")
}

// maxValuesPerKey bounds repeated keys (checkbox groups) per field.
const maxValuesPerKey = formbuilder.MaxOptions

// maxPostKeys bounds the distinct keys of one post: far more than any form
// has, few enough that an error answer naming each stays small.
const maxPostKeys = 200

func postValues(c *fiber.Ctx, multipart bool) (map[string][]string, error) {
	var vals map[string][]string
	if multipart {
		mf, err := c.MultipartForm()
		if err != nil {
			return nil, httpx.BadRequest(formbuilder.MsgMultipartUnreadable)
		}
		if len(mf.File) > 0 {
			return nil, httpx.BadRequest(formbuilder.MsgNoUploads)
		}
		vals = make(map[string][]string, len(mf.Value))
		for k, v := range mf.Value {
			vals[k] = v
		}
	} else {
		args := c.Request().PostArgs()
		// Every key and value is a slice of one string, and every first
		// value of a key a slice of one array: three allocations per pair
		// were a third of a post's.
		pairs, size := 0, 0
		args.VisitAll(func(k, v []byte) {
			pairs++
			size += len(k) + len(v)
		})
		vals = make(map[string][]string, min(pairs, maxPostKeys))
		firsts := make([]string, pairs)
		var all strings.Builder
		all.Grow(size) // never grows again, so the strings below stay put
		var bad error
		args.VisitAll(func(kb, vb []byte) {
			if bad != nil {
				return
			}
			all.Write(kb)
			all.Write(vb)
			s := all.String()
			k, v := s[len(s)-len(kb)-len(vb):len(s)-len(vb)], s[len(s)-len(vb):]
			have, ok := vals[k]
			switch {
			case len(have) >= maxValuesPerKey:
				bad = httpx.BadRequest(formbuilder.MsgTooManyValuesField)
			case !ok && len(vals) >= maxPostKeys:
				bad = httpx.BadRequest(formbuilder.MsgTooManyFieldsSent)
			case ok:
				vals[k] = append(have, v)
			default:
				firsts[0] = v
				vals[k] = firsts[:1:1]
				firsts = firsts[1:]
			}
		})
		if bad != nil {
			return nil, bad
		}
	}
	if len(vals) > maxPostKeys {
		return nil, httpx.BadRequest(formbuilder.MsgTooManyFieldsSent)
	}
	for k, v := range vals {
		if len(v) > maxValuesPerKey {
			return nil, httpx.BadRequest(formbuilder.MsgTooManyValuesField)
		}
		if !utf8.ValidString(k) || len(k) > 100 {
			return nil, httpx.BadRequest(formbuilder.MsgInvalidFieldName)
		}
	}
	return vals, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// parseFormSubmission sorts posted keys into field values, consent boxes and
// the hidden fields the widget renders (see widget's form template).
func parseFormSubmission(vals map[string][]string, sub *submission) error {
	for k, v := range vals {
		switch {
		case k == "_token":
			sub.token = first(v)
		case k == "_page_url":
			sub.in.PageURL = first(v)
		case k == "_embed":
			sub.embed = first(v) == "1"
		case k == "website":
			sub.honeypot = first(v)
		case strings.HasPrefix(k, "consent_"):
			rest := k[len("consent_"):]
			idStr, suffix, _ := strings.Cut(rest, "_")
			id, err := strconv.ParseInt(idStr, 10, 64)
			if err != nil || id <= 0 {
				return formbuilder.FieldError(k, formbuilder.MsgNotAFormConsent)
			}
			ci := sub.in.Consents[id]
			val := first(v)
			switch suffix {
			case "":
				ci.Checked = val != "" && val != "0"
			case "initial":
				// The page's own copy of how it showed the box: the server
				// knows that itself (the render token) and reads no
				// client's word on it.
			case "interacted":
				// "0" is what a page without JavaScript sends too, so only
				// "1" says anything.
				if val == "1" {
					ci.Touched = formbuilder.TouchChanged
				}
			case "version":
				n, err := strconv.ParseInt(val, 10, 64)
				if err != nil || n < 0 {
					return formbuilder.FieldError(k, formbuilder.MsgVersionID)
				}
				ci.VersionID = n
			default:
				return formbuilder.FieldError(k, formbuilder.MsgNotAField)
			}
			sub.in.Consents[id] = ci
		case strings.HasPrefix(k, "_"):
			// Other underscore fields are the widget's; ignore unknown ones
			// so older cached pages keep working.
		default:
			sub.in.Values[k] = v
		}
	}
	return nil
}

// jsonSubmission is the JSON body of POST /f/:key:
//
//	{"token": "…", "page_url": "…", "website": "",
//	 "values":   {"email": "a@example.com", "topics": ["a", "b"]},
//	 "consents": {"12": true, "13": {"checked": true, "initial": true,
//	                                 "interacted": false, "version_id": 7}}}
//
// It is read by httpx.DecodeJSON, the one strict reader of JSON requests:
// invalid UTF-8, repeated or unknown members and trailing data are refused
// (evidence must be what was sent, unambiguously).
type jsonSubmission struct {
	Token    string                 `json:"token"`
	Website  string                 `json:"website"`
	PageURL  string                 `json:"page_url"`
	Values   map[string]jsonValues  `json:"values"`
	Consents map[string]jsonConsent `json:"consents"`
}

// jsonValues is a field's answer: a string, a list of strings, or null.
type jsonValues []string

// UnmarshalJSONFrom reads "v", null or ["v", …] (at most maxValuesPerKey).
func (v *jsonValues) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	switch d.PeekKind() {
	case '"', 'n':
		s, err := readStringOrNull(d)
		*v = jsonValues{s}
		return err
	case '[':
		if _, err := d.ReadToken(); err != nil {
			return err
		}
		var many []string
		for d.PeekKind() != ']' {
			if d.PeekKind() == 0 {
				_, err := d.ReadToken() // the pending syntax error
				return err
			}
			if len(many) >= maxValuesPerKey || (d.PeekKind() != '"' && d.PeekKind() != 'n') {
				return errValueShape
			}
			s, err := readStringOrNull(d)
			if err != nil {
				return err
			}
			many = append(many, s)
		}
		_, err := d.ReadToken()
		*v = many
		return err
	case 0:
		_, err := d.ReadToken()
		return err
	}
	return errValueShape
}

var errValueShape = formbuilder.FieldError("", formbuilder.MsgStringOrList)

func readStringOrNull(d *jsontext.Decoder) (string, error) {
	t, err := d.ReadToken()
	if err != nil {
		return "", err
	}
	if t.Kind() == 'n' {
		return "", nil
	}
	return t.String(), nil
}

// jsonConsent is a consent box: true, false, null or
// {"checked", "initial", "interacted", "version_id"}.
type jsonConsent formbuilder.ConsentInput

// jsonConsentObject is the object form of jsonConsent; every member may be
// missing or null. "initial" is accepted for the clients written when the
// server believed it, and ignored: the server knows how it showed the box.
// "interacted" is the client's claim; missing or null claims nothing.
type jsonConsentObject struct {
	Checked    bool  `json:"checked"`
	Initial    *bool `json:"initial"`
	Interacted *bool `json:"interacted"`
	VersionID  int64 `json:"version_id"`
}

// UnmarshalJSONFrom reads a box in either form.
func (c *jsonConsent) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	switch d.PeekKind() {
	case 't', 'f', 'n':
		t, err := d.ReadToken()
		*c = jsonConsent{Checked: t.Kind() == 't'}
		return err
	case '{':
		var o jsonConsentObject
		if err := json.UnmarshalDecode(d, &o, json.RejectUnknownMembers(true)); err != nil {
			return err
		}
		*c = jsonConsent{Checked: o.Checked, VersionID: o.VersionID}
		if o.Interacted != nil {
			c.Touched = formbuilder.TouchOf(*o.Interacted)
		}
		return nil
	case 0:
		_, err := d.ReadToken()
		return err
	}
	return errConsentShape
}

var errConsentShape = formbuilder.FieldError("", formbuilder.MsgConsentShape)

// parseSubmissionJSON reads a JSON submission body into sub.
func parseSubmissionJSON(raw []byte, sub *submission) error {
	var js jsonSubmission
	if err := httpx.DecodeJSON(raw, &js); err != nil {
		return err
	}
	if len(js.Values) > maxPostKeys || len(js.Consents) > maxPostKeys {
		return httpx.BadRequest(formbuilder.MsgTooManyFieldsSent)
	}
	sub.token, sub.honeypot, sub.in.PageURL = js.Token, js.Website, js.PageURL
	for k, v := range js.Values {
		sub.in.Values[k] = v
	}
	for k, v := range js.Consents {
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil || id <= 0 {
			return formbuilder.FieldError("consents."+k, formbuilder.MsgNotAConsentID)
		}
		if v.VersionID < 0 {
			return formbuilder.FieldError("consents."+k+".version_id", formbuilder.MsgVersionID)
		}
		sub.in.Consents[id] = formbuilder.ConsentInput(v)
	}
	return nil
}
