// bench-goplugin: the field's reference in plugvisor's benchmark. One binary
// in two roles, as go-plugin's own tests run their test binary as a plugin:
//
//	bench-goplugin plugin rpc|grpc the echo plugin (go-plugin's Serve), started by the host
//	bench-goplugin host [flags]    the host: launches the plugin through go-plugin,
//	                               measures, prints one JSON document on stdout
//
// Built from Debian's golang-github-hashicorp-go-plugin-dev (1.0.1) and
// golang-google-grpc-dev in GOPATH mode (GO111MODULE=off,
// GOPATH=/usr/share/gocode), offline: bench/CMakeLists.txt. The host's
// flags are described in host.go.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench-goplugin plugin rpc|grpc | host [--transport rpc|grpc] [flags] (see host.go)")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "plugin":
		if len(os.Args) != 3 || (os.Args[2] != "rpc" && os.Args[2] != "grpc") {
			fmt.Fprintln(os.Stderr, "bench-goplugin plugin: name the transport, rpc or grpc; the host starts the plugin")
			os.Exit(2)
		}
		servePlugin(os.Args[2])
	case "host":
		if err := runHost(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench-goplugin host:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "bench-goplugin: unknown role %q (want plugin or host)\n", os.Args[1])
		os.Exit(2)
	}
}
