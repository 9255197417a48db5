package api

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// verbatimMembers are the top-level members of a request body whose
// insides the walk over the body skips: payload is forwarded byte for
// byte (its insides are the client's business, so a name repeated in them
// is not ours to refuse), and a schedule's task is a task body of its own,
// walked when it is decoded (decodeMember), its payload skipped there.
var verbatimMembers = map[string]bool{"payload": true, "task": true}

// errUnbalanced is returned for JSON whose objects and arrays do not
// close; callers pass only JSON that encoding/json has accepted.
var errUnbalanced = errors.New("canonical: unbalanced JSON")

// newDecoder reads JSON that encoding/json has accepted, as it accepted it:
// repeated names are reported by repeatedNames, not refused, and a string
// with a lone surrogate escape ("\ud800", valid JSON that no UTF-8 text
// can hold) reads as U+FFFD, as encoding/json reads it.
func newDecoder(data []byte) *jsontext.Decoder {
	return jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
}

// canonicalJSON returns the canonical form of one JSON value: no white
// space, the members of every object sorted (by their names' canonical
// spelling; members with the same name keep their order, which decides
// their meaning), strings written from their value (so "\u003c" and "<"
// are the same), numbers exactly as written (1.0e2 is not 100: a receiver
// may tell them apart).
//
// The value is read into a tree held in three slices and written once, so
// the work grows with its size, however deep it nests.
func canonicalJSON(data []byte) ([]byte, error) {
	t := canonTree{dec: newDecoder(data), text: make([]byte, 0, len(data))}
	root, err := t.read()
	if err != nil {
		return nil, err
	}
	return t.appendNode(make([]byte, 0, len(data)), root), nil
}

// canonTree is a parsed JSON value: nodes, each container's children as a
// run of kids, and every scalar and member name in canonical form in text.
type canonTree struct {
	dec   *jsontext.Decoder
	nodes []canonNode
	kids  []int32
	text  []byte
}

type canonNode struct {
	kind       jsontext.Kind
	start, end int32 // a scalar's text
	name       [2]int32
	kidStart   int32
	kidEnd     int32
}

// read reads the next value and returns its node.
func (t *canonTree) read() (int32, error) {
	tok, err := t.dec.ReadToken()
	if err != nil {
		return 0, err
	}
	n := canonNode{kind: tok.Kind(), start: int32(len(t.text))}
	switch n.kind {
	case '"':
		t.text, err = jsontext.AppendQuote(t.text, tok.String())
	case '0', 't', 'f', 'n':
		t.text = append(t.text, tok.String()...)
	case '[', '{':
		var kids []int32
		if kids, err = t.readChildren(n.kind == '{'); err == nil {
			n.kidStart = int32(len(t.kids))
			t.kids = append(t.kids, kids...)
			n.kidEnd = int32(len(t.kids))
		}
	default:
		err = errUnbalanced
	}
	n.end = int32(len(t.text))
	t.nodes = append(t.nodes, n)
	return int32(len(t.nodes) - 1), err
}

// readChildren reads an array's elements or an object's members, up to and
// including the token that closes it.
func (t *canonTree) readChildren(object bool) ([]int32, error) {
	var kids []int32
	for t.dec.PeekKind() != ']' && t.dec.PeekKind() != '}' {
		var name [2]int32
		if object {
			tok, err := t.dec.ReadToken()
			if err != nil {
				return nil, err
			}
			name[0] = int32(len(t.text))
			if t.text, err = jsontext.AppendQuote(t.text, tok.String()); err != nil {
				return nil, err
			}
			name[1] = int32(len(t.text))
		}
		kid, err := t.read()
		if err != nil {
			return nil, err
		}
		t.nodes[kid].name = name
		kids = append(kids, kid)
	}
	_, err := t.dec.ReadToken()
	return kids, err
}

// appendNode appends node i in canonical form.
func (t *canonTree) appendNode(b []byte, i int32) []byte {
	n := &t.nodes[i]
	if n.kind != '[' && n.kind != '{' {
		return append(b, t.text[n.start:n.end]...)
	}
	kids := t.kids[n.kidStart:n.kidEnd]
	name := func(k int32) []byte { return t.text[t.nodes[k].name[0]:t.nodes[k].name[1]] }
	if n.kind == '{' {
		slices.SortStableFunc(kids, func(x, y int32) int { return bytes.Compare(name(x), name(y)) })
	}
	b = append(b, byte(n.kind))
	for j, k := range kids {
		if j > 0 {
			b = append(b, ',')
		}
		if n.kind == '{' {
			b = append(append(b, name(k)...), ':')
		}
		b = t.appendNode(b, k)
	}
	return append(b, byte(n.kind)+2) // ']' is '['+2, '}' is '{'+2
}

// repeatedNames returns the paths ("headers.X-A") of member names given
// twice in one object of a JSON value, outside verbatimMembers, whose
// values it skips unread.
func repeatedNames(data []byte) ([]string, error) {
	r := nameWalk{dec: newDecoder(data)}
	err := r.walk()
	return r.dupes, err
}

// memberNames returns the names of the members of the JSON object data
// (a name given twice, twice) and what repeatedNames returns, in one walk.
// It fails for anything but one valid JSON value, white space around it.
func memberNames(data []byte) (top, dupes []string, err error) {
	r := nameWalk{dec: newDecoder(data), top: []string{}}
	if err := r.walk(); err != nil {
		return nil, nil, err
	}
	if _, err := r.dec.ReadToken(); err != io.EOF {
		return nil, nil, errTrailing
	}
	return r.top, r.dupes, nil
}

// errTrailing is memberNames' error for data after the value.
var errTrailing = errors.New("canonical: data after the value")

type nameWalk struct {
	dec   *jsontext.Decoder
	path  []string // the member names down to the current value
	dupes []string
	top   []string // names of the outermost object's members, if collected
}

func (r *nameWalk) walk() error {
	tok, err := r.dec.ReadToken()
	if err != nil {
		return err
	}
	switch tok.Kind() {
	case '[':
		for r.dec.PeekKind() != ']' && err == nil {
			err = r.walk()
		}
	case '{':
		seen := map[string]bool{}
		for r.dec.PeekKind() != '}' && err == nil {
			if tok, err = r.dec.ReadToken(); err != nil {
				break
			}
			name := tok.String() // before the next read voids tok
			r.path = append(r.path, name)
			if len(r.path) == 1 && r.top != nil {
				r.top = append(r.top, name)
			}
			if seen[name] {
				r.dupes = append(r.dupes, strings.Join(r.path, "."))
			}
			seen[name] = true
			if len(r.path) == 1 && verbatimMembers[name] {
				err = r.dec.SkipValue()
			} else {
				err = r.walk()
			}
			r.path = r.path[:len(r.path)-1]
		}
	default:
		return nil
	}
	if err != nil {
		return err
	}
	_, err = r.dec.ReadToken() // the closing ] or }
	return err
}
