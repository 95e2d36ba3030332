package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"plugvisor.example/goplugin/protocol"
)

// The dataProcessor types (docs/protocol.md section 11.2). Each takes UTF-8
// text; processData answers bytes.

// dataProcessorDescription is the built-in contract's description, as a C++
// plugin publishes it (contracts/include/plugvisor/contracts.hpp;
// `build/plugins/plugin-text-tools capabilities`).
const dataProcessorDescription = `{
  "version": 1,
  "description": "Transforms bytes into bytes",
  "methods": {
    "ping": {"input": "none", "output": "none"},
    "processData": {"description": "processes the input and returns the result", "input": "bytes", "output": "bytes"},
    "supportedFormats": {"description": "the formats (free-form names such as text/plain) this processor accepts",
                         "input": "none", "output": "json", "outputSchema": {"type": "array", "items": {"type": "string"}}}
  }
}`

// textTypes lists the types in a stable order.
func textTypes() []protocol.Type {
	types := []struct {
		name, description string
		formats           []string
		process           protocol.Handler
	}{
		{"reverse", "reverses the text, character by character (UTF-8)", []string{"text/plain"}, reverse},
		{"title-case", "upper-cases the first letter of every word, lower-cases the rest", []string{"text/plain"}, titleCase},
		{"word-frequencies", "counts the words of the text: a JSON object, word to count", []string{"text/plain"}, wordFrequencies},
	}
	var list []protocol.Type
	for _, t := range types {
		formats, _ := json.Marshal(t.formats)
		list = append(list, protocol.Type{Name: t.name, Description: t.description, Methods: map[string]protocol.Handler{
			"processData":      t.process,
			"supportedFormats": func(context.Context, []byte) ([]byte, error) { return formats, nil },
		}})
	}
	return list
}

// checkText refuses input that is not UTF-8 text.
func checkText(input []byte) error {
	if !utf8.Valid(input) {
		return protocol.Fail(http.StatusBadRequest, "invalid_input", "the input is not UTF-8 text; send text/plain in UTF-8")
	}
	return nil
}

func text(input []byte) (string, error) {
	if err := checkText(input); err != nil {
		return "", err
	}
	return string(input), nil
}

func reverse(_ context.Context, input []byte) ([]byte, error) {
	if err := checkText(input); err != nil {
		return nil, err
	}
	// Character by character from the end, into one buffer of the input's
	// size (a []rune of the text would be four times as big, and written twice).
	out := make([]byte, len(input))
	w := 0
	for end := len(input); end > 0; {
		if c := input[end-1]; c < utf8.RuneSelf { // ASCII: one byte, the common case
			out[w] = c
			w, end = w+1, end-1
			continue
		}
		_, size := utf8.DecodeLastRune(input[:end])
		w += copy(out[w:], input[end-size:end])
		end -= size
	}
	return out, nil
}

func titleCase(_ context.Context, input []byte) ([]byte, error) {
	s, err := text(input)
	if err != nil {
		return nil, err
	}
	var out strings.Builder
	inWord := false
	for _, r := range s {
		letter := unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\''
		switch {
		case letter && !inWord:
			out.WriteRune(unicode.ToTitle(r))
		case letter:
			out.WriteRune(unicode.ToLower(r))
		default:
			out.WriteRune(r)
		}
		inWord = letter
	}
	return []byte(out.String()), nil
}

// wordFrequencies gives up (500, as section 10.4 says) once the caller's deadline has passed.
func wordFrequencies(ctx context.Context, input []byte) ([]byte, error) {
	s, err := text(input)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'')
	})
	for i, word := range words {
		if i%4096 == 0 && ctx.Err() != nil {
			return nil, protocol.Fail(http.StatusInternalServerError, "internal", "gave up: the deadline passed")
		}
		counts[word]++
	}
	return json.Marshal(counts) // keys sorted
}
