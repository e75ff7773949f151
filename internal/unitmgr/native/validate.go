package native

import "github.com/flotilla-os/flotilla/internal/unit"

// Validate checks unit file f under name exactly as Load would on a node:
// the name, every [Service] key, the [Container] section and the
// combination of keys (Type, ExecStart). It is pure: it defines, starts
// and touches nothing, so the cluster API calls it on submit and refuses
// then what the node would refuse later. Errors are *unit.Error naming the
// unit, section and field.
//
// Specifiers that depend on the node (%m, %H) expand to placeholders: their
// values cannot make a unit invalid. A template (web@.service) is checked
// with an empty %i, as its instances are parsed under their own names.
func Validate(name string, f *unit.File) error {
	if err := checkUnitName(name); err != nil {
		return err
	}
	if f == nil {
		return &unit.Error{Unit: name, Msg: "no unit file"}
	}
	_, err := parseSpec(name, f, submitExpander(name))
	return err
}

func submitExpander(name string) *expander {
	return &expander{Specifiers: unit.SubmitSpecifiers(name), submit: true}
}
