package protocol

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// What a plugin declares: the contracts it provides types of, each with its
// description (docs/protocol.md section 4.2, "contracts") and a handler per
// method. The description fixes each method's input and output kinds
// (section 10.2): the server decodes and answers by them, so a handler only
// sees and returns the payload.

// Handler runs one method of one type. `input` is the request body by the
// method's input kind: nil for "none", the raw octets for "bytes", one JSON
// document (checked to be JSON) for "json". The result is the answer by the
// output kind: ignored for "none" (the server answers {}), the raw octets for
// "bytes", one JSON document for "json". An error made with Fail is answered
// with its status and code (section 10.6); any other error is a 500 internal.
type Handler func(ctx context.Context, input []byte) ([]byte, error)

// Type is one type of a contract.
type Type struct {
	Name        string
	Description string          // one line for listings; may be empty
	JSONSchema  json.RawMessage // types.<contract>[].jsonSchema; may be nil
	// Methods: a handler for every method of the contract's description
	// but ping, which the server answers itself.
	Methods map[string]Handler
}

// Contract is one contract the plugin provides types of.
type Contract struct {
	Name string
	// Description is the contract's description exactly as a host prints it
	// (describe<C>().to_json() in C++); it is published in capabilities.
	Description json.RawMessage
	Types       []Type
}

// Plugin is everything the protocol code needs from a plugin.
type Plugin struct {
	Command     string // the executable's name, for messages
	Name        string // capabilities: name
	Version     string // capabilities: version
	Description string // capabilities: description
	Contracts   []Contract
}

// Fail makes an error answered with `status` and the error code `code`
// (docs/protocol.md section 10.6), e.g. Fail(400, "invalid_input", ...).
func Fail(status int, code, format string, args ...any) error {
	return fail(status, code, format, args...)
}

type method struct {
	input, output string  // "none", "json" or "bytes"
	run           Handler // nil for ping
}

type compiledType struct {
	methods map[string]method
	names   string // the method names, sorted, for a 404's message
}

// implementation is a Plugin checked and indexed: contract -> type -> methods.
type implementation map[string]map[string]*compiledType

// description is the part of a contract description the server reads.
type description struct {
	Methods map[string]struct {
		Input  *string `json:"input"`
		Output *string `json:"output"`
	} `json:"methods"`
}

// compile checks that the handlers match the descriptions: a mistake in the
// plugin's own declaration, reported before anything is served.
func (def Plugin) compile() (*implementation, error) {
	impl := implementation{}
	for _, c := range def.Contracts {
		var d description
		if err := json.Unmarshal(c.Description, &d); err != nil || d.Methods == nil {
			return nil, fmt.Errorf("the description of contract %s is not an object with methods: %v", c.Name, err)
		}
		types := map[string]*compiledType{}
		for _, t := range c.Types {
			ct := &compiledType{methods: map[string]method{}}
			var names []string
			for name, m := range d.Methods {
				kind := func(k *string) (string, error) {
					if k == nil {
						return "none", nil
					}
					if *k != "none" && *k != "json" && *k != "bytes" {
						return "", fmt.Errorf("%s.%s has the kind %q (none, json or bytes)", c.Name, name, *k)
					}
					return *k, nil
				}
				in, err := kind(m.Input)
				if err != nil {
					return nil, err
				}
				out, err := kind(m.Output)
				if err != nil {
					return nil, err
				}
				run, ok := t.Methods[name]
				if !ok && name != "ping" {
					return nil, fmt.Errorf("type %s/%s has no handler for the method %s of its description", c.Name, t.Name, name)
				}
				ct.methods[name] = method{in, out, run}
				names = append(names, name)
			}
			if _, ok := ct.methods["ping"]; !ok {
				ct.methods["ping"] = method{"none", "none", nil} // section 11: every type answers ping
				names = append(names, "ping")
			}
			for name := range t.Methods {
				if _, ok := d.Methods[name]; !ok {
					return nil, fmt.Errorf("type %s/%s has a handler for %s, which the description of %s does not list", c.Name, t.Name, name, c.Name)
				}
			}
			sort.Strings(names)
			ct.names = strings.Join(names, ", ")
			types[t.Name] = ct
		}
		impl[c.Name] = types
	}
	return &impl, nil
}

// capabilities is the document of section 4.2.
func (def Plugin) capabilities() []byte {
	types := map[string]any{}
	contracts := map[string]json.RawMessage{}
	for _, c := range def.Contracts {
		list := []map[string]any{}
		for _, t := range c.Types {
			entry := map[string]any{"type": t.Name}
			if t.Description != "" {
				entry["description"] = t.Description
			}
			if t.JSONSchema != nil {
				entry["jsonSchema"] = t.JSONSchema
			}
			list = append(list, entry)
		}
		types[c.Name] = list
		contracts[c.Name] = c.Description
	}
	doc := map[string]any{
		"protocolVersion": 1,
		"name":            def.Name,
		"version":         def.Version,
		"description":     def.Description,
		"types":           types,
		"contracts":       contracts,
		"transports":      []string{"unix", "tcp"}, // socket.go serves both
	}
	out, _ := json.Marshal(doc)
	return out
}

func (def Plugin) help() string {
	var provides []string
	for _, c := range def.Contracts {
		var names []string
		for _, t := range c.Types {
			names = append(names, t.Name)
		}
		provides = append(provides, fmt.Sprintf("%s types %s", c.Name, strings.Join(names, ", ")))
	}
	return fmt.Sprintf(`%[1]s: a plugvisor plugin (%[2]s).
It is started by the plugvisor manager, not by hand:
  %[1]s capabilities       print what this plugin provides, as JSON
  %[1]s --config -         read the launch configuration from the first line of stdin
  %[1]s --config '<json>'  take the launch configuration from the argument
See docs/protocol.md.
`, def.Command, strings.Join(provides, "; "))
}
