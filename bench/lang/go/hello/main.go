// bench hello (Go): the cold-start floor of a Go plugin; a Go binary built
// like plugin-go-text (CGO_ENABLED=0, -trimpath) that prints one line.
package main

import "os"

func main() { os.Stdout.WriteString("{\"hello\":1}\n") }
