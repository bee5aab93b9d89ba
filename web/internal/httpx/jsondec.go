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

// Malformed is an EINVALID error answered with 400, like DecodeJSON's:
// the body is not one the route reads (an empty one, say).
func Malformed(msg formbuilder.Msg) error { return badJSON(msg, nil) }

func badJSON(msg formbuilder.Msg, fields map[string]formbuilder.Msg) error {
	return &formbuilder.Error{Code: formbuilder.EINVALID, Msg: msg, Fields: fields, Err: ErrBadJSON}
}

// m is formbuilder.M, short for the many messages below.
var m = formbuilder.M

// ReadJSON checks that c's body is JSON of at most max bytes and decodes it
// strictly into v with DecodeJSON: the one reader of JSON requests
// (submissions, chat, API).
func ReadJSON(c *fiber.Ctx, max int, v any) error {
	if !ContentTypeIs(c.Request().Header.ContentType(), fiber.MIMEApplicationJSON) {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, formbuilder.M(formbuilder.MsgSendJSON).String())
	}
	body := c.Body()
	if len(body) > max {
		return formbuilder.NewError(formbuilder.ETOOLARGE, formbuilder.MsgBodyTooLarge, "max", strconv.Itoa(max))
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
		return badJSON(m(formbuilder.MsgJSONEmpty), nil)
	}
	// Every request body is an object; null would decode to nothing.
	if trimmed[0] != '{' {
		return badJSON(m(formbuilder.MsgJSONObject), nil)
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
			fields := make(map[string]formbuilder.Msg, len(fe.Fields))
			for k, msg := range fe.Fields {
				if base != "" && k != "" {
					k = base + "." + k
				} else if k == "" {
					k = base
				}
				fields[k] = msg
			}
			return badJSON(fe.Msg, fields)
		}
		return badJSON(fe.Msg, fe.Fields)
	case errors.As(err, &se):
		path := pointerPath(se.JSONPointer)
		switch {
		case errors.Is(se, jsontext.ErrDuplicateName):
			return named(path, m(formbuilder.MsgJSONRepeated, "member", strconv.Quote(SafeForMessage(path))),
				m(formbuilder.MsgRepeated))
		case errors.Is(se, io.ErrUnexpectedEOF):
			return badJSON(m(formbuilder.MsgJSONEOF), nil)
		case strings.Contains(se.Error(), "invalid UTF-8"):
			return badJSON(m(formbuilder.MsgJSONUTF8), nil)
		case strings.Contains(se.Error(), "after top-level value"):
			return badJSON(m(formbuilder.MsgJSONTrailing), nil)
		}
		return badJSON(m(formbuilder.MsgJSONSyntax, "at", strconv.FormatInt(se.ByteOffset, 10)), nil)
	case errors.As(err, &me):
		path := pointerPath(me.JSONPointer)
		if errors.Is(me, json.ErrUnknownName) {
			return named(path, m(formbuilder.MsgJSONUnknown, "member", strconv.Quote(SafeForMessage(path))),
				m(formbuilder.MsgUnknownMember))
		}
		if path == "" {
			return badJSON(m(formbuilder.MsgJSONObject), nil)
		}
		msg := kindName(me)
		return named(path, m(formbuilder.MsgInvalidMember, "member", SafeForMessage(path)).With("problem", msg), msg)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badJSON(m(formbuilder.MsgJSONEOF), nil)
	}
	return badJSON(m(formbuilder.MsgJSONUnreadable), nil)
}

func named(path string, msg, fieldMsg formbuilder.Msg) error {
	if path == "" {
		return badJSON(msg, nil)
	}
	return badJSON(msg, map[string]formbuilder.Msg{path: fieldMsg})
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
func kindName(me *json.SemanticError) formbuilder.Msg {
	t := me.GoType
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return m(formbuilder.MsgBeOther)
	}
	switch t.Kind() {
	case reflect.String:
		return m(formbuilder.MsgBeString)
	case reflect.Bool:
		return m(formbuilder.MsgBeBool)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return m(formbuilder.MsgBeWhole)
	case reflect.Float32, reflect.Float64:
		return m(formbuilder.MsgNotANumber)
	case reflect.Slice, reflect.Array:
		return m(formbuilder.MsgBeArray)
	}
	return m(formbuilder.MsgBeObject)
}
