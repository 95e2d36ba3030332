// Package protocol is plugvisor's wire protocol, version 1, on the standard
// library's net/http.Server (docs/protocol.md): the command line, the
// launch configuration, the socket and lock files, the handshake, health,
// the token, calls, errors, the idle timeout and the shutdown. A plugin
// describes what it serves in a Plugin and hands it to Main; it writes no
// protocol code of its own (cmd/plugin-go-text, cmd/plugin-go-greeter).
//
// Files: main.go (command line, exit codes, capabilities), plugin.go (what
// a plugin declares), config.go (launch configuration, durations),
// socket.go (lock and socket files), server.go (HTTP: health, token, calls,
// errors), lifecycle.go (admission, idle timeout, shutdown).
package protocol

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

// Main runs the plugin with the process's arguments and exits with its code.
func Main(def Plugin) {
	os.Exit(Run(def, os.Args[1:]))
}

// Run runs the plugin with `args` and returns the exit code.
func Run(def Plugin, args []string) int {
	impl, err := def.compile()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", def.Command, err)
		return exitUsage
	}
	switch {
	case len(args) == 0 && os.Getenv("PLUGVISOR_PROTOCOL") == "":
		fmt.Fprint(os.Stderr, def.help())
		return exitUsage
	case len(args) == 1 && (args[0] == "--help" || args[0] == "-h"):
		fmt.Fprint(os.Stderr, def.help())
		return exitOK
	case len(args) == 1 && args[0] == "capabilities":
		fmt.Println(string(def.capabilities()))
		return exitOK
	case len(args) == 2 && args[0] == "--config":
		return launch(impl, args[1])
	}
	fmt.Fprintf(os.Stderr, "%s: unexpected arguments %q; expected `capabilities` or `--config -|<json>` (run with --help)\n", def.Command, args)
	return exitUsage
}

// launch reads the configuration (`source` is "-" for stdin), binds, writes
// the handshake and serves until a shutdown; it returns the exit code.
func launch(impl *implementation, source string) int {
	stdin := bufio.NewReader(os.Stdin)
	text := source
	if source == "-" {
		line, err := stdin.ReadString('\n')
		if line == "" {
			Logf("error", "no configuration line on stdin (%v): the manager writes one JSON line; by hand use --config '<json>'", err)
			return exitUsage
		}
		text = line
	}
	cfg, err := parseConfig([]byte(text))
	if err != nil {
		Logf("error", "invalid launch configuration: %v", err)
		return exitUsage
	}
	listener, files, code := bindListener(cfg)
	if code != exitOK {
		return code
	}
	p := newPlugin(cfg, listener, files, impl)
	go p.watchStdin(stdin)
	go p.watchSignals(trapSignals())
	go p.watchIdle()
	go p.serve()
	if err := writeHandshake(cfg, listener); err != nil {
		Logf("error", "cannot write the handshake to stdout: %v", err)
		p.beginShutdown("stdout closed")
	}
	return p.waitExit()
}

// Logf writes one structured log line to stderr (docs/protocol.md section 7).
func Logf(level, format string, args ...any) {
	line, _ := json.Marshal(map[string]string{"level": level, "msg": fmt.Sprintf(format, args...)})
	os.Stderr.Write(append(line, '\n'))
}
