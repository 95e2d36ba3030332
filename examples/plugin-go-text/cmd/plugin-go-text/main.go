// plugin-go-text: a plugvisor plugin written in Go from docs/protocol.md
// alone, on the standard library's net/http.Server (package protocol of
// this module). It provides three dataProcessor types: reverse, title-case
// and word-frequencies (types.go).
package main

import "plugvisor.example/goplugin/protocol"

func main() {
	protocol.Main(protocol.Plugin{
		Command:     "plugin-go-text",
		Name:        "go-text",
		Version:     "1.0.0",
		Description: "Text transformations in Go (net/http)",
		Contracts: []protocol.Contract{
			{Name: "dataProcessor", Description: []byte(dataProcessorDescription), Types: textTypes()},
		},
	})
}
