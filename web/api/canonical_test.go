package api

import (
	"slices"
	"testing"
)

func TestCanonicalJSON(t *testing.T) {
	t.Parallel()
	same := [][2]string{
		{`{"b":1,"a":2}`, ` { "a" : 2 ,
 "b" : 1 } `},
		{`{"p":{"y":[1,{"d":1,"c":2}],"x":"<"}}`, `{"p":{"x":"\u003c","y":[1,{"c":2,"d":1}]}}`},
		{`{"s":"é\n"}`, `{"s":"\u00e9\u000a"}`},
		{`{"a":1,"a":2,"b":0}`, `{"b":0,"a":1,"a":2}`}, // repeated names keep their order
	}
	for _, pair := range same {
		a, errA := canonicalJSON([]byte(pair[0]))
		b, errB := canonicalJSON([]byte(pair[1]))
		if errA != nil || errB != nil || string(a) != string(b) {
			t.Errorf("%s and %s: got %s and %s (%v, %v), want the same", pair[0], pair[1], a, b, errA, errB)
		}
	}
	different := [][2]string{
		{`{"n":1.0e2}`, `{"n":100}`},
		{`{"n":1}`, `{"n":1.0}`},
		{`{"a":1,"a":2}`, `{"a":2,"a":1}`},
		{`{"a":[1,2]}`, `{"a":[2,1]}`},
		{`{"a":"x"}`, `{"a":"x "}`},
		{`{"a":null}`, `{}`},
		{`{"a":true}`, `{"a":"true"}`},
	}
	for _, pair := range different {
		a, _ := canonicalJSON([]byte(pair[0]))
		b, _ := canonicalJSON([]byte(pair[1]))
		if string(a) == string(b) {
			t.Errorf("%s and %s: both %s, want them different", pair[0], pair[1], a)
		}
	}
}

// Names given twice are reported outside the payload, whose insides are
// forwarded as they are.
func TestRepeatedNames(t *testing.T) {
	t.Parallel()
	dupes, err := repeatedNames([]byte(`{"retries":1,"headers":{"X-A":"1","X-A":"2","Y":{"z":1,"z":2}},"payload":{"a":1,"a":2,"b":{"c":1,"c":1}},"retries":2}`))
	want := []string{"headers.X-A", "headers.Y.z", "retries"}
	slices.Sort(dupes)
	if err != nil || !slices.Equal(dupes, want) {
		t.Fatalf("got %v, %v; want %v", dupes, err, want)
	}
}
