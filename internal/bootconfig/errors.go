package bootconfig

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Error is one problem with a config document: where it came from, the JSON
// path of the field (such as network.interfaces[1].addresses[0]; empty for
// the document as a whole) and what is wrong and what to do.
type Error struct {
	Source string // e.g. "ESP:flotilla/config.json"; empty from Validate
	Field  string // JSON path
	Msg    string
}

func (e *Error) Error() string {
	var parts []string
	if e.Source != "" {
		parts = append(parts, e.Source)
	}
	if e.Field != "" {
		parts = append(parts, e.Field)
	}
	parts = append(parts, e.Msg)
	return strings.Join(parts, ": ")
}

// problems collects every Error of one document, in document order.
type problems struct {
	source string
	list   []*Error
}

func (p *problems) add(field, format string, args ...any) {
	p.list = append(p.list, &Error{Source: p.source, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// err joins the problems with errors.Join (one line each), or returns nil
// when there are none. errors.As finds each *Error.
func (p *problems) err() error {
	errs := make([]error, len(p.list))
	for i, e := range p.list {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// field builds a JSON path: field("network", "interfaces") is
// "network.interfaces".
func field(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// index builds a JSON path to an array element: "units[2]".
func index(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// key builds a JSON path to a map entry: metadata["rack"].
func key(parent, k string) string {
	return parent + "[" + strconv.Quote(k) + "]"
}
