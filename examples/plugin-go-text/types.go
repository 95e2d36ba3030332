package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The dataProcessor types (docs/protocol.md section 11.2). Each takes UTF-8
// text; processData answers bytes.

type textType struct {
	description string
	formats     []string
	process     func(ctx context.Context, input []byte) ([]byte, error)
}

func textTypes() map[string]textType {
	return map[string]textType{
		"reverse":          {"reverses the text, character by character (UTF-8)", []string{"text/plain"}, reverse},
		"title-case":       {"upper-cases the first letter of every word, lower-cases the rest", []string{"text/plain"}, titleCase},
		"word-frequencies": {"counts the words of the text: a JSON object, word to count", []string{"text/plain"}, wordFrequencies},
	}
}

// typeList is the capabilities entry of every type, in a stable order.
func typeList() []map[string]string {
	types := textTypes()
	var list []map[string]string
	for _, name := range []string{"reverse", "title-case", "word-frequencies"} {
		list = append(list, map[string]string{"type": name, "description": types[name].description})
	}
	return list
}

func text(input []byte) (string, error) {
	if !utf8.Valid(input) {
		return "", fail(http.StatusBadRequest, "invalid_input", "the input is not UTF-8 text; send text/plain in UTF-8")
	}
	return string(input), nil
}

func reverse(_ context.Context, input []byte) ([]byte, error) {
	s, err := text(input)
	if err != nil {
		return nil, err
	}
	runes := []rune(s)
	for i, j := 0, len(runes)-1; i < j; i, j = i+1, j-1 {
		runes[i], runes[j] = runes[j], runes[i]
	}
	return []byte(string(runes)), nil
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
			return nil, fail(http.StatusInternalServerError, "internal", "gave up: the deadline passed")
		}
		counts[word]++
	}
	return json.Marshal(counts) // keys sorted
}
