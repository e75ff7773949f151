package bootconfig

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

const docPath = "../../docs/bootconfig.md"

// fences returns the bodies of the doc's ```lang blocks.
func fences(t *testing.T, doc, lang string) []string {
	t.Helper()
	var out []string
	for _, part := range strings.Split(doc, "```"+lang+"\n")[1:] {
		body, _, ok := strings.Cut(part, "```")
		if !ok {
			t.Fatalf("unterminated ```%s block in %s", lang, docPath)
		}
		out = append(out, body)
	}
	return out
}

// TestDocExamples parses every JSON example of docs/bootconfig.md, with the
// shortened PEM text replaced by real certificates.
func TestDocExamples(t *testing.T) {
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	examples := fences(t, string(raw), "json")
	if len(examples) < 3 {
		t.Fatalf("%d JSON examples in %s, want the DHCP, member and client ones", len(examples), docPath)
	}
	b := testBundle(t)
	for i, ex := range examples {
		var m map[string]any
		if err := json.Unmarshal([]byte(ex), &m); err != nil {
			t.Fatalf("example %d is not JSON: %v", i+1, err)
		}
		if _, ok := m["tls"]; ok {
			m["tls"] = map[string]string{"ca": b.CA, "cert": b.Cert, "key": b.Key}
		}
		if _, err := Parse([]byte(jsonDoc(t, m)), "example"); err != nil {
			t.Errorf("example %d of %s does not parse:\n%v\n%s", i+1, docPath, err, ex)
		}
	}
}

// TestDocErrors checks that the sample error lines are what Parse says.
func TestDocErrors(t *testing.T) {
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{
		"unknown field": "{\n  \"hostnme\": \"n1\"\n}",
		"CIDR":          `{"network": {"interfaces": [{"name": "eth0", "dhcp": true}, {"name": "eth1", "addresses": ["10.0.0.1"]}]}}`,
		"syntax":        "{\n \"hostname\": \"n1\",\n \"network\": {\n  \"interfaces\": [\n   {\"name\": \"eth0\", \"dhcp\": true}\n  ],\n    },\n}",
	}
	samples := fences(t, string(raw), "text")
	if len(samples) == 0 {
		t.Fatal("no error samples")
	}
	lines := strings.Split(strings.TrimSpace(samples[0]), "\n")
	if len(lines) != len(docs) {
		t.Fatalf("%d sample lines, want %d", len(lines), len(docs))
	}
	for _, line := range lines {
		found := false
		for k, doc := range docs {
			if !strings.Contains(line, k) {
				continue
			}
			found = true
			_, err := Parse([]byte(doc), "ESP:flotilla/config.json")
			if err == nil || err.Error() != line {
				t.Errorf("the doc says\n%s\nParse says\n%v", line, err)
			}
		}
		if !found {
			t.Errorf("no document for the sample %q", line)
		}
	}
}

// TestDocFields checks that the reference names every field by its path.
func TestDocFields(t *testing.T) {
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(t reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			if typ.Kind() == reflect.Slice {
				prefix += "[i]"
			}
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct {
			return
		}
		for _, n := range jsonNames(typ) {
			p := field(prefix, n)
			if !strings.Contains(string(raw), "| `"+p+"` |") {
				t.Errorf("%s has no table row for `%s`", docPath, p)
			}
			f, _ := fieldByName(typ, n)
			walk(f.Type, p)
		}
	}
	walk(reflect.TypeFor[Config](), "")
}
