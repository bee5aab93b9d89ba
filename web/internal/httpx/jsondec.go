package httpx

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"
)

// ErrBadJSON is wrapped by the errors of DecodeJSON: the body is not the
// JSON the route takes. They are EINVALID domain errors (naming the member
// at fault in Fields), answered with 400 rather than validation's 422.
var ErrBadJSON = errors.New("request body is not the JSON expected")

func badJSON(msg string, fields map[string]string) error {
	return &formbuilder.Error{Code: formbuilder.EINVALID, Message: msg, Fields: fields, Err: ErrBadJSON}
}

// ReadJSON checks that c's body is JSON of at most max bytes and decodes it
// strictly into v with DecodeJSON: the one reader of JSON requests
// (submissions, chat, API).
func ReadJSON(c *fiber.Ctx, max int, v any) error {
	if !ContentTypeIs(c.Request().Header.ContentType(), fiber.MIMEApplicationJSON) {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, "send the body as application/json")
	}
	body := c.Body()
	if len(body) > max {
		return formbuilder.Errorf(formbuilder.ETOOLARGE, "the body is larger than %d bytes", max)
	}
	return DecodeJSON(body, v)
}

// DecodeJSON reads body, a JSON object, into v and refuses anything a careful reader could
// take two ways, because what a visitor sent is evidence: one JSON value
// and nothing after it, valid UTF-8, no repeated member names, no member v
// does not have, every value of the declared type (names match exactly,
// numbers are not strings). Errors wrap ErrBadJSON and name the member by
// its path ("fields.0.kind").
func DecodeJSON(body []byte, v any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return badJSON("the body is empty; send a JSON object", nil)
	}
	// Every request body is an object; null would decode to nothing.
	if trimmed[0] != '{' {
		return badJSON("the body must be a JSON object", nil)
	}
	err := json.Unmarshal(body, v, json.RejectUnknownMembers(true))
	if err == nil {
		return nil
	}
	return decodeError(err)
}

// decodeError turns an error of json.Unmarshal into a badJSON error; errors
// that custom unmarshalers return as domain errors keep their fields,
// prefixed with the member's path.
func decodeError(err error) error {
	var se *jsontext.SyntacticError
	var me *json.SemanticError
	var fe *formbuilder.Error
	switch {
	case errors.As(err, &fe):
		if se := (*json.SemanticError)(nil); errors.As(err, &se) && len(fe.Fields) > 0 {
			base := pointerPath(se.JSONPointer)
			fields := make(map[string]string, len(fe.Fields))
			for k, m := range fe.Fields {
				if base != "" && k != "" {
					k = base + "." + k
				} else if k == "" {
					k = base
				}
				fields[k] = m
			}
			return badJSON(fe.Message, fields)
		}
		return badJSON(fe.Message, fe.Fields)
	case errors.As(err, &se):
		path := pointerPath(se.JSONPointer)
		switch {
		case errors.Is(se, jsontext.ErrDuplicateName):
			return named(path, "the JSON body repeats the member "+strconv.Quote(SafeForMessage(path)), "is repeated")
		case errors.Is(se, io.ErrUnexpectedEOF):
			return badJSON("the JSON body ends too early", nil)
		case strings.Contains(se.Error(), "invalid UTF-8"):
			return badJSON("the JSON body is not valid UTF-8", nil)
		case strings.Contains(se.Error(), "after top-level value"):
			return badJSON("the body has data after the JSON value", nil)
		}
		return badJSON("the body is not valid JSON (at byte "+strconv.FormatInt(se.ByteOffset, 10)+")", nil)
	case errors.As(err, &me):
		path := pointerPath(me.JSONPointer)
		if errors.Is(me, json.ErrUnknownName) {
			return named(path, "unknown member "+strconv.Quote(SafeForMessage(path)), "is not a known member")
		}
		if path == "" {
			return badJSON("the body must be a JSON object", nil)
		}
		msg := "must be " + kindName(me)
		return named(path, "invalid "+SafeForMessage(path)+": "+msg, msg)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badJSON("the JSON body ends too early", nil)
	}
	return badJSON("the body could not be read as JSON", nil)
}

func named(path, msg, fieldMsg string) error {
	if path == "" {
		return badJSON(msg, nil)
	}
	return badJSON(msg, map[string]string{path: fieldMsg})
}

// pointerPath turns a JSON pointer ("/fields/0/kind") into the dotted path
// validation errors use ("fields.0.kind").
func pointerPath(p jsontext.Pointer) string {
	var parts []string
	for tok := range p.Tokens() {
		parts = append(parts, tok)
	}
	return strings.Join(parts, ".")
}

// kindName says what a value of the Go type of me should have been, in
// JSON's words.
func kindName(me *json.SemanticError) string {
	t := me.GoType
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "of another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}
