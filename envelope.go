package cloudmc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// envelope holds the top-level fields of an answer other than "data".
type envelope struct {
	empty      bool // the body held no JSON value at all
	sawData    bool
	meta       metadataWire
	sawMeta    bool
	errors     json.RawMessage
	taskID     string
	taskStatus string
	result     json.RawMessage
	created    string
}

// skip consumes one JSON value without keeping it.
type skip struct{}

func (*skip) UnmarshalJSON([]byte) error { return nil }

// decodeEnvelope streams the top-level object of body, handing the "data"
// value to onData (which must consume exactly one value) and keeping the
// rest in env. Streaming keeps memory flat however long the list is. When
// data cannot be used but the answer carries "errors", the errors win: the
// server said what went wrong.
func decodeEnvelope(body io.Reader, env *envelope, onData func(*json.Decoder) error) error {
	var dataErr error
	err := scanEnvelope(body, env, func(dec *json.Decoder) error {
		if e := onData(dec); e != nil && dataErr == nil {
			dataErr = fmt.Errorf("data: %w", e)
		}
		return nil // read on: "errors" may follow
	})
	if dataErr != nil {
		if apiErr := env.failIfErrors(); apiErr != nil {
			return apiErr
		}
		return dataErr
	}
	return err
}

// scanEnvelope reads the top-level object for decodeEnvelope.
func scanEnvelope(body io.Reader, env *envelope, onData func(*json.Decoder) error) error {
	dec := json.NewDecoder(body)
	tok, err := dec.Token()
	if err == io.EOF {
		env.empty = true
		return nil
	}
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("expected a JSON object, got %s", describeToken(tok))
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		switch key {
		case "data":
			env.sawData = true
			if err := onData(dec); err != nil {
				return err
			}
		case "metadata":
			env.sawMeta = true
			// Decode has read the whole value before it fails on its
			// meaning, so the stream stays in step: odd metadata must not
			// cost the caller the data it came with.
			var syntax *json.SyntaxError
			if err := dec.Decode(&env.meta); errors.As(err, &syntax) || err == io.ErrUnexpectedEOF {
				return err
			} else if err != nil {
				env.meta = metadataWire{}
			}
		case "errors":
			if err := dec.Decode(&env.errors); err != nil {
				return err
			}
		case "taskId":
			var id json.RawMessage
			if err := dec.Decode(&id); err != nil {
				return err
			}
			if env.taskID = scalarText(id); env.taskID == "" && hasValue(id) && id[0] != '"' {
				return fmt.Errorf("taskId is not a string: %s", sample(id))
			}
		case "taskStatus":
			var st json.RawMessage
			if err := dec.Decode(&st); err != nil {
				return err
			}
			if env.taskStatus = scalarText(st); env.taskStatus == "" && hasValue(st) {
				return fmt.Errorf("taskStatus is not a string: %s", sample(st))
			}
		case "result":
			if err := dec.Decode(&env.result); err != nil {
				return err
			}
		case "created":
			var cr json.RawMessage
			if err := dec.Decode(&cr); err != nil {
				return err
			}
			env.created = scalarText(cr)
		default:
			if err := dec.Decode(&skip{}); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return err
	}
	return nil
}

func describeToken(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		return "'" + t.String() + "'"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

// failIfErrors turns an "errors" list in a 2xx answer into an *APIError;
// do fills in status, method and path.
func (env *envelope) failIfErrors() error {
	if !hasValue(env.errors) {
		return nil
	}
	details := parseErrors(env.errors)
	if len(details) == 0 {
		return nil
	}
	return &APIError{Errors: details}
}

// errNoData is returned when an answer that must carry data has none.
var errNoData = errors.New(`the answer has no "data"`)

// decodeObject reads a {"data": {...}} answer into out via onData.
func decodeObject(body io.Reader, onData func(*json.Decoder) error) error {
	var env envelope
	if err := decodeEnvelope(body, &env, onData); err != nil {
		return err
	}
	if err := env.failIfErrors(); err != nil {
		return err
	}
	if env.empty {
		return errors.New("empty body")
	}
	if !env.sawData {
		return errNoData
	}
	return nil
}

// objectInto returns an onData that requires a JSON object and decodes it
// into v (a struct without an UnmarshalJSON of its own).
//
// It decodes in one pass, through a pointer that starts nil: null leaves
// the pointer nil, and a list, string, number or boolean fails with a type
// error at the top level, so only an object gets through.
func objectInto[T any](v *T) func(*json.Decoder) error {
	return func(dec *json.Decoder) error {
		var p *T
		if err := dec.Decode(&p); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field == "" {
				return fmt.Errorf("expected an object, got %s", te.Value)
			}
			return err
		}
		if p == nil {
			return errors.New("expected an object, got null")
		}
		*v = *p
		return nil
	}
}

// listInto returns an onData that streams a JSON array (or null) element by
// element through conv.
func listInto[W any, T any](out *[]T, conv func(*W) (T, error)) func(*json.Decoder) error {
	return func(dec *json.Decoder) error {
		*out = (*out)[:0] // a repeated "data" key: the last one wins
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if tok == nil {
			return nil // "data": null is an empty list
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			if d == '{' {
				skipRest(dec, true)
			}
			return fmt.Errorf("expected a list, got %s", describeToken(tok))
		}
		// One W for the whole list: a fresh one per item would be one more
		// heap allocation per item (it escapes into Decode).
		var w, zero W
		for i := 0; dec.More(); i++ {
			w = zero
			if err := dec.Decode(&w); err != nil {
				skipRest(dec, false)
				return fmt.Errorf("item %d: %w", i, err)
			}
			v, err := conv(&w)
			if err != nil {
				skipRest(dec, false)
				return fmt.Errorf("item %d: %w", i, err)
			}
			*out = append(*out, v)
		}
		_, err = dec.Token() // the closing bracket
		return err
	}
}

// skipRest reads past the rest of the list (or, with members, the object)
// whose opening token was read, so the envelope can be read on after a bad
// value. A broken stream just stops it: the decoder keeps its error.
func skipRest(dec *json.Decoder, members bool) {
	for dec.More() {
		if members {
			if _, err := dec.Token(); err != nil {
				return
			}
		}
		if err := dec.Decode(&skip{}); err != nil {
			return
		}
	}
	_, _ = dec.Token()
}
