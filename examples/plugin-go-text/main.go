// plugin-go-text: a plugvisor plugin written in Go from docs/protocol.md
// alone, on the standard library's net/http.Server. It provides three
// dataProcessor types: reverse, title-case and word-frequencies.
//
// Files: main.go (command line, exit codes), config.go (launch
// configuration, durations), socket.go (lock and socket files),
// server.go (HTTP: health, token, calls, errors), lifecycle.go (admission,
// idle timeout, shutdown), types.go (the types themselves).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

// Exit codes (docs/protocol.md section 16).
const (
	exitOK        = 0
	exitAbandoned = 1
	exitUsage     = 2
	exitBind      = 3
)

const help = `plugin-go-text: a plugvisor plugin (dataProcessor types reverse, title-case, word-frequencies).
It is started by the plugvisor manager, not by hand:
  plugin-go-text capabilities       print what this plugin provides, as JSON
  plugin-go-text --config -         read the launch configuration from the first line of stdin
  plugin-go-text --config '<json>'  take the launch configuration from the argument
See docs/protocol.md.
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	switch {
	case len(args) == 0 && os.Getenv("PLUGVISOR_PROTOCOL") == "":
		fmt.Fprint(os.Stderr, help)
		return exitUsage
	case len(args) == 1 && (args[0] == "--help" || args[0] == "-h"):
		fmt.Fprint(os.Stderr, help)
		return exitOK
	case len(args) == 1 && args[0] == "capabilities":
		return printCapabilities()
	case len(args) == 2 && args[0] == "--config":
		return launch(args[1])
	}
	fmt.Fprintf(os.Stderr, "plugin-go-text: unexpected arguments %q; expected `capabilities` or `--config -|<json>` (run with --help)\n", args)
	return exitUsage
}

func printCapabilities() int {
	doc := map[string]any{
		"protocolVersion": 1,
		"name":            "go-text",
		"version":         "1.0.0",
		"description":     "Text transformations in Go (net/http)",
		"types":           map[string]any{"dataProcessor": typeList()},
	}
	out, _ := json.Marshal(doc)
	fmt.Println(string(out))
	return exitOK
}

// launch reads the configuration (`source` is "-" for stdin), binds, writes
// the handshake and serves until a shutdown; it returns the exit code.
func launch(source string) int {
	stdin := bufio.NewReader(os.Stdin)
	text := source
	if source == "-" {
		line, err := stdin.ReadString('\n')
		if line == "" {
			logf("error", "no configuration line on stdin (%v): the manager writes one JSON line; by hand use --config '<json>'", err)
			return exitUsage
		}
		text = line
	}
	cfg, err := parseConfig([]byte(text))
	if err != nil {
		logf("error", "invalid launch configuration: %v", err)
		return exitUsage
	}
	listener, files, code := bindListener(cfg)
	if code != exitOK {
		return code
	}
	p := newPlugin(cfg, listener, files)
	go p.watchStdin(stdin)
	go p.watchSignals()
	go p.watchIdle()
	go p.serve()
	if err := writeHandshake(cfg, listener); err != nil {
		logf("error", "cannot write the handshake to stdout: %v", err)
		p.beginShutdown("stdout closed")
	}
	return p.waitExit()
}

// logf writes one structured log line to stderr (docs/protocol.md section 7).
func logf(level, format string, args ...any) {
	line, _ := json.Marshal(map[string]string{"level": level, "msg": fmt.Sprintf(format, args...)})
	os.Stderr.Write(append(line, '\n'))
}
