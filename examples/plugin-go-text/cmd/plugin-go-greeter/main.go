// plugin-go-greeter: a provider of the host-defined `greeter` contract
// (examples/custom-contract) with no SDK, on this module's protocol package
// and the standard library only. It serves one type, `terse`, implementing
// every method of the contract: greet, farewell, languages, banner and ping.
//
// Its description is the host's own (examples/custom-contract/greeter.json),
// embedded as is. Go embeds no file outside the module, so CMake builds this
// command from a working copy of the module under the build directory, with
// greeter.json copied next to this file (examples/plugin-go-text/CMakeLists.txt).
// By hand: cp ../../../custom-contract/greeter.json . && go build.
package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"net/http"
	"strings"

	"plugvisor.example/goplugin/protocol"
)

//go:embed greeter.json
var greeterDescription []byte

// person and greeting are the JSON of greeter.json's schemas.
type person struct {
	Name     *string  `json:"name"`
	Language *string  `json:"language"`
	Titles   []string `json:"titles"`
}

type greeting struct {
	Text     string `json:"text"`
	Language string `json:"language"`
	Words    int    `json:"words"`
}

// phrases: the terse style speaks English only.
var phrases = map[string][2]string{"en": {"Yo", "Later"}}

func languages() []string { return []string{"en"} }

func say(input []byte, hello bool) ([]byte, error) {
	var p person
	dec := json.NewDecoder(bytes.NewReader(input))
	if err := dec.Decode(&p); err != nil {
		return nil, protocol.Fail(http.StatusBadRequest, "invalid_input", "the input is not a person {name, language?, titles?}: %v", err)
	}
	if p.Name == nil || *p.Name == "" {
		return nil, protocol.Fail(http.StatusBadRequest, "invalid_input", "the person has no name (a non-empty string)")
	}
	language := "en"
	if p.Language != nil {
		language = *p.Language
	}
	phrase, ok := phrases[language]
	if !ok {
		return nil, protocol.Fail(http.StatusBadRequest, "invalid_input",
			"no phrases in language '%s' (ask languages() for the ones there are)", language)
	}
	word := phrase[1]
	if hello {
		word = phrase[0]
	}
	words := append(append([]string{word}, p.Titles...), *p.Name)
	text := strings.Join(words, " ")
	return json.Marshal(greeting{Text: text, Language: language, Words: len(strings.Fields(text))})
}

func main() {
	protocol.Main(protocol.Plugin{
		Command:     "plugin-go-greeter",
		Name:        "go-greeter",
		Version:     "1.0.0",
		Description: "A greeter with no SDK, in Go (net/http)",
		Contracts: []protocol.Contract{{
			Name:        "greeter",
			Description: greeterDescription,
			Types: []protocol.Type{{
				Name:        "terse",
				Description: "greets in as few words as it can, in English",
				Methods: map[string]protocol.Handler{
					"greet":    func(_ context.Context, in []byte) ([]byte, error) { return say(in, true) },
					"farewell": func(_ context.Context, in []byte) ([]byte, error) { return say(in, false) },
					"languages": func(context.Context, []byte) ([]byte, error) {
						return json.Marshal(languages())
					},
					"banner": func(_ context.Context, in []byte) ([]byte, error) {
						return append(append([]byte("[ "), in...), " ]\n"...), nil
					},
				},
			}},
		}},
	})
}
