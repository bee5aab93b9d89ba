package web

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/go-json-experiment/json/jsontext"
)

// The JSON body of POST /f/:key:
//
//	{"token": "…", "page_url": "…", "website": "",
//	 "values":   {"email": "a@example.com", "topics": ["a", "b"]},
//	 "consents": {"12": true, "13": {"checked": true, "initial": true,
//	                                 "interacted": false, "version_id": 7}}}
//
// It is read in one pass over jsontext tokens rather than decoded into
// maps of json.RawMessage and re-decoded per value, which cost ~180
// allocations and a fifth of a submission's CPU. jsontext refuses invalid
// UTF-8 and duplicate names by itself (evidence must be what was sent,
// unambiguously); the reader refuses every member it does not know, any
// nesting a submission cannot have (so depth stays bounded without a
// separate scan), and anything after the object.

const jsonShapeHint = `the JSON body could not be read: expected {"values":{...},"consents":{...}}`

// jsonReader is a decoder and the reader it reads from, pooled together: a
// decoder keeps buffers worth reusing, and a new reader per body was an
// allocation.
type jsonReader struct {
	r *bytes.Reader
	d *jsontext.Decoder
}

var jsonReaders = sync.Pool{New: func() any {
	r := bytes.NewReader(nil)
	return &jsonReader{r: r, d: jsontext.NewDecoder(r)}
}}

// errJSONShape marks a body that is not a submission object; the caller
// answers with jsonShapeHint.
var errJSONShape = errors.New("not a submission")

// parseSubmissionJSON reads a JSON submission body into sub.
func parseSubmissionJSON(raw []byte, sub *submission) error {
	// jsontext would refuse it too, but with a syntax error; say why.
	if !utf8.Valid(raw) {
		return badRequest("the JSON body is not valid UTF-8")
	}
	jr := jsonReaders.Get().(*jsonReader)
	jr.r.Reset(raw)
	d := jr.d
	d.Reset(jr.r)
	defer func() {
		jr.r.Reset(nil) // drop the body before pooling
		d.Reset(jr.r)
		jsonReaders.Put(jr)
	}()
	if err := readSubmissionJSON(d, sub); err != nil {
		return jsonError(err)
	}
	// One object and nothing after it.
	if _, err := d.ReadToken(); err != io.EOF {
		return badRequest("the JSON body has trailing data")
	}
	return nil
}

// jsonError turns an error of readSubmissionJSON into the answer.
func jsonError(err error) error {
	var se *jsontext.SyntacticError
	switch {
	case errors.Is(err, errJSONShape), errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		if se != nil && errors.Is(se, jsontext.ErrDuplicateName) {
			return badRequest("the JSON body repeats a key")
		}
		return badRequest(jsonShapeHint)
	}
	return err
}

func readSubmissionJSON(d *jsontext.Decoder, sub *submission) error {
	if err := readDelim(d, '{'); err != nil {
		return err
	}
	for d.PeekKind() != '}' {
		name, err := d.ReadToken()
		if err != nil {
			return err
		}
		switch name.String() {
		case "token":
			sub.token, err = readStringOrNull(d)
		case "website":
			sub.honeypot, err = readStringOrNull(d)
		case "page_url":
			sub.in.PageURL, err = readStringOrNull(d)
		case "values":
			err = readValuesJSON(d, sub)
		case "consents":
			err = readConsentsJSON(d, sub)
		default:
			return errJSONShape
		}
		if err != nil {
			return err
		}
	}
	_, err := d.ReadToken() // '}'
	return err
}

// readDelim reads the delimiter want (a '{' or '['), or fails.
func readDelim(d *jsontext.Decoder, want jsontext.Kind) error {
	t, err := d.ReadToken()
	if err != nil {
		return err
	}
	if t.Kind() != want {
		return errJSONShape
	}
	return nil
}

func readStringOrNull(d *jsontext.Decoder) (string, error) {
	t, err := d.ReadToken()
	if err != nil {
		return "", err
	}
	switch t.Kind() {
	case '"':
		return t.String(), nil
	case 'n':
		return "", nil
	}
	return "", errJSONShape
}

// readObjectJSON reads null or an object, calling member with each key
// and the decoder at its value; size says how many members were kept, at
// most maxPostKeys.
func readObjectJSON(d *jsontext.Decoder, size func() int, member func(k string) error) error {
	if d.PeekKind() == 'n' {
		_, err := d.ReadToken()
		return err
	}
	if err := readDelim(d, '{'); err != nil {
		return err
	}
	for d.PeekKind() != '}' {
		if size() >= maxPostKeys {
			return badRequest("too many fields")
		}
		kt, err := d.ReadToken()
		if err != nil {
			return err
		}
		if err := member(kt.String()); err != nil {
			return err
		}
	}
	_, err := d.ReadToken()
	return err
}

// readValuesJSON reads {"key": "value" | ["value", …] | null, …}.
func readValuesJSON(d *jsontext.Decoder, sub *submission) error {
	return readObjectJSON(d, func() int { return len(sub.in.Values) }, func(k string) error {
		wrong := func() error {
			return formbuilder.FieldErrors(map[string]string{k: "must be a string or a list of strings"})
		}
		switch d.PeekKind() {
		case '"', 'n':
			v, err := readStringOrNull(d)
			if err != nil {
				return err
			}
			sub.in.Values[k] = []string{v}
		case '[':
			if _, err := d.ReadToken(); err != nil {
				return err
			}
			var many []string
			for d.PeekKind() != ']' {
				if d.PeekKind() == 0 {
					_, err := d.ReadToken() // the cached syntax error
					return err
				}
				if len(many) >= maxValuesPerKey || (d.PeekKind() != '"' && d.PeekKind() != 'n') {
					return wrong()
				}
				v, err := readStringOrNull(d)
				if err != nil {
					return err
				}
				many = append(many, v)
			}
			if _, err := d.ReadToken(); err != nil {
				return err
			}
			sub.in.Values[k] = many
		case 0:
			_, err := d.ReadToken() // the cached syntax error
			return err
		default:
			return wrong()
		}
		return nil
	})
}

// readConsentsJSON reads {"id": true | false | null | {"checked": …}, …}.
func readConsentsJSON(d *jsontext.Decoder, sub *submission) error {
	return readObjectJSON(d, func() int { return len(sub.in.Consents) }, func(k string) error {
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil || id <= 0 {
			return formbuilder.FieldErrors(map[string]string{"consents." + k: "is not a consent id"})
		}
		wrong := func() error {
			return formbuilder.FieldErrors(map[string]string{"consents." + k: "must be true/false or {\"checked\":…}"})
		}
		switch d.PeekKind() {
		case 't', 'f', 'n':
			t, err := d.ReadToken()
			if err != nil {
				return err
			}
			sub.in.Consents[id] = formbuilder.ConsentInput{Checked: t.Kind() == 't'}
		case '{':
			ci, err := readConsentObject(d, wrong)
			if err != nil {
				return err
			}
			sub.in.Consents[id] = ci
		case 0:
			_, err := d.ReadToken()
			return err
		default:
			return wrong()
		}
		return nil
	})
}

// readConsentObject reads {"checked": bool, "initial": bool, "interacted":
// bool, "version_id": integer}; every member may be missing or null.
func readConsentObject(d *jsontext.Decoder, wrong func() error) (formbuilder.ConsentInput, error) {
	var ci formbuilder.ConsentInput
	if _, err := d.ReadToken(); err != nil { // '{'
		return ci, err
	}
	for d.PeekKind() != '}' {
		nt, err := d.ReadToken()
		if err != nil {
			return ci, err
		}
		var dst *bool
		switch nt.String() {
		case "checked":
			dst = &ci.Checked
		case "initial":
			dst = &ci.Initial
		case "interacted":
			dst = &ci.Interacted
		case "version_id":
		default:
			return ci, wrong()
		}
		t, err := d.ReadToken()
		if err != nil {
			return ci, err
		}
		switch {
		case t.Kind() == 'n':
		case dst != nil && (t.Kind() == 't' || t.Kind() == 'f'):
			*dst = t.Kind() == 't'
		case dst == nil && t.Kind() == '0':
			// Only integers: the raw number, not Token.Int, which
			// truncates fractions and saturates.
			n, err := strconv.ParseInt(t.String(), 10, 64)
			if err != nil {
				return ci, wrong()
			}
			ci.VersionID = n
		default:
			return ci, wrong()
		}
	}
	_, err := d.ReadToken()
	return ci, err
}
