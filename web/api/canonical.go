package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
)

// verbatimMembers are the top-level members of a request body that are
// forwarded byte for byte: their insides are the client's business, so a
// name repeated in them is not ours to refuse.
var verbatimMembers = map[string]bool{"payload": true}

// canonicalJSON returns the canonical form of one JSON value: no white
// space, the members of every object sorted by name (members with the same
// name keep their order, which decides their meaning), strings re-encoded
// from their value (so "\u003c" and "<" are the same), numbers exactly as
// written (1.0e2 is not 100: a receiver may tell them apart). It also
// returns the paths ("headers.X-A") of member names that appear twice in
// one object outside verbatimMembers. data must be valid JSON.
func canonicalJSON(data []byte) (canon []byte, dupes []string, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	w := canonWriter{dec: dec}
	var out bytes.Buffer
	if err := w.value(&out, "", true); err != nil {
		return nil, nil, err
	}
	return out.Bytes(), w.dupes, nil
}

type canonWriter struct {
	dec   *json.Decoder
	dupes []string
}

// value writes the next value to out; path names it, and checkDupes says
// whether repeated names in it are reported.
func (w *canonWriter) value(out *bytes.Buffer, path string, checkDupes bool) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return w.array(out, path, checkDupes)
		}
		return w.object(out, path, checkDupes)
	case json.Number:
		out.WriteString(string(t))
	case string:
		writeString(out, t)
	case bool:
		out.WriteString(strconv.FormatBool(t))
	case nil:
		out.WriteString("null")
	}
	return nil
}

func (w *canonWriter) array(out *bytes.Buffer, path string, checkDupes bool) error {
	out.WriteByte('[')
	for i := 0; w.dec.More(); i++ {
		if i > 0 {
			out.WriteByte(',')
		}
		if err := w.value(out, path, checkDupes); err != nil {
			return err
		}
	}
	return w.closing(out, ']')
}

func (w *canonWriter) object(out *bytes.Buffer, path string, checkDupes bool) error {
	type member struct {
		name  string
		value []byte
	}
	var members []member
	seen := map[string]bool{}
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		sub := join(path, name)
		if checkDupes && seen[name] {
			w.dupes = append(w.dupes, sub)
		}
		seen[name] = true
		var value bytes.Buffer
		if err := w.value(&value, sub, checkDupes && !(path == "" && verbatimMembers[name])); err != nil {
			return err
		}
		members = append(members, member{name, value.Bytes()})
	}
	sort.SliceStable(members, func(i, j int) bool { return members[i].name < members[j].name })
	out.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			out.WriteByte(',')
		}
		writeString(out, m.name)
		out.WriteByte(':')
		out.Write(m.value)
	}
	return w.closing(out, '}')
}

// closing consumes the delimiter that ends an array or object.
func (w *canonWriter) closing(out *bytes.Buffer, delim byte) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || byte(d) != delim {
		return errors.New("canonical: unbalanced JSON")
	}
	out.WriteByte(delim)
	return nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// writeString writes s as a JSON string, the same way for the same value.
func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	b.Truncate(b.Len() - 1)
}
